"""The HTTP message inside a WARC ``response``/``revisit`` block: status, headers, body.

Chunked bodies are found in WARCs both ways: still chunked with ``Transfer-Encoding: chunked``
(wget, warcprox) and de-chunked with the header left in place (pywb #584). ``body_payload``
de-chunks only when the bytes really are chunked, so both give the same payload (H11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crawler.models import find_header

__all__ = ["HttpResponse", "body_offset", "body_payload", "dechunk", "head_end", "parse_http_response"]

MAX_HTTP_HEAD_BYTES = 256 * 1024
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r?\n")
_HEAD_END = re.compile(rb"\r?\n\r*\n")


class HttpParseError(ValueError):
    """The block does not hold an HTTP response head."""


@dataclass(frozen=True)
class HttpResponse:
    version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body_offset: int  # where the body starts inside the block

    def header(self, name: str) -> str | None:
        return find_header(self.headers, name)

    @property
    def chunked(self) -> bool:
        value = self.header("transfer-encoding") or ""
        return "chunked" in value.lower()


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def head_end(block: bytes, *, complete: bool = True) -> tuple[int, int] | None:
    """(where the HTTP head ends, where the body starts) in ``block``, or None when the head
    does not end in the first ``MAX_HTTP_HEAD_BYTES`` (``complete``: ``block`` is the whole
    block, so a head that does not end there is headers only). Lines may end in LF, CRLF or, as
    some old tools wrote them (pywb's ``missing-status-text.warc``), CR CR LF."""
    found = _HEAD_END.search(block, 0, MAX_HTTP_HEAD_BYTES)
    if found is not None:
        return found.start(), found.end()
    if complete and len(block) < MAX_HTTP_HEAD_BYTES:
        return len(block), len(block)  # headers only (a revisit, or an empty body)
    return None


def _head_end(block: bytes) -> tuple[int, int]:
    found = head_end(block)
    if found is None:
        raise HttpParseError(f"no end of the HTTP headers in the first {MAX_HTTP_HEAD_BYTES} bytes")
    return found


def body_offset(block: bytes) -> int:
    """Where the body of the HTTP message (request or response) in ``block`` starts."""
    return _head_end(block)[1]


def parse_http_response(block: bytes) -> HttpResponse:
    """Status line and headers of the HTTP response that opens ``block``."""
    head_end, body_offset = _head_end(block)
    lines = block[:head_end].replace(b"\r\n", b"\n").split(b"\n")
    status_line = _text(lines[0]).strip()
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.strip().partition(" ")
    if not version.upper().startswith("HTTP/") or not code.isdigit():
        raise HttpParseError(f"not an HTTP status line: {status_line[:80]!r}")
    headers: list[tuple[str, str]] = []
    for raw_line in lines[1:]:
        if raw_line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {_text(raw_line).strip()}")
            continue
        name, sep, value = _text(raw_line).partition(":")
        if sep and name.strip():
            headers.append((name.strip(), value.strip()))
    return HttpResponse(version, int(code), reason.strip(), tuple(headers), body_offset)


def dechunk(body: bytes) -> bytes | None:
    """The de-chunked body, or None when ``body`` is not a complete chunked encoding."""
    out = bytearray()
    position = 0
    while True:
        match = _CHUNK_LINE.match(body, position)
        if match is None:
            return None
        size = int(match.group(1), 16)
        start = match.end()
        if size == 0:
            return bytes(out)
        end = start + size
        if end > len(body):
            return None
        out += body[start:end]
        position = end
        if body.startswith(b"\r\n", position):
            position += 2
        elif body.startswith(b"\n", position):
            position += 1
        else:
            return None


def body_payload(response: HttpResponse, block: bytes) -> bytes:
    """The body as received on the wire minus any chunked framing still stored in the WARC."""
    body = block[response.body_offset :]
    if response.chunked and _CHUNK_LINE.match(body):
        dechunked = dechunk(body)
        if dechunked is not None:
            return dechunked
    return body
