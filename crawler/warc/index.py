"""CDXJ indexes of WARC files, written with the standard ``cdxj-indexer`` (pywb's format).

Where: the crawl indexes each WARC file when it closes into ``<file>.cdxj`` beside it (e.g.
``crawler-…-00000-host.warc.gz.cdxj``), sorted, written to a temporary name and renamed, so an
index is either whole or absent. ``crawler index FILES... -o out.cdxj`` writes one sorted index
of many files (what pywb's ``indexes/index.cdxj`` holds).

Reading a file back to index it costs about as much CPU as writing it (warcio parses every
record again), so the crawl's writer hands each record to a ``CdxjSpool`` as it writes it: the
same ``CDXJIndexer`` makes the line from the record in memory, lines are spooled to
``<file>.cdxj.open`` and sorted into ``<file>.cdxj`` when the WARC file closes (tested equal to
indexing the finished file). A file recovered after a crash is indexed by reading it back.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from cdxj_indexer.main import CDXJIndexer, SortingWriter
from warcio.archiveiterator import ArchiveIterator

from crawler.atomic import text_replacing
from crawler.errors import CrawlerError, InputError
from crawler.warc.reader import Damage, WarcRecord, iter_records

__all__ = [
    "INDEX_SUFFIX", "SPOOL_SUFFIX", "CdxjSpool", "index_closed_file", "index_file", "settle_spools",
    "write_index",
]

log = logging.getLogger(__name__)

INDEX_SUFFIX = ".cdxj"
SPOOL_SUFFIX = INDEX_SUFFIX + ".open"  # unsorted lines of a WARC file still being written


def write_index(paths: Iterable[str | os.PathLike[str]], out: TextIO) -> list[Damage]:
    """One sorted CDXJ index of every WARC (or ARC) file in ``paths`` to ``out``; returns the
    damage found (each with file and offset): damaged records are left out, every good one
    before and after is indexed.

    Records are found by this package's reader (which checks members, lengths and digests) and
    each good one is indexed by ``cdxj-indexer`` from its own offset, so a damaged member never
    reaches warcio (which would print a bare zlib error and go on, or stop). ARC files are
    given to ``cdxj-indexer`` whole; the records of a whole-file gzip have no offset of their
    own and are not indexed (the damage says how to recompress it). Errors writing ``out`` (a
    closed pipe) propagate as they are.
    """
    inputs = [Path(path) for path in paths]
    for path in inputs:
        if not path.exists():
            raise InputError(f"{path}: no such file or directory")
    damages: list[Damage] = []
    writer = SortingWriter(out)
    for path in inputs:
        damages.extend(_index_one(path, writer))
    writer.flush()
    return damages


def _index_one(path: Path, writer: SortingWriter) -> list[Damage]:
    damages: list[Damage] = []
    indexer = CDXJIndexer(None, [])
    indexer.curr_filename = path.name
    whole = False
    try:
        with open(path, "rb") as raw:
            for record in iter_records(path, on_damage=damages.append):
                if record.version == "ARC":
                    whole = True
                    break
                if record.member_index or record.end_offset <= record.offset:
                    continue  # a whole-file gzip: no offset of its own (reported with the recompress hint)
                if record.rec_type in indexer.include_records:
                    _index_record(indexer, raw, record, writer)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if whole:
        CDXJIndexer(writer, [os.fspath(path)]).process_all()
    return damages


def _index_record(indexer: Any, raw: BinaryIO, record: WarcRecord, writer: SortingWriter) -> None:
    raw.seek(record.offset)
    parsed = next(iter(ArchiveIterator(raw, arc2warc=True)))
    if indexer.filter_record(parsed):
        place = _Place(record.offset, record.end_offset - record.offset)
        indexer.process_index_entry(place, parsed, record.warc, writer)


def index_file(path: str | os.PathLike[str]) -> Path:
    """Write ``<path>.cdxj`` beside the WARC file ``path``; return the index path."""
    source = Path(path)
    target = _index_path(source)
    with text_replacing(target) as out:
        damages = write_index([source], out)
    for damage in damages:
        log.warning("%s (left out of %s)", damage, target.name)
    return target


def _index_path(warc: Path) -> Path:
    return warc.with_name(warc.name + INDEX_SUFFIX)


def index_closed_file(path: str | os.PathLike[str]) -> Path | None:
    """``index_file`` for the crawl: a failure is logged, never stops the crawl."""
    try:
        return index_file(path)
    except (OSError, CrawlerError) as exc:
        log.warning("%s: could not write its CDXJ index (%s); run `crawler index %s`", path, exc, path)
        return None


@dataclass(frozen=True)
class _Place:
    """Where a record's gzip member lies: what the indexer asks its record iterator."""

    offset: int
    length: int

    def get_record_offset(self) -> int:
        return self.offset

    def get_record_length(self) -> int:
        return self.length


class CdxjSpool:
    """The CDXJ index of one WARC file, made from its records as they are written.

    ``add`` each record (a warcio record as written) with its member's offset and length;
    ``finish`` sorts the lines into ``<warc>.cdxj`` (temporary name, fsync, rename), the same
    file ``index_file`` would write after reading the WARC back. ``discard`` drops the spool.
    """

    def __init__(self, warc: Path) -> None:
        self._warc = warc
        self._spool = warc.with_name(warc.name + SPOOL_SUFFIX)
        self._indexer = CDXJIndexer(None, [])
        self._indexer.curr_filename = warc.name
        self._handle: TextIO = open(self._spool, "w", encoding="utf-8")  # noqa: SIM115 - closed in finish

    def add(self, record: Any, offset: int, length: int) -> None:
        if self._indexer.filter_record(record):
            self._indexer.process_index_entry(_Place(offset, length), record, self._warc.name, self._handle)

    def finish(self) -> Path:
        """Write the sorted ``<warc>.cdxj``; return its path."""
        self._handle.close()
        target = _index_path(self._warc)
        try:
            with open(self._spool, encoding="utf-8") as lines, text_replacing(target) as out:
                writer = SortingWriter(out)
                for line in lines:
                    writer.write(line)
                writer.flush()
        finally:
            self._spool.unlink(missing_ok=True)
        return target

    def discard(self) -> None:
        self._handle.close()
        self._spool.unlink(missing_ok=True)


def settle_spools(directory: Path) -> list[Path]:
    """After a crash: index the closed WARC files whose writer died before it wrote their index
    (killed between closing the file and sorting its spool), and remove every spool left.
    Spools of ``.open`` files are removed by ``recover_file``; run this after it. Returns the
    files indexed."""
    indexed = []
    for spool in sorted(directory.glob(f"*{SPOOL_SUFFIX}")):
        warc = spool.with_name(spool.name[: -len(SPOOL_SUFFIX)])
        if warc.is_file() and not _index_path(warc).exists():
            if index_closed_file(warc) is not None:
                indexed.append(warc)
        spool.unlink(missing_ok=True)
    return indexed
