"""WARC records → ``Page``: the same value the crawl builds from a live exchange.

A ``response`` record gives its own status, headers and payload; a ``revisit`` record gives
its own status and headers with the payload of the original capture it refers to
(``WARC-Refers-To``, else ``WARC-Refers-To-Target-URI`` + ``-Date``, else the payload digest:
RELIABILITY C8, C9, H8, H9); a revisit with an empty block (no HTTP headers, as warcio's
``create_revisit_record`` writes it) takes its status and headers from the original too (P3).
The stored content-encoding is undone within ``max_decoded_bytes`` by ``crawler.decode``;
chunked bodies are handled whichever way they were stored (H11).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from crawler.decode import decode_body
from crawler.errors import ArchiveCorrupt, ArchiveError, ReplayError
from crawler.models import Page
from crawler.warc.http import HttpParseError, HttpResponse, body_payload, parse_http_response
from crawler.warc.reader import DEFAULT_MAX_BLOCK_BYTES, WarcRecord, read_record_at

__all__ = [
    "CAPTURE_TYPES", "Capture", "OriginIndex", "headerless_revisit", "original_status", "page_from_record",
]

CAPTURE_TYPES = ("response", "revisit")


@dataclass(frozen=True)
class Capture:
    """Where an original capture is: enough to read it again."""

    path: str
    offset: int
    member_index: int
    uri: str | None
    date: str | None
    digest: str | None


def _normal_date(value: str | None) -> str | None:
    # WARC-Refers-To-Date may be written with or without fractions; compare to the second.
    return value.strip()[:19] if value else None


@dataclass
class OriginIndex:
    """Response records by record id, by (target URI, date) and by payload digest."""

    by_id: dict[str, Capture] = field(default_factory=dict)
    by_uri_date: dict[tuple[str, str], Capture] = field(default_factory=dict)
    by_digest: dict[str, Capture] = field(default_factory=dict)

    def note(self, record: WarcRecord, path: str | os.PathLike[str]) -> None:
        """Remember ``record`` if it is a ``response`` that a revisit could refer to."""
        if record.rec_type != "response":
            return
        capture = Capture(os.fspath(path), record.offset, record.member_index, record.target_uri,
                          record.header("WARC-Date"), record.header("WARC-Payload-Digest"))
        if record.record_id:
            self.by_id.setdefault(record.record_id, capture)
        date = _normal_date(capture.date)
        if capture.uri and date:
            self.by_uri_date.setdefault((capture.uri, date), capture)
        if capture.digest:
            self.by_digest.setdefault(capture.digest, capture)

    def merge(self, later: OriginIndex) -> None:
        """Add the captures of ``later`` (an index of files after this one's): known keys keep
        their first capture, as ``note`` does."""
        for key, capture in later.by_id.items():
            self.by_id.setdefault(key, capture)
        for uri_date, capture in later.by_uri_date.items():
            self.by_uri_date.setdefault(uri_date, capture)
        for digest, capture in later.by_digest.items():
            self.by_digest.setdefault(digest, capture)

    def find(self, revisit: WarcRecord) -> Capture | None:
        """The original of ``revisit`` known to this index, or None."""
        digest = revisit.header("WARC-Payload-Digest")
        refers_to = revisit.header("WARC-Refers-To")
        if refers_to and refers_to in self.by_id:
            return self.by_id[refers_to]
        uri = (revisit.header("WARC-Refers-To-Target-URI") or "").strip("<>")
        date = _normal_date(revisit.header("WARC-Refers-To-Date"))
        if uri and date and (uri, date) in self.by_uri_date:
            return self.by_uri_date[(uri, date)]
        if digest and digest in self.by_digest:
            return self.by_digest[digest]
        return None


def _http(record: WarcRecord) -> HttpResponse:
    if record.block is None:
        raise ArchiveCorrupt(f"{record.where()}: record block above the reader's size cap; not replayed")
    try:
        return parse_http_response(record.block)
    except HttpParseError as exc:
        raise ArchiveCorrupt(f"{record.where()}: {exc}") from exc


def headerless_revisit(record: WarcRecord) -> bool:
    """A revisit whose block is empty (WARC 1.1 allows it; warcio's ``create_revisit_record``
    writes one when given no HTTP headers): its status and headers are the original's."""
    return record.rec_type == "revisit" and record.block is not None and not record.block.strip()


def original_status(capture: Capture | None) -> int:
    """The HTTP status of the original ``capture`` (200 while it is not known: an
    identical-payload revisit is of a full response; the page takes the original's own status)."""
    if capture is None:
        return 200
    try:
        original = read_record_at(capture.path, capture.offset, member_index=capture.member_index)
        return _http(original).status
    except ArchiveError:
        return 200


def load_original(revisit: WarcRecord, capture: Capture | None) -> WarcRecord:
    """The original ``response`` record of ``revisit``, checked to carry the same payload."""
    if capture is None:
        refers = revisit.header("WARC-Refers-To") or revisit.header("WARC-Refers-To-Target-URI") or "?"
        raise ReplayError(
            f"{revisit.where()}: original not found for revisit of {revisit.target_uri} (refers to {refers}, "
            f"payload {revisit.header('WARC-Payload-Digest') or '?'}); replay it together with the WARC "
            "files that hold the first capture"
        )
    original = read_record_at(capture.path, capture.offset, member_index=capture.member_index,
                              max_block_bytes=DEFAULT_MAX_BLOCK_BYTES)
    wanted = revisit.header("WARC-Payload-Digest")
    if wanted and original.header("WARC-Payload-Digest") not in (None, wanted):
        raise ReplayError(f"{revisit.where()}: the record it refers to ({original.where()}) has a different "
                          "payload digest; not replayed rather than give a wrong article")
    return original


def page_from_record(
    record: WarcRecord, *, max_decoded_bytes: int, original: WarcRecord | None = None
) -> Page:
    """The ``Page`` of a ``response`` record, or of a ``revisit`` record given its original.

    Raises ``ArchiveCorrupt`` for an unreadable HTTP message and a ``DecodeError`` subclass
    when the stored content-encoding cannot be undone within ``max_decoded_bytes``.
    """
    if headerless_revisit(record):
        if original is None:
            raise ReplayError(f"{record.where()}: a revisit without HTTP headers needs its original")
        response = _http(original)
    else:
        response = _http(record)
    payload_record = original if record.rec_type == "revisit" and original is not None else record
    payload_response = response if payload_record is record else _http(payload_record)
    assert payload_record.block is not None
    body = body_payload(payload_response, payload_record.block)
    headers = response.headers if response.headers else payload_response.headers
    decoded = decode_body(
        body,
        _header(payload_response.headers, "content-encoding"),
        max_decoded_bytes=max_decoded_bytes,
        where=f"{record.target_uri} ({record.where()})",
    )
    return Page(
        url=record.target_uri or "",
        body=decoded,
        status=response.status,
        headers=tuple((k, v) for k, v in headers if k.lower() != "transfer-encoding"),
        fetched=record.date,
        source=record.source,
    )


def _header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
