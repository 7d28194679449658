"""Replay's cross-file step takes its captures from the CDXJ index beside each WARC file.

An article's next page in another file is found through that file's ``.cdxj`` (the crawl's
writer made it): taking the page's line out of the index, the index still fresh, is enough to
lose the page, so the index is the only source. A file with no index, a stale one or a damaged
line (the message names the index and the line) is read whole and nothing is written; with
``write_indexes`` it is indexed with the crawl's indexer and the index written beside it,
where it can be (else read whole).
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from crawler.config import ArchiveSettings
from crawler.models import Exchange
from crawler.replay import ReplayOptions, ReplaySummary, replay
from crawler.warc.index import index_file
from crawler.warc.writer import WarcWriter
from tests.support import warcfactory as wf

SUARA = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"
LATER = wf.DEFAULT_FETCHED + timedelta(seconds=1)


def _first_page(next_url: str) -> bytes:
    body = (wf.SITES / "suara/synthetic-jsonld.html").read_bytes()
    return body.replace(b"</head>", f'<link rel="next" href="{next_url}"></head>'.encode(), 1)


def _second_page() -> bytes:
    return (wf.SITES / "suara/synthetic-amp-2017-06-21.html").read_bytes()


def _write(directory: Path, items: list[Exchange]) -> list[Path]:
    """The files of ``items`` (a page a file: tiny rollover), each with the index the crawl writes."""
    settings = ArchiveSettings(prefix="t", gzip_level=2, rollover_bytes=5_000)
    with WarcWriter(directory, settings, warcinfo={}, host="h", index=True) as writer:
        names = [str(writer.write_exchange(item).warc) for item in items]
    return [directory / name for name in names]


Articles = list[dict[str, object]]


def _replay(directory: Path, damage: list[str] | None = None, *,
            write: bool = False) -> tuple[Articles, ReplaySummary]:
    out = io.StringIO()
    found: list[str] = []
    options = ReplayOptions(write_indexes=write)
    summary = replay([directory], out, options, workers=1, on_damage=found.append)
    if damage is None:
        assert not found, found
    else:
        damage.extend(found)
    return [json.loads(line) for line in out.getvalue().splitlines()], summary


def _index(warc: Path) -> Path:
    return warc.with_name(warc.name + ".cdxj")


def _drop_lines(index: Path, url: str) -> None:
    """Take ``url``'s lines out of the index, keeping the index newer than its WARC file."""
    lines = index.read_text("utf-8").splitlines(keepends=True)
    kept = [line for line in lines if f'"url": "{url}"' not in line]
    assert len(kept) < len(lines)
    index.write_text("".join(kept), encoding="utf-8")


def _make_older(index: Path, warc: Path) -> None:
    moment = warc.stat().st_mtime - 60
    os.utime(index, (moment, moment))


@pytest.fixture
def split_article(tmp_path: Path) -> tuple[Path, list[Path]]:
    """Page 1 in one file, page 2 in the next."""
    items = [wf.exchange(SUARA, _first_page(f"{SUARA}?page=2")),
             wf.exchange(f"{SUARA}?page=2", _second_page(), fetched=LATER)]
    warcs = _write(tmp_path, items)
    assert warcs[0] != warcs[1]
    return tmp_path, warcs


Split = tuple[Path, list[Path]]


def test_the_next_page_in_another_file_is_found_through_its_index(split_article: Split) -> None:
    directory, (_, second) = split_article
    got, _ = _replay(directory)
    assert [article["pages"] for article in got] == [2]
    _drop_lines(_index(second), f"{SUARA}?page=2")  # the file still holds page 2; its fresh index does not
    got, _ = _replay(directory)
    # Not joined: page 1 alone, and page 2 (not taken in) an article of its own.
    assert [article["pages"] for article in got] == [1, 1], "the index, not a read of the file, was used"


