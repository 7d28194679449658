"""The captures of a WARC file read from its CDXJ index, so replay finds a capture without reading the file.

The crawl writes ``<file>.cdxj`` beside each WARC file it closes (``crawler.warc.index``). Replay
takes a file's captures (URL, offset, length, status, mime, payload digest, date) from that index
and reads only the records it then needs, by offset. An index is used when it is **fresh**:

* it exists, and its modification time is not older than the WARC file's (the crawl writes it
  after closing the file, ``crawler index`` after reading it; a WARC file changed since, e.g.
  recovered or rewritten, has a newer time);
* every line parses (``urlkey timestamp {json}``, offset and length integers) and names this
  file, and no record it lists ends past the end of the file (an index of a longer file).

Otherwise (no index, stale, or a damaged line: logged with the index's name and line number)
the caller reads the file whole, which costs less than indexing it (measured: about 0.6×), and
writes nothing into the archive, which may be someone else's. Asked to (``built_entries``,
``crawler replay --write-indexes``), it indexes the file with the crawl's indexer
(``write_index``) and writes the index beside it, so the next replay finds it; where it cannot be
written (a read-only directory) the file is read whole, the replay goes on. ARC files and
whole-file gzip WARCs (whose records have no offset of their own) are always read whole.

CDXJ lines carry no WARC-Record-ID, so ``IndexedOrigins`` finds a revisit's ``WARC-Refers-To``
among the responses that share its target URI and date or its payload digest, reading their
headers by offset; the rest of the lookup is ``OriginIndex``'s.
"""

from __future__ import annotations

import calendar
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.atomic import text_replacing
from crawler.errors import ArchiveError, CrawlerError
from crawler.warc.index import INDEX_SUFFIX, write_index
from crawler.warc.pages import Capture, OriginIndex
from crawler.warc.reader import RECOMPRESS_HINT, WarcRecord, read_record_at

__all__ = ["IndexEntry", "IndexedOrigins", "built_entries", "fresh_entries", "index_path"]

log = logging.getLogger(__name__)

REVISIT_MIME = "warc/revisit"  # cdxj-indexer's mime for a revisit record
NOT_INDEXABLE = (".arc", ".arc.gz")


@dataclass(frozen=True)
class IndexEntry:
    """One CDXJ line: a record of the file, where it is and what it holds."""

    url: str
    timestamp: str  # 14 digits, UTC (the WARC-Date to the second)
    offset: int
    length: int
    status: int | None  # None: no HTTP status (a resource or metadata record, a header-less revisit)
    mime: str | None
    digest: str | None  # WARC-Payload-Digest as written ("sha1:…")

    @property
    def rec_type(self) -> str:
        """``revisit``, ``response`` (a record with an HTTP status) or ``other``."""
        if self.mime == REVISIT_MIME:
            return "revisit"
        return "response" if self.status is not None else "other"

    @property
    def iso_date(self) -> str:
        """The WARC-Date to the second, as ``OriginIndex`` compares it: ``2026-12-02T20:10:19``."""
        t = self.timestamp
        return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}"

    @property
    def date_us(self) -> int:
        t = self.timestamp
        fields = (int(t[0:4]), int(t[4:6]), int(t[6:8]), int(t[8:10]), int(t[10:12]), int(t[12:14]))
        return calendar.timegm(fields) * 1_000_000


class IndexLineError(ValueError):
    """A CDXJ line that does not parse or does not fit the file."""


def index_path(warc: Path) -> Path:
    return warc.with_name(warc.name + INDEX_SUFFIX)


