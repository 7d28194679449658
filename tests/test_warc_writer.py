"""The WARC writer: records, links, digests, revisits, names, rotation, write errors, kills.

Row ids (F1, F6, F9, C9) are from RELIABILITY.md.
"""

from __future__ import annotations

import errno
import gzip
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from cdxj_indexer.main import CDXJIndexer
from warcio.archiveiterator import ArchiveIterator

from crawler.config import ArchiveSettings
from crawler.errors import OutOfSpace
from crawler.models import Exchange
from crawler.warc.reader import iter_records, read_record_at
from crawler.warc.recover import complete_target_uris, recover_file
from crawler.warc.verify import verify_file
from crawler.warc.writer import WarcWriter
from tests.support import warcfactory as wf

REPO = Path(__file__).resolve().parent.parent
NAME = re.compile(r"^test-\d{17}-\d{5}-testhost\.warc\.gz$")


def _writer(directory: Path, **kwargs: object) -> WarcWriter:
    settings = kwargs.pop("settings", ArchiveSettings(prefix="test", gzip_level=2))
    return WarcWriter(directory, settings, warcinfo={"robots": "obey", "operator": "tests"}, host="testhost",
                      **kwargs)  # type: ignore[arg-type]


def _page_exchanges(count: int) -> list[Exchange]:
    pages = wf.fixture_pages()
    return [
        wf.exchange(f"{pages[i % len(pages)].url}?copy={i}", pages[i % len(pages)].body + str(i).encode(),
                    fetched=wf.DEFAULT_FETCHED + timedelta(seconds=i), content_encoding="gzip")
        for i in range(count)
    ]


def _warcio_records(path: Path) -> list[object]:
    with open(path, "rb") as stream:
        return [(r.rec_type, r.rec_headers, r.http_headers, r.raw_stream.read())
                for r in ArchiveIterator(stream, no_record_parse=False)]


def test_response_and_request_records_are_linked_with_digests(tmp_path: Path) -> None:
    fetched = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)
    item = wf.exchange("https://www.suara.com/a", b"<html>hello</html>", fetched=fetched,
                       content_encoding="gzip", headers=[("Transfer-Encoding", "chunked"), ("X-Seen", "yes")])
    with _writer(tmp_path) as writer:
        source = writer.write_exchange(item)
        files = writer.close()
    records = _warcio_records(files[0])
    kinds = [kind for kind, *_ in records]
    assert kinds == ["warcinfo", "response", "request"]
    _, info_headers, _, info_block = records[0]
    assert info_headers.protocol == "WARC/1.1"
    assert b"software: crawler/" in info_block and b"robots: obey" in info_block
    _, response, http, body = records[1]
    _, request, request_http, _ = records[2]
    assert response.get_header("WARC-Target-URI") == item.url
    assert response.get_header("WARC-Date") == "2026-11-21T10:00:00.123456Z"
    assert response.get_header("WARC-IP-Address") == "127.0.0.1"
    assert response.get_header("WARC-Block-Digest").startswith("sha1:")
    assert response.get_header("WARC-Payload-Digest") == wf.sha1_digest(item.body)
    assert request.get_header("WARC-Concurrent-To") == response.get_header("WARC-Record-ID")
    assert request_http.protocol == "GET" and request_http.statusline.startswith("/a HTTP/1.1")
    assert http.get_header("Transfer-Encoding") is None, "the body is stored de-chunked"
    assert http.get_header("X-Seen") == "yes" and http.get_header("Content-Encoding") == "gzip"
    assert body == item.body, "the body is stored as received (content-encoded)"
    assert source.record_id == response.get_header("WARC-Record-ID")
    assert source.warc == files[0].name and source.fetched == "2026-11-21T10:00:00Z"
    assert read_record_at(files[0], source.offset or 0).record_id == source.record_id