def test_a_file_with_no_index_is_read_whole_or_indexed_when_asked(split_article: Split) -> None:
    directory, warcs = split_article
    written = {warc: _index(warc).read_text("utf-8") for warc in warcs}
    for warc in warcs:
        _index(warc).unlink()
    got, _ = _replay(directory)
    assert [article["pages"] for article in got] == [2]
    assert not any(_index(warc).exists() for warc in warcs)  # nothing written into the archive
    again, _ = _replay(directory, write=True)
    assert again == got
    assert {warc: _index(warc).read_text("utf-8") for warc in warcs} == written, "the crawl's own index"


def test_a_stale_index_is_not_used(split_article: tuple[Path, list[Path]]) -> None:
    directory, (_, second) = split_article
    _drop_lines(_index(second), f"{SUARA}?page=2")
    _make_older(_index(second), second)  # the WARC file changed after its index was written
    got, _ = _replay(directory)
    assert [article["pages"] for article in got] == [2], "read whole"
    assert f"{SUARA}?page=2" not in _index(second).read_text("utf-8"), "left as it was"
    got, _ = _replay(directory, write=True)
    assert [article["pages"] for article in got] == [2]
    assert f"{SUARA}?page=2" in _index(second).read_text("utf-8"), "indexed again and rewritten"


