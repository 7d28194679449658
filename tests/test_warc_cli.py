"""The WARC verbs as a user meets them (issue 11, item 4): pipes into ``head``, files that are
not WARCs, empty directories and files, damaged files given to ``index``, and ARC files.

Exit codes (README): 5 for an input that is not a WARC/ARC file at all or a directory without
any; 7 for a WARC/ARC file that is damaged (a 0-byte ``.warc.gz`` included); 141 (128 + SIGPIPE)
when the reader of the output goes away, with nothing on stderr.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.support import warcfactory as wf

WARCS = wf.WARC_FIXTURES


def _crawler(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["crawler", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WARC of 240 article captures: far more output than a pipe holds."""
    directory = tmp_path_factory.mktemp("many")
    pages = [page for page in wf.fixture_pages() if page.is_article]
    chosen = [pages[i % len(pages)] for i in range(240)]
    start = wf.DEFAULT_FETCHED
    exchanges = [wf.exchange(f"{page.url}?n={i}", page.body + str(i).encode(),
                             fetched=start + timedelta(seconds=i)) for i, page in enumerate(chosen)]
    files, _ = wf.write_warcs(directory, exchanges)
    return files[0]


@pytest.mark.parametrize("verb", ["index", "replay"])
def test_a_pipe_into_head_ends_quietly(many: Path, verb: str) -> None:
    shell = subprocess.run(["bash", "-c", f'crawler {verb} "$0" | head -1; echo "status ${{PIPESTATUS[0]}}"',
                            str(many)], capture_output=True, text=True, timeout=300)
    lines = shell.stdout.splitlines()
    assert len(lines) == 2 and lines[1] in ("status 0", "status 141"), shell.stdout
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr, shell.stderr
    assert "damaged" not in shell.stderr.replace("0 damaged", ""), "a healthy WARC is never blamed"
    # a reader that is gone before the first line: EPIPE for certain
    process = subprocess.Popen(["crawler", verb, str(many)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 141, stderr.decode()
    assert b"Traceback" not in stderr and b"BrokenPipe" not in stderr and b"Exception ignored" not in stderr


def test_index_of_a_damaged_file_exits_7_naming_file_and_offset_and_indexes_the_rest() -> None:
    flipped = WARCS / "flipped-byte.warc.gz"
    done = _crawler("index", str(flipped))
    assert done.returncode == 7
    assert "flipped-byte.warc.gz: offset " in done.stderr and "Error -3" not in done.stderr.split(": ", 2)[0]
    assert "Traceback" not in done.stderr
    good_lines = _crawler("index", str(WARCS / "good.warc.gz")).stdout.splitlines()
    lines = done.stdout.splitlines()
    assert lines and len(lines) < len(good_lines) and all(json.loads(line.split(" ", 2)[2]) for line in lines)


def test_a_file_that_is_not_a_warc_exits_5_saying_so(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(wf.small_pages()[0].body)
    for verb in ("index", "verify", "replay"):
        done = _crawler(verb, str(page))
        assert done.returncode == 5, f"{verb}: {done.returncode} {done.stderr}"
        assert f"{page}: not a WARC or ARC file" in done.stderr and not done.stdout


def test_a_directory_without_warc_files_exits_5_saying_so(tmp_path: Path) -> None:
    empty = tmp_path / "emptydir"
    empty.mkdir()
    (empty / "notes.txt").write_text("no archives here")
    for verb in ("verify", "index", "replay"):
        done = _crawler(verb, str(empty))
        assert done.returncode == 5, f"{verb}: {done.returncode} {done.stderr}"
        assert f"{empty}: no WARC or ARC files" in done.stderr


def test_a_zero_byte_warc_is_not_ok(tmp_path: Path) -> None:
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    verified = _crawler("verify", str(empty))
    assert verified.returncode == 7 and ": BAD (" in verified.stdout
    assert "empty file (0 bytes)" in verified.stdout
    indexed = _crawler("index", str(empty))
    assert indexed.returncode == 7 and "empty file" in indexed.stderr


def test_arc_files_are_read_by_verify_index_and_replay(tmp_path: Path) -> None:
    for name in ("article.arc", "article.arc.gz"):
        shutil.copy(WARCS / name, tmp_path / name)
    verified = _crawler("verify", str(tmp_path))  # a directory: ARC files are found in it too
    assert verified.returncode == 0 and verified.stdout.count(": OK (") == 2, verified.stdout
    indexed = _crawler("index", str(tmp_path / "article.arc.gz"))
    standard = subprocess.run(["cdxj-indexer", "--sort", str(tmp_path / "article.arc.gz")],
                              capture_output=True, text=True)
    assert indexed.returncode == 0 and indexed.stdout == standard.stdout
    assert len(indexed.stdout.splitlines()) == 2
    replayed = _crawler("replay", str(tmp_path), "--workers", "1")
    assert replayed.returncode == 0, replayed.stderr
    urls = sorted(json.loads(line)["url"] for line in replayed.stdout.splitlines())
    first, _, third = wf.small_pages()
    assert urls == sorted([first.url, third.url])