def test_one_gzip_member_per_record_and_the_file_verifies(tmp_path: Path) -> None:
    with _writer(tmp_path) as writer:
        for item in _page_exchanges(4):
            writer.write_exchange(item)
        files = writer.close()
    data = files[0].read_bytes()
    assert len(wf.member_offsets(data)) == 1 + 4 * 2
    assert verify_file(files[0]).ok
    check = subprocess.run(["warcio", "check", str(files[0])], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    out = io.StringIO()
    CDXJIndexer(out, [str(files[0])]).process_all()
    assert len(out.getvalue().splitlines()) == 4


def test_file_is_open_while_written_and_renamed_on_close(tmp_path: Path) -> None:
    writer = _writer(tmp_path)
    writer.write_exchange(_page_exchanges(1)[0])
    current = writer.current_file
    assert current is not None and current.name.endswith(".warc.gz.open")
    files = writer.close()
    assert not current.exists()
    assert [f.name for f in files] == [current.name.removesuffix(".open")]
    assert NAME.match(files[0].name), files[0].name


def test_C9_same_payload_is_a_revisit_referring_to_the_first_capture(tmp_path: Path) -> None:
    body = b"<html>same bytes at two URLs</html>"
    first = wf.exchange("https://www.suara.com/one", body)
    second = wf.exchange("https://www.suara.com/two", body, fetched=wf.DEFAULT_FETCHED + timedelta(minutes=1))
    with _writer(tmp_path) as writer:
        one = writer.write_exchange(first)
        two = writer.write_exchange(second)
        files = writer.close()
    revisit = read_record_at(files[0], two.offset or 0)
    assert revisit.rec_type == "revisit"
    assert revisit.header("WARC-Profile") == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    assert revisit.header("WARC-Refers-To") == one.record_id
    assert revisit.header("WARC-Refers-To-Target-URI") == first.url
    assert revisit.header("WARC-Refers-To-Date") == "2026-11-21T10:00:00.000000Z"
    assert revisit.header("WARC-Payload-Digest") == wf.sha1_digest(body)


def test_truncated_and_empty_payloads_are_stored_in_full(tmp_path: Path) -> None:
    body = b"<html>cut here"
    with _writer(tmp_path) as writer:
        writer.write_exchange(wf.exchange("https://x.test/a", body, truncated="length"))
        cut = writer.write_exchange(wf.exchange("https://x.test/b", body, truncated="length"))
        writer.write_exchange(wf.exchange("https://x.test/c", b""))
        empty = writer.write_exchange(wf.exchange("https://x.test/d", b""))
        files = writer.close()
    truncated = read_record_at(files[0], cut.offset or 0)
    assert truncated.rec_type == "response" and truncated.header("WARC-Truncated") == "length"
    assert read_record_at(files[0], empty.offset or 0).rec_type == "response"


def test_known_payloads_survive_a_restart(tmp_path: Path) -> None:
    body = b"<html>archived yesterday</html>"
    with _writer(tmp_path) as writer:
        first = writer.write_exchange(wf.exchange("https://x.test/a", body))
        known = writer.known_payloads()
    with _writer(tmp_path, known_payloads=known) as writer:
        again = writer.write_exchange(wf.exchange("https://x.test/b", body))
        files = writer.close()
    revisit = read_record_at(files[0], again.offset or 0)
    assert revisit.rec_type == "revisit" and revisit.header("WARC-Refers-To") == first.record_id


def test_metadata_record_refers_to_the_capture(tmp_path: Path) -> None:
    with _writer(tmp_path) as writer:
        source = writer.write_exchange(_page_exchanges(1)[0])
        writer.write_metadata(source, "https://x.test/a", {"site": "suara", "extractor": "suara/2024",
                                                          "outcome": "article"})
        files = writer.close()
    metadata = [r for r in iter_records(files[0]) if r.rec_type == "metadata"]
    assert len(metadata) == 1
    assert metadata[0].header("WARC-Refers-To") == source.record_id
    assert metadata[0].block == b"site: suara\r\nextractor: suara/2024\r\noutcome: article\r\n"


def test_F6_rollover_makes_several_files_each_opening_with_warcinfo(tmp_path: Path) -> None:
    settings = ArchiveSettings(prefix="test", gzip_level=2, rollover_bytes=50_000)
    closed: list[Path] = []
    with _writer(tmp_path, settings=settings, on_file_closed=closed.append) as writer:
        sources = [writer.write_exchange(item) for item in _page_exchanges(30)]
        files = writer.close()
    assert len(files) >= 3 and files == closed
    assert [f.name for f in files] == sorted({f.name for f in files}), "names unique and sorted"
    for path in files:
        assert verify_file(path).ok
        kinds = [r.rec_type for r in iter_records(path)]
        assert kinds[0] == "warcinfo" and kinds.count("warcinfo") == 1
        assert kinds[1:] == ["response", "request"] * ((len(kinds) - 1) // 2), "no exchange split"
        assert path.stat().st_size <= settings.rollover_bytes or kinds.count("response") == 1
    assert {s.warc for s in sources} == {f.name for f in files}


def test_F9_existing_file_names_are_never_overwritten(tmp_path: Path) -> None:
    moment = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)
    taken = [tmp_path / "test-20261121100000000-00000-testhost.warc.gz",
             tmp_path / "test-20261121100000000-00001-testhost.warc.gz.open"]
    for path in taken:
        path.write_bytes(b"precious")
    with _writer(tmp_path, clock=lambda: moment) as writer:
        writer.write_exchange(_page_exchanges(1)[0])
        files = writer.close()
    assert [f.name for f in files] == ["test-20261121100000000-00002-testhost.warc.gz"]
    assert all(path.read_bytes() == b"precious" for path in taken)


class _DiskFull:
    """A file stream that fails with ENOSPC once ``budget`` bytes were written through it."""

    def __init__(self, inner: BinaryIO, budget: int) -> None:
        self._inner = inner
        self.budget = budget

    def write(self, data: bytes | memoryview) -> int:
        if len(data) > self.budget:
            written = self._inner.write(bytes(data[: self.budget]))
            self.budget = 0
            if written:
                return written
            raise OSError(errno.ENOSPC, "No space left on device")
        self.budget -= len(data)
        return self._inner.write(data) or 0

    def flush(self) -> None:
        self._inner.flush()


def test_F1_disk_full_mid_record_trims_back_and_keeps_earlier_records(tmp_path: Path) -> None:
    streams: list[_DiskFull] = []

    def wrap(inner: BinaryIO) -> BinaryIO:
        streams.append(_DiskFull(inner, budget=10**9))
        return streams[-1]  # type: ignore[return-value]

    writer = _writer(tmp_path, wrap_stream=wrap)
    items = _page_exchanges(3)
    writer.write_exchange(items[0])
    writer.write_exchange(items[1])
    path = writer.current_file
    assert path is not None
    before = path.read_bytes()
    streams[0].budget = 1000  # the next exchange runs out of space part-way through its response
    with pytest.raises(OutOfSpace, match="trimmed back"):
        writer.write_exchange(items[2])
    assert path.read_bytes() == before, "earlier records byte-identical, the torn record gone"
    streams[0].budget = 10**9
    writer.write_exchange(items[2])  # space freed: writing goes on
    files = writer.close()
    assert verify_file(files[0]).ok
    assert complete_target_uris(files[0]) == [item.url for item in items]


_KILLED_WRITER = textwrap.dedent("""
    import sys
    from datetime import timedelta
    from pathlib import Path
    from crawler.config import ArchiveSettings
    from crawler.warc.writer import WarcWriter
    from tests.support import warcfactory as wf

    pages = wf.fixture_pages()[:6]
    settings = ArchiveSettings(prefix="test", gzip_level=2, rollover_bytes=int(sys.argv[2]))
    writer = WarcWriter(Path(sys.argv[1]), settings, warcinfo={"operator": "tests"}, host="testhost")
    for index, page in enumerate(pages):
        moment = wf.DEFAULT_FETCHED + timedelta(seconds=index)
        writer.write_exchange(wf.exchange(page.url, page.body, fetched=moment))
        print(page.url, flush=True)
    writer.close()
""")


def _run_killed(directory: Path, fault: str, rollover: int = 10**9) -> list[str]:
    env = dict(os.environ, CRAWLER_FAULT=fault, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(directory), str(rollover)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    return done.stdout.split()


@pytest.mark.slow
def test_F3_killed_mid_member_leaves_an_open_file_that_recover_repairs(tmp_path: Path) -> None:
    acknowledged = _run_killed(tmp_path, "mid_member_write:6")  # warcinfo + 2 exchanges, then half a member
    [torn] = list(tmp_path.glob("*.open"))
    assert not verify_file(torn).ok
    report = recover_file(torn)
    assert report.final is not None and report.dropped_bytes > 0 and report.dropped_records == 1
    assert report.kept_records == 5
    assert verify_file(report.final).ok
    kept = complete_target_uris(report.final)
    assert kept == acknowledged, "every acknowledged URL is still there, nothing else"
    assert report.dropped_uris in ((), (wf.fixture_pages()[2].url,))
    check = subprocess.run(["warcio", "check", str(report.final)], capture_output=True, text=True)
    assert check.returncode == 0


@pytest.mark.slow
def test_F2_killed_after_a_member_loses_nothing_acknowledged(tmp_path: Path) -> None:
    acknowledged = _run_killed(tmp_path, "after_member_write:5")
    [left] = list(tmp_path.glob("*.open"))
    report = recover_file(left)
    assert report.final is not None and report.dropped_bytes == 0
    assert complete_target_uris(report.final)[: len(acknowledged)] == acknowledged
    assert verify_file(report.final).ok


@pytest.mark.slow
def test_killed_during_rotation_leaves_a_whole_file_to_close(tmp_path: Path) -> None:
    _run_killed(tmp_path, "during_rotation:1", rollover=40_000)
    [left] = list(tmp_path.glob("*.open"))
    assert verify_file(left).ok
    report = recover_file(left)
    assert report.dropped_bytes == 0 and report.final is not None and report.final.exists()


def test_gzip_levels_all_write_standard_members(tmp_path: Path) -> None:
    for level in (0, 1, 2, 3, 6, 9):
        directory = tmp_path / str(level)
        with _writer(directory, settings=ArchiveSettings(prefix="test", gzip_level=level)) as writer:
            source = writer.write_exchange(_page_exchanges(1)[0])
            files = writer.close()
        data = files[0].read_bytes()
        assert gzip.decompress(data).count(b"WARC/1.1\r\n") == 3
        assert read_record_at(files[0], source.offset or 0).rec_type == "response"


def test_scan_payloads_rebuilds_revisit_detection_from_closed_files(tmp_path: Path) -> None:
    from crawler.warc.payloads import scan_payloads

    body = b"<html>archived by an earlier run</html>"
    with _writer(tmp_path) as writer:
        first = writer.write_exchange(wf.exchange("https://x.test/a", body))
        writer.write_exchange(wf.exchange("https://x.test/cut", b"<html>cut", truncated="length"))
    known = scan_payloads(tmp_path)  # from the CDXJ indexes the writer wrote
    assert wf.sha1_digest(body) in known
    assert known[wf.sha1_digest(body)].uri == "https://x.test/a"
    shared: dict[str, object] = dict(known)
    lane_two = tmp_path / "lane2"
    with _writer(tmp_path, known_payloads=shared) as one, _writer(lane_two, known_payloads=shared) as two:
        again = one.write_exchange(wf.exchange("https://x.test/b", body))
        fresh = b"<html>new in lane one</html>"
        one.write_exchange(wf.exchange("https://x.test/c", fresh))
        shared_hit = two.write_exchange(wf.exchange("https://x.test/d", fresh))
        files = one.close() + two.close()
    revisit = read_record_at(files[0], again.offset or 0)
    assert revisit.rec_type == "revisit" and revisit.header("WARC-Refers-To-Target-URI") == "https://x.test/a"
    assert (revisit.header("WARC-Refers-To-Date") or "")[:19] == (first.fetched or "")[:19]
    assert read_record_at(files[1], shared_hit.offset or 0).rec_type == "revisit", "lanes share payloads"


def test_index_written_with_the_records_equals_cdxj_indexer_on_the_closed_files(tmp_path: Path) -> None:
    """``index=True``: responses, a revisit, a truncated and an empty body, a non-HTML type, a
    metadata record and a rotation; each closed file's ``.cdxj`` is cdxj-indexer's, line for line."""
    settings = ArchiveSettings(prefix="test", gzip_level=2, rollover_bytes=60_000)
    exchanges = _page_exchanges(8)
    exchanges += [
        wf.exchange("https://x.test/first", b"<html>the same bytes twice</html>"),
        wf.exchange("https://x.test/again", b"<html>the same bytes twice</html>"),  # a revisit
        wf.exchange("https://x.test/cut", b"<html>cut", truncated="length"),
        wf.exchange("https://x.test/empty", b""),
        wf.exchange("https://x.test/robots.txt", b"User-agent: *\n", content_type="text/plain; charset=x"),
    ]
    with _writer(tmp_path, settings=settings, index=True) as writer:
        for exchange in exchanges:
            source = writer.write_exchange(exchange)
            writer.write_metadata(source, exchange.url, {"site": "x", "outcome": "article"})
        files = writer.close()
    assert len(files) >= 2, "the small rollover should give several files"
    kinds: Counter[str] = Counter()
    for path in files:
        expected = io.StringIO()
        CDXJIndexer(expected, [str(path)], sort=True).process_all()
        index = path.with_name(path.name + ".cdxj")
        assert index.read_text(encoding="utf-8") == expected.getvalue(), f"{index}: not cdxj-indexer's"
        kinds.update(json.loads(line.split(" ", 2)[2])["mime"] for line in expected.getvalue().splitlines())
    assert kinds["warc/revisit"] == 1 and kinds["text/plain"] == 1, kinds
    assert not list(tmp_path.glob("*.cdxj.open")), "spools are removed when files close"


def test_unsynced_writes_are_fsynced_once_by_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``sync=False`` writes wait for ``sync()``: one fsync for all of them, none when idle."""
    calls: list[int] = []
    real_fsync = os.fsync
    with _writer(tmp_path) as writer:
        first = writer.write_exchange(_page_exchanges(1)[0])  # opens the file, fsynced
        monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
        for item in _page_exchanges(4)[1:]:
            source = writer.write_exchange(item, sync=False)
            writer.write_metadata(source, item.url, {"outcome": "article"}, sync=False)
        assert calls == [], "nothing fsynced yet"
        writer.sync()
        writer.sync()
        assert len(calls) == 1, "one fsync covers every unsynced record; an idle sync does nothing"
        files = writer.close()
    assert verify_file(files[0]).ok
    assert complete_target_uris(files[0])[0] == _page_exchanges(1)[0].url and first.offset is not None


def test_a_failed_sync_trims_back_to_what_was_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An fsync that fails (EIO, ENOSPC) drops the unsynced records, keeps the synced ones
    byte-identical and raises: nothing unsynced was ever acknowledged as durable."""
    items = _page_exchanges(3)
    writer = _writer(tmp_path, index=True)
    writer.write_exchange(items[0])
    path = writer.current_file
    assert path is not None
    durable = path.read_bytes()
    writer.write_exchange(items[1], sync=False)

    real_fsync, failures = os.fsync, [OSError(errno.ENOSPC, "No space left on device")]

    def failing_fsync(fd: int) -> None:  # fails once; the trim's own fsync goes through
        if failures:
            raise failures.pop()
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OutOfSpace, match="trimmed back"):
        writer.sync()
    monkeypatch.undo()
    assert path.read_bytes() == durable
    writer.write_exchange(items[2])
    files = writer.close()
    assert verify_file(files[0]).ok
    assert complete_target_uris(files[0]) == [items[0].url, items[2].url]
    index = files[0].with_name(files[0].name + ".cdxj")
    assert not index.exists(), "an index holding dropped records is not kept"
