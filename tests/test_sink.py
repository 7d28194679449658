"""articles.jsonl: whole lines, torn-tail repair (RELIABILITY G4), de-duplication across
restarts (F4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from crawler.errors import InputError
from crawler.models import Article, Source
from crawler.sink import FILE_NAME, JsonlSink


def _article(n: int, body: str = "Isi berita.", warc: str = "a.warc.gz") -> Article:
    return Article(
        url=f"http://www.example.co.id/read/{n}", site="s", title=f"Judul {n}", body=body,
        extractor="s", source=Source(warc=warc, offset=n * 100, record_id=f"<urn:uuid:{n}>"),
    )


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_writes_one_object_per_line(tmp_path: Path) -> None:
    with JsonlSink.open(tmp_path) as sink:
        assert sink.write(_article(1, body="Satu “kutipan” — é"))
        assert sink.write(_article(2))
    lines = _lines(tmp_path / FILE_NAME)
    assert [line["url"] for line in lines] == [_article(1).url, _article(2).url]
    assert lines[0]["body"] == "Satu “kutipan” — é"
    assert "“" in (tmp_path / FILE_NAME).read_text(encoding="utf-8")  # non-ASCII kept as is


def test_R1_duplicate_across_restart_is_dropped_even_when_the_page_changed(tmp_path: Path) -> None:
    with JsonlSink.open(tmp_path) as sink:
        sink.write(_article(1))
    with JsonlSink.open(tmp_path) as sink:
        assert not sink.write(_article(1, warc="b.warc.gz"))  # same bytes captured twice
        assert not sink.write(_article(1, body="Isi yang diperbarui."))  # bytes changed: same article
        assert sink.duplicates == 2
        assert sink.write(_article(2))
    assert [line["url"] for line in _lines(tmp_path / FILE_NAME)] == [_article(1).url, _article(2).url]


@pytest.mark.parametrize("tail", [b'{"url": "http://x/3", "ti', b"{not json}\n"])
def test_torn_last_line_is_moved_aside_and_reported(tmp_path: Path, tail: bytes) -> None:
    with JsonlSink.open(tmp_path) as sink:
        sink.write(_article(1))
        sink.write(_article(2))
    path = tmp_path / FILE_NAME
    whole = path.read_bytes()
    path.write_bytes(whole + tail)
    with JsonlSink.open(tmp_path) as sink:
        assert sink.torn is not None
        assert sink.torn.offset == len(whole)
        assert sink.torn.size == len(tail)
        assert "torn last line" in sink.torn.describe()
        sink.write(_article(3))
    assert path.read_bytes().startswith(whole)
    assert [line["url"] for line in _lines(path)][-1] == _article(3).url
    assert (tmp_path / (FILE_NAME + ".torn")).read_bytes().rstrip(b"\n") == tail.rstrip(b"\n")


def test_whole_file_without_torn_tail_is_untouched(tmp_path: Path) -> None:
    with JsonlSink.open(tmp_path) as sink:
        sink.write(_article(1))
    before = (tmp_path / FILE_NAME).read_bytes()
    with JsonlSink.open(tmp_path) as sink:
        assert sink.torn is None
    assert (tmp_path / FILE_NAME).read_bytes() == before
    assert not (tmp_path / (FILE_NAME + ".torn")).exists()


def test_a_single_torn_line_empties_the_file(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b'{"url": "http://x/1"')
    with JsonlSink.open(tmp_path) as sink:
        assert sink.torn is not None and sink.torn.offset == 0
    assert (tmp_path / FILE_NAME).read_bytes() == b""


def test_bad_line_in_the_middle_is_an_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.write_text('{"url": "a"}\nnonsense\n{"url": "b"}\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"articles\.jsonl:2: not a JSON object"):
        JsonlSink.open(tmp_path)


def test_unsynced_lines_are_fsynced_once_by_sync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real_fsync(fd))[1])
    with JsonlSink.open(tmp_path) as sink:
        assert all(sink.write(_article(n), sync=False) for n in range(3))
        assert calls == []
        sink.sync()
        sink.sync()
        assert len(calls) == 1, "one fsync for the three lines, none when nothing is new"
        assert sink.write(_article(9))
        assert len(calls) == 2, "a plain write is fsynced at once"
    assert len(_lines(tmp_path / FILE_NAME)) == 4


def test_a_shared_sink_leaves_a_line_being_written_alone(tmp_path: Path) -> None:
    """``shared=True`` (a peer process of the crawl): an unterminated last line is another
    process's line in progress, not a torn one: neither moved aside nor read."""
    with JsonlSink.open(tmp_path) as sink:
        sink.write(_article(1))
    path = tmp_path / FILE_NAME
    whole = path.read_bytes()
    with path.open("ab") as handle:
        handle.write(b'{"url": "http://www.example.co.id/read/2", "ti')
    with JsonlSink.open(tmp_path, shared=True) as peer:
        assert peer.torn is None
        assert not peer.write(_article(1)), "keys of the whole lines are loaded"
    assert path.read_bytes().startswith(whole + b'{"url": "http://www.example.co.id/read/2", "ti')