@pytest.mark.parametrize("damage", ["cut", "json", "offset"])
def test_a_damaged_index_line_is_named_and_the_file_indexed_again(
    split_article: tuple[Path, list[Path]], damage: str, caplog: pytest.LogCaptureFixture,
) -> None:
    directory, (_, second) = split_article
    index = _index(second)
    lines = index.read_text("utf-8").splitlines(keepends=True)
    number = next(n for n, line in enumerate(lines, start=1) if f'"url": "{SUARA}?page=2"' in line)
    line = lines[number - 1]
    if damage == "cut":
        lines[number - 1] = line[: len(line) // 2]  # a truncated line
    elif damage == "json":
        lines[number - 1] = line.replace('"offset"', '"offset', 1)
    else:
        record = json.loads(line.split(" ", 2)[2])
        lines[number - 1] = line.replace(f'"offset": "{record["offset"]}"', f'"offset": "{10**9}"')
    index.write_text("".join(lines), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="crawler.warc.captures"):
        got, _ = _replay(directory)
    assert [article["pages"] for article in got] == [2]
    assert f"{index} line {number}:" in caplog.text, caplog.text
    assert f"the index is not used, {second.name} is read instead" in caplog.text
    assert index.read_text("utf-8") == "".join(lines), "left as it was"
    got, _ = _replay(directory, write=True)
    assert [article["pages"] for article in got] == [2]
    assert index.read_text("utf-8") == "".join(lines[: number - 1]) + line + "".join(lines[number:]), \
        "rewritten from the file"


@pytest.fixture
def read_only(split_article: tuple[Path, list[Path]]) -> Iterator[tuple[Path, list[Path]]]:
    """Someone else's archive: no indexes, a directory replay cannot write into. (Tests run as
    root here, where a mode is not enforced, so each index's name is also taken by a directory:
    reading it and renaming a written index onto it fail as they would in a read-only
    directory.)"""
    directory, warcs = split_article
    for warc in warcs:
        _index(warc).unlink()
        _index(warc).mkdir()
    mode = directory.stat().st_mode
    directory.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        yield directory, warcs
    finally:
        directory.chmod(mode)


def test_a_read_only_archive_replays_reading_its_files_whole(read_only: tuple[Path, list[Path]]) -> None:
    directory, warcs = read_only
    got, _ = _replay(directory, write=True)  # asked to write the indexes, and cannot
    assert [article["pages"] for article in got] == [2]
    assert not any(_index(warc).is_file() for warc in warcs)
    assert not [path.name for path in directory.iterdir() if path.name.endswith(".tmp")]  # none left


def test_a_redirect_in_another_file_is_followed_through_the_index(tmp_path: Path) -> None:
    """The index has the redirect's status, not its Location: that is read from the record."""
    moved = f"{SUARA}?page=2"
    items = [wf.exchange(SUARA, _first_page(moved)),
             wf.exchange(moved, b"", status=301, reason="Moved Permanently",
                         headers=(("Location", f"{SUARA}?p=2"),), fetched=LATER),
             wf.exchange(f"{SUARA}?p=2", _second_page(), fetched=LATER + timedelta(seconds=1))]
    warcs = _write(tmp_path, items)
    assert warcs[0] == warcs[1] != warcs[2], "the redirect's target in another file"
    got, _ = _replay(tmp_path)
    assert [article["pages"] for article in got] == [2]
    for warc in set(warcs):  # as read whole, without indexes: the same
        _index(warc).unlink()
    again, _ = _replay(tmp_path)
    assert again == got


def test_a_revisit_finds_its_original_in_another_file_through_the_index(tmp_path: Path) -> None:
    page = wf.small_pages()[0]
    settings = ArchiveSettings(prefix="t", gzip_level=2)
    with WarcWriter(tmp_path, settings, warcinfo={}, host="b", index=True) as writer:
        first = writer.write_exchange(wf.exchange(page.url, page.body))
        known = writer.known_payloads()
    with WarcWriter(tmp_path, settings, warcinfo={}, host="a", known_payloads=known,
                    index=True) as writer:
        writer.write_exchange(wf.exchange(page.url, page.body, fetched=LATER))  # a revisit of the first
    got, summary = _replay(tmp_path)
    assert summary.duplicates == 1
    assert [article["source"] for article in got] == [first.__dict__]
    original = tmp_path / Path(first.warc).name
    _drop_lines(_index(original), page.url)
    damage: list[str] = []
    got, summary = _replay(tmp_path, damage)
    assert summary.duplicates == 0 and len(got) == 1, "its original is known only through the index"
    assert len(damage) == 1 and "original not found for revisit" in damage[0], damage


def test_index_file_and_the_writers_index_agree(split_article: tuple[Path, list[Path]]) -> None:
    """What replay builds for a file without an index is what the crawl writes (``index_file``)."""
    _, warcs = split_article
    for warc in warcs:
        written = _index(warc).read_text("utf-8")
        assert index_file(warc).read_text("utf-8") == written


def test_a_whole_file_gzip_without_offsets_is_read_whole(split_article: Split) -> None:
    """Its records share one gzip member: no index can point at page 2, the file is read whole."""
    directory, (_, second) = split_article
    second.write_bytes(wf.whole_file_gzip(second.read_bytes()))
    _index(second).unlink()
    damage: list[str] = []
    got, _ = _replay(directory, damage, write=True)
    assert [article["pages"] for article in got] == [2]
    assert damage and all("one gzip stream" in message for message in damage), damage
    assert not _index(second).exists(), "no index that would leave its records out"


def test_index_lines_are_read_as_cdxj_gives_them() -> None:
    """pywb's "!meta" lines are skipped, a urlkey with a space is still one urlkey, entries come
    in file order; a line that does not fit the file names the line."""
    from crawler.warc.captures import IndexLineError, parse_entries

    lines = [
        '!meta 0 {"format": "cdxj-gzip-1.0"}\n',
        'com,example)/b%20c d 20261121100001 {"url": "<http://example.com/b c d>", "mime": "warc/revisit", '
        '"digest": "sha1:X", "length": "100", "offset": "500", "filename": "f.warc.gz"}\n',
        'com,example)/a 20261121100000 {"url": "http://example.com/a", "mime": "text/html", "status": "200", '
        '"digest": "sha1:X", "length": "400", "offset": "100", "filename": "f.warc.gz"}\n',
    ]
    entries = parse_entries(lines, "f.warc.gz", 600, "f.warc.gz.cdxj")
    assert [(e.url, e.offset, e.rec_type, e.status) for e in entries] == [
        ("http://example.com/a", 100, "response", 200), ("http://example.com/b c d", 500, "revisit", None)]
    assert entries[0].iso_date == "2026-11-21T10:00:00"
    with pytest.raises(IndexLineError, match=r"^f\.warc\.gz\.cdxj line 2: the record at offset 500 ends"):
        parse_entries(lines, "f.warc.gz", 599, "f.warc.gz.cdxj")
    with pytest.raises(IndexLineError, match=r"line 2: names the file 'f.warc.gz', not 'g.warc.gz'"):
        parse_entries(lines, "g.warc.gz", 600, "g.warc.gz.cdxj")
