"""``crawler verify | recover | index`` and the reader's memory bound."""

from __future__ import annotations

import json
import shutil
import subprocess
import tracemalloc
from datetime import timedelta
from pathlib import Path

import pytest

from crawler.config import ArchiveSettings
from crawler.errors import InputError
from crawler.warc.index import index_closed_file, index_file
from crawler.warc.reader import iter_records
from crawler.warc.recover import complete_target_uris, recover_file
from crawler.warc.verify import verify_file
from tests.support import warcfactory as wf

GOOD = wf.WARC_FIXTURES / "good.warc.gz"


def _crawler(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["crawler", *args], capture_output=True, text=True)


def test_verify_cli_exit_codes_and_lines() -> None:
    good = _crawler("verify", str(GOOD), str(wf.WARC_FIXTURES / "good.warc"))
    assert good.returncode == 0 and good.stdout.count(": OK (") == 2
    bad = _crawler("verify", str(GOOD), str(wf.WARC_FIXTURES / "bad-digest-valid-gzip.warc.gz"))
    assert bad.returncode == 7
    assert ": OK (" in bad.stdout and ": BAD (1 problems" in bad.stdout
    assert "WARC-Block-Digest" in bad.stdout and "urn:uuid:" in bad.stdout and "offset" in bad.stdout
    missing = _crawler("verify", "/nonexistent/x.warc.gz")
    assert missing.returncode == 5 and "no such file" in missing.stderr


def test_recover_trims_a_torn_tail_and_lists_the_urls_to_fetch_again(tmp_path: Path) -> None:
    data = GOOD.read_bytes()
    torn = tmp_path / "test-20261121100000000-00000-testhost.warc.gz.open"
    offsets = wf.member_offsets(data)
    # the 404 page's request member is gone, its response cut two thirds in
    torn.write_bytes(data[: offsets[-2] + (offsets[-1] - offsets[-2]) * 2 // 3])
    done = _crawler("recover", str(torn))
    assert done.returncode == 0, done.stderr
    final = tmp_path / "test-20261121100000000-00000-testhost.warc.gz"
    assert final.exists() and not torn.exists()
    assert final.read_bytes() == data[: offsets[-2]], "trimmed exactly to the last complete member"
    assert "dropped" in done.stdout and "https://www.suara.com/tidak-ada" in done.stdout
    assert verify_file(final).ok
    assert complete_target_uris(final) == complete_target_uris(GOOD)[:-1]


def test_recover_of_a_file_without_any_complete_record_removes_it(tmp_path: Path) -> None:
    torn = tmp_path / "x.warc.gz.open"
    torn.write_bytes(GOOD.read_bytes()[:100])
    report = recover_file(torn)
    assert report.final is None and not torn.exists() and report.kept_records == 0


def test_recover_refuses_closed_files_and_never_replaces_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not an .open file"):
        recover_file(GOOD)
    torn = tmp_path / "a.warc.gz.open"
    shutil.copy(GOOD, torn)
    (tmp_path / "a.warc.gz").write_bytes(b"keep me")
    with pytest.raises(Exception, match="exists already"):
        recover_file(torn)
    assert (tmp_path / "a.warc.gz").read_bytes() == b"keep me"


def test_index_cli_and_index_file_beside(tmp_path: Path) -> None:
    target = tmp_path / GOOD.name
    shutil.copy(GOOD, target)
    written = index_file(target)
    assert written == tmp_path / (GOOD.name + ".cdxj")
    lines = written.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5 and lines == sorted(lines), "4 responses and 1 revisit"
    fields = json.loads(lines[0].split(" ", 2)[2])
    assert fields["filename"] == GOOD.name and int(fields["offset"]) > 0
    out = tmp_path / "all.cdxj"
    done = _crawler("index", str(target), str(wf.WARC_FIXTURES / "good.warc"), "-o", str(out))
    assert done.returncode == 0 and len(out.read_text().splitlines()) == 10
    assert index_closed_file(tmp_path / "missing.warc.gz") is None, "the crawl only logs a failure"


def test_reader_memory_does_not_grow_with_file_size(tmp_path: Path) -> None:
    pages = wf.fixture_pages()

    def write(count: int, name: str) -> Path:
        chosen = [pages[i % len(pages)] for i in range(count)]
        items = [wf.exchange(f"{page.url}?n={i}", page.body + str(i).encode(),
                             fetched=wf.DEFAULT_FETCHED + timedelta(seconds=i))
                 for i, page in enumerate(chosen)]
        files, _ = wf.write_warcs(tmp_path / name, items, settings=ArchiveSettings(prefix=name, gzip_level=1))
        return files[0]

    def peak(path: Path) -> int:
        tracemalloc.start()
        try:
            count = sum(1 for _ in iter_records(path))
            assert count > 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, big = write(20, "small"), write(200, "big")
    assert big.stat().st_size > 8 * small.stat().st_size
    assert peak(big) < 1.5 * peak(small) + 500_000