def fresh_entries(warc: Path) -> list[IndexEntry] | None:
    """The entries of ``warc``'s fresh index, in file order; None when it has none, it is stale or
    a line is damaged (logged with the index's name and the line)."""
    if warc.name.endswith(NOT_INDEXABLE):
        return None
    target = index_path(warc)
    try:
        warc_stat, index_stat = warc.stat(), target.stat()
    except OSError:  # no index (or none that can be looked at)
        return None
    if index_stat.st_mtime_ns < warc_stat.st_mtime_ns:
        log.info("%s: older than %s; not used", target, warc.name)
        return None
    try:
        with open(target, encoding="utf-8", errors="strict") as lines:
            return parse_entries(lines, warc.name, warc_stat.st_size, str(target))
    except IndexLineError as exc:
        log.warning("%s; the index is not used, %s is read instead", exc, warc.name)
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("%s: cannot read (%s); the index is not used, %s is read instead", target, exc, warc.name)
    return None


def built_entries(warc: Path) -> list[IndexEntry] | None:
    """Index ``warc`` with the crawl's indexer into ``<warc>.cdxj`` beside it; its entries in file
    order. None when the index cannot be written there (a read-only archive: reading the file
    whole costs less than indexing it), or the file cannot be indexed by offset (ARC, whole-file
    gzip, unreadable): the caller reads the file whole."""
    if warc.name.endswith(NOT_INDEXABLE):
        return None
    target = index_path(warc)
    text: io.StringIO | None = None
    try:
        with text_replacing(target) as out:  # opened first: a directory that cannot be written fails here
            text = io.StringIO()
            damages = write_index([warc], text)
            if any(RECOMPRESS_HINT in str(damage.error) for damage in damages):
                raise _NotByOffset  # records inside one gzip member have no offset of their own
            out.write(text.getvalue())
    except _NotByOffset:
        return None
    except CrawlerError as exc:
        log.info("%s: cannot index (%s); reading it whole", warc, exc)
        return None
    except OSError as exc:
        if text is None:
            log.info("%s: cannot write (%s); reading %s whole", target, exc.strerror or exc, warc.name)
            return None
        log.info("%s: cannot write (%s); its index is kept in memory", target, exc.strerror or exc)
    else:
        log.info("%s: indexed %s", target, warc.name)
    assert text is not None
    text.seek(0)
    try:
        return parse_entries(text, warc.name, warc.stat().st_size, f"{target} (just built)")
    except IndexLineError as exc:  # a line this reader cannot take back: the file itself still can be
        log.warning("%s; reading %s whole", exc, warc.name)
        return None


class _NotByOffset(Exception):
    """A file whose records cannot be read back by offset."""


def parse_entries(lines: Any, name: str, size: int, where: str) -> list[IndexEntry]:
    """The entries of the CDXJ ``lines`` of the file ``name`` (``size`` bytes), sorted by offset.

    Raises ``IndexLineError`` naming ``where`` and the line number."""
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("!"):  # pywb's "!meta" lines
            continue
        try:
            entry = _entry(line, name, size)
        except IndexLineError as exc:
            raise IndexLineError(f"{where} line {number}: {exc}") from None
        entries.append(entry)
    entries.sort(key=lambda entry: entry.offset)
    return entries


def _entry(line: str, name: str, size: int) -> IndexEntry:
    head, brace, rest = line.rstrip("\n").partition(" {")  # the JSON is last; a urlkey may hold a space
    parts = head.rsplit(" ", 1)
    if not brace or len(parts) != 2:
        raise IndexLineError("not a CDXJ line (urlkey timestamp {json})")
    timestamp, rest = parts[1], brace.lstrip() + rest
    if not (timestamp.isdigit() and len(timestamp) >= 14):
        raise IndexLineError(f"timestamp {timestamp[:30]!r} is not 14 digits")
    try:
        fields = json.loads(rest)
    except ValueError as exc:
        raise IndexLineError(f"its JSON does not parse ({exc})") from None
    if not isinstance(fields, dict):
        raise IndexLineError("its JSON is not an object")
    filename = fields.get("filename")
    if filename is not None and filename != name:
        raise IndexLineError(f"names the file {filename!r}, not {name!r}")
    try:
        url = fields["url"]
        offset, length = int(fields["offset"]), int(fields["length"])
        status = _status(fields.get("status"))
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexLineError(f"url, offset, length or status missing or not valid ({exc})") from None
    if not isinstance(url, str) or offset < 0 or length <= 0:
        raise IndexLineError("url, offset or length not valid")
    if offset + length > size:
        raise IndexLineError(f"the record at offset {offset} ends past the end of the file ({size} bytes)")
    mime, digest = fields.get("mime"), fields.get("digest")
    url = url.strip("<>")  # as WarcRecord.target_uri reads WARC 1.0's "<uri>"
    return IndexEntry(url, timestamp, offset, length, status,
                      mime if isinstance(mime, str) else None, digest if isinstance(digest, str) else None)


