"""ARC records (the Internet Archive's format before WARC), read as WARC records.

An ARC file (``.arc`` or ``.arc.gz``, one gzip member per record) opens with a ``filedesc://``
record; each record is one header line, ``URL IP-address Archive-date Content-type
Archive-length`` (version 1) or ten fields ending in the length (version 2), then that many
bytes (for HTTP captures: the response as received), then a newline. The reader turns each
into the WARC headers warcio's ``arc2warc`` gives (``WARC-Type`` ``warcinfo`` for the
``filedesc`` record, ``response`` for an HTTP capture, else ``resource``), so verify, replay
and index read old archives like new ones. ARC records carry no digests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ARC_MAGIC", "ArcHeader", "arc_record_headers", "parse_arc_header"]

ARC_MAGIC = b"filedesc://"
_DATE = re.compile(r"[0-9]{12,14}")
_LENGTH = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class ArcHeader:
    url: str
    ip: str
    date: str  # YYYYmmddHHMMSS
    content_type: str
    length: int


def parse_arc_header(line: bytes) -> ArcHeader | None:
    """The header line of an ARC record, or None when ``line`` is not one."""
    fields = line.decode("utf-8", "replace").rstrip("\r\n").split(" ")
    if len(fields) not in (5, 10) or not _DATE.fullmatch(fields[2]) or not _LENGTH.fullmatch(fields[-1]):
        return None
    if "://" not in fields[0] and not fields[0].startswith(("dns:", "filedesc:")):
        return None
    return ArcHeader(fields[0], fields[1], fields[2], fields[3], int(fields[-1]))


def _iso(stamp: str) -> str:
    stamp = stamp.ljust(14, "0")
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}Z"


def arc_record_headers(header: ArcHeader, block_start: bytes) -> list[tuple[str, str]]:
    """WARC headers for the ARC record ``header`` whose block begins with ``block_start``."""
    if header.url.startswith("filedesc:"):
        rec_type, content_type = "warcinfo", header.content_type or "text/plain"
    elif header.url.startswith(("http:", "https:")) and block_start.startswith(b"HTTP/"):
        rec_type, content_type = "response", "application/http; msgtype=response"
    else:
        rec_type, content_type = "resource", header.content_type or "application/octet-stream"
    return [
        ("WARC-Type", rec_type),
        ("WARC-Target-URI", header.url),
        ("WARC-Date", _iso(header.date)),
        ("WARC-IP-Address", header.ip),
        ("Content-Type", content_type),
        ("Content-Length", str(header.length)),
    ]
