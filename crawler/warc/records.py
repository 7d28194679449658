"""WARC records for one exchange, built with warcio's record builder (WARC/1.1).

Pure: no file I/O here. ``crawler.warc.writer`` compresses and stores what these return.
"""

from __future__ import annotations

import base64
import hashlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders, StatusAndHeadersParser

from crawler.decode import stored_headers, utc_fetch_time
from crawler.models import Exchange

__all__ = [
    "WARC_VERSION",
    "PayloadOrigin",
    "metadata_record",
    "payload_digest",
    "request_record",
    "response_record",
    "revisit_record",
    "warc_date",
    "warcinfo_record",
]

WARC_VERSION = "WARC/1.1"
WARC_FIELDS = "application/warc-fields"


@dataclass(frozen=True)
class PayloadOrigin:
    """The first capture of a payload: what a ``revisit`` record refers to."""

    uri: str
    date: str  # the original's WARC-Date, verbatim
    record_id: str | None = None


def payload_digest(body: bytes) -> str:
    """``sha1:<base32>``, the digest form warcio and most WARC tools write."""
    return _sha1_label(hashlib.sha1(body))


def _sha1_label(digest: Any) -> str:
    return "sha1:" + base64.b32encode(digest.digest()).decode("ascii")


_EMPTY_DIGEST = payload_digest(b"")


def _block_digest(http_headers: StatusAndHeaders, body: bytes) -> str:
    """The ``WARC-Block-Digest`` of an HTTP record: its header block then its body, as warcio
    writes them. Given to warcio so it does not read the body once more to compute it."""
    http_headers.compute_headers_buffer(None)
    digest = hashlib.sha1(http_headers.headers_buff)
    digest.update(body)
    return _sha1_label(digest)


def warc_date(moment: datetime) -> str:
    """WARC/1.1 date: UTC with microseconds, e.g. ``2026-11-21T10:00:00.123456Z``."""
    return utc_fetch_time(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _builder() -> RecordBuilder:
    return RecordBuilder(warc_version=WARC_VERSION)


def _http_response_headers(exchange: Exchange) -> StatusAndHeaders:
    statusline = f"{exchange.status} {exchange.reason}".rstrip()
    return StatusAndHeaders(statusline, list(stored_headers(exchange.response_headers)),
                            protocol=exchange.http_version)


def _http_request_headers(exchange: Exchange) -> StatusAndHeaders:
    parts = urlsplit(exchange.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = list(exchange.request_headers)
    if not any(name.lower() == "host" for name, _ in headers) and parts.netloc:
        headers.insert(0, ("Host", parts.netloc.rsplit("@", 1)[-1]))
    return StatusAndHeaders(f"{target} {exchange.http_version}", headers, protocol=exchange.method)


def _capture_headers(exchange: Exchange, rec_type: str) -> dict[str, str]:
    # The usual order (type, id, date, URI first), so a torn record's URI is readable early.
    headers = {
        "WARC-Type": rec_type,
        "WARC-Record-ID": StatusAndHeadersParser.make_warc_id(),
        "WARC-Date": warc_date(exchange.fetched),
        "WARC-Target-URI": exchange.url,
    }
    if exchange.ip_address:
        headers["WARC-IP-Address"] = exchange.ip_address
    return headers


def response_record(exchange: Exchange, digest: str) -> Any:
    """The ``response`` record: status line and headers as received, body as received."""
    headers = _capture_headers(exchange, "response")
    http_headers = _http_response_headers(exchange)
    headers["WARC-Payload-Digest"] = digest
    headers["WARC-Block-Digest"] = _block_digest(http_headers, exchange.body)
    if exchange.truncated:
        headers["WARC-Truncated"] = exchange.truncated
    return _builder().create_warc_record(
        exchange.url, "response", payload=BytesIO(exchange.body), length=len(exchange.body),
        warc_headers_dict=headers, http_headers=http_headers,
    )


def request_record(exchange: Exchange, concurrent_to: str) -> Any:
    """The ``request`` record, linked to its response by ``WARC-Concurrent-To``."""
    headers = _capture_headers(exchange, "request")
    http_headers = _http_request_headers(exchange)
    headers["WARC-Concurrent-To"] = concurrent_to
    headers["WARC-Payload-Digest"] = _EMPTY_DIGEST
    headers["WARC-Block-Digest"] = _block_digest(http_headers, b"")
    return _builder().create_warc_record(
        exchange.url, "request", payload=BytesIO(b""), length=0,
        warc_headers_dict=headers, http_headers=http_headers,
    )


def revisit_record(exchange: Exchange, digest: str, origin: PayloadOrigin) -> Any:
    """An identical-payload-digest ``revisit``: this response's headers, the payload elsewhere."""
    headers = _capture_headers(exchange, "revisit")
    if origin.record_id:
        headers["WARC-Refers-To"] = origin.record_id
    return _builder().create_revisit_record(
        exchange.url, digest, origin.uri, origin.date,
        http_headers=_http_response_headers(exchange), warc_headers_dict=headers,
    )


def _fields_block(fields: Mapping[str, str]) -> bytes:
    lines = []
    for name, value in fields.items():
        flat = " ".join(str(value).split())  # a field value may not contain a line break
        lines.append(f"{name}: {flat}\r\n")
    return "".join(lines).encode("utf-8")


def metadata_record(url: str, refers_to: str | None, fields: Mapping[str, str], date: datetime) -> Any:
    """A ``metadata`` record (warc-fields) tied to a capture by ``WARC-Refers-To``."""
    block = _fields_block(fields)
    headers = {"WARC-Date": warc_date(date), "Content-Type": WARC_FIELDS}
    if refers_to:
        headers["WARC-Refers-To"] = refers_to
    return _builder().create_warc_record(
        url, "metadata", payload=BytesIO(block), length=len(block),
        warc_content_type=WARC_FIELDS, warc_headers_dict=headers,
    )


def software_fields() -> dict[str, str]:
    from crawler import __version__

    return {
        "software": f"crawler/{__version__} (warcio/{metadata.version('warcio')}; "
        f"python/{platform.python_version()})",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
    }


def warcinfo_record(filename: str, info: Mapping[str, str], date: datetime) -> Any:
    """The ``warcinfo`` record that opens every file: software, crawl settings, robots policy."""
    fields = software_fields()
    fields.update(info)
    block = _fields_block(fields)
    headers = {"WARC-Date": warc_date(date), "WARC-Filename": filename}
    return _builder().create_warc_record(
        "", "warcinfo", payload=BytesIO(block), length=len(block),
        warc_content_type=WARC_FIELDS, warc_headers_dict=headers,
    )


def record_id(record: Any) -> str:
    """The ``WARC-Record-ID`` of a warcio record."""
    return str(record.rec_headers.get_header("WARC-Record-ID"))