def _status(value: object) -> int | None:
    if value is None or value in ("", "-"):
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(f"status {value!r}")
    return int(value)


Place = tuple[str, int, int]


@dataclass
class IndexedOrigins(OriginIndex):
    """An ``OriginIndex`` of indexed files too (``note_entry``): their responses are known by
    (URI, date) and payload digest; a record id is read from the record when a revisit asks."""

    same_uri_date: dict[tuple[str, str], list[Capture]] = field(default_factory=dict)
    same_digest: dict[str, list[Capture]] = field(default_factory=dict)
    _ids: dict[Place, str | None] = field(default_factory=dict)

    def note_entry(self, path: str | os.PathLike[str], entry: IndexEntry) -> None:
        """Remember the ``response`` of ``entry`` (file order: the first capture of a key wins)."""
        if entry.rec_type != "response":
            return
        capture = Capture(os.fspath(path), entry.offset, 0, entry.url, entry.iso_date, entry.digest)
        self._add(capture)

    def _add(self, capture: Capture) -> None:
        if capture.uri and capture.date:
            key = (capture.uri, capture.date[:19])
            self.by_uri_date.setdefault(key, capture)
            self.same_uri_date.setdefault(key, []).append(capture)
        if capture.digest:
            self.by_digest.setdefault(capture.digest, capture)
            self.same_digest.setdefault(capture.digest, []).append(capture)

    def merge(self, later: OriginIndex) -> None:
        super().merge(later)
        if isinstance(later, IndexedOrigins):
            for key, captures in later.same_uri_date.items():
                self.same_uri_date.setdefault(key, []).extend(captures)
            for digest, captures in later.same_digest.items():
                self.same_digest.setdefault(digest, []).extend(captures)
            return
        for key, capture in later.by_uri_date.items():  # a file read whole: its ids are in by_id
            self.same_uri_date.setdefault(key, []).append(capture)
        for digest, capture in later.by_digest.items():
            self.same_digest.setdefault(digest, []).append(capture)

    def find(self, revisit: WarcRecord) -> Capture | None:
        refers_to = revisit.header("WARC-Refers-To")
        if refers_to and refers_to not in self.by_id:
            for capture in self._candidates(revisit):
                if self._record_id(capture) == refers_to:
                    self.by_id[refers_to] = capture
                    break
        return super().find(revisit)

    def _candidates(self, revisit: WarcRecord) -> list[Capture]:
        uri = (revisit.header("WARC-Refers-To-Target-URI") or "").strip("<>")
        date = (revisit.header("WARC-Refers-To-Date") or "").strip()[:19]
        digest = revisit.header("WARC-Payload-Digest") or ""
        found = self.same_uri_date.get((uri, date), []) + self.same_digest.get(digest, [])
        return list(dict.fromkeys(found))

    def _record_id(self, capture: Capture) -> str | None:
        place = (capture.path, capture.offset, capture.member_index)
        if place not in self._ids:
            try:
                record = read_record_at(capture.path, capture.offset, member_index=capture.member_index)
            except ArchiveError:
                self._ids[place] = None
            else:
                self._ids[place] = record.record_id
        return self._ids[place]
