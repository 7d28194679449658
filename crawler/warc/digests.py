"""Block and payload digests of WARC records: checked on a block in memory, or while a block
too big to keep streams past (``BlockDigests``), so a wrong digest is found at any size in
bounded memory (as warcio's ``DigestVerifyingReader`` does).

A digest is either checked (it matches, or a ``DigestProblem`` with ``checkable=True`` says it
does not) or cannot be checked: an algorithm hashlib does not know, one without a fixed length
(``shake_128``), a value that does not decode. ``warcio check`` reports those as problems too;
here they are a ``DigestProblem`` with ``checkable=False``: reported, but the record is still read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from crawler.models import find_header
from crawler.warc.http import MAX_HTTP_HEAD_BYTES, HttpParseError, body_offset, dechunk, head_end

__all__ = ["BlockDigests", "DigestProblem", "digest_problems"]

_HTTP_TYPES = ("response", "request", "revisit")
Headers = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class DigestProblem:
    message: str
    checkable: bool  # True: the digest does not match; False: it could not be checked


@dataclass(frozen=True)
class _Expected:
    header: str
    value: str
    algorithm: str
    digest: bytes

    def matches(self, *datas: bytes) -> bool:
        return any(hashlib.new(self.algorithm, data).digest() == self.digest for data in datas)

    def mismatch(self, what: str) -> DigestProblem:
        return DigestProblem(f"{self.header} {self.value} does not match the {what}", True)


def _expected(header: str, value: str) -> _Expected | DigestProblem:
    """The digest a header promises, or why it cannot be checked."""
    algorithm, sep, encoded = value.strip().partition(":")
    name = algorithm.lower().replace("-", "")
    if not sep or not encoded:
        return DigestProblem(f"{header} {value!r} is not of the form algorithm:value; not checked", False)
    try:
        size = hashlib.new(name).digest_size
    except (ValueError, TypeError):
        return DigestProblem(f"{header} {value!r}: unknown digest algorithm {algorithm!r}; not checked",
                             False)
    if size == 0:
        return DigestProblem(f"{header} {value!r}: {algorithm!r} has no fixed length; not checked", False)
    try:
        if len(encoded) == 2 * size:
            digest = bytes.fromhex(encoded)
        else:
            digest = base64.b32decode(encoded.upper() + "=" * (-len(encoded) % 8))
    except (ValueError, binascii.Error):
        digest = b""
    if len(digest) != size:
        return DigestProblem(f"{header} {value!r}: the value does not decode to a {algorithm} digest; "
                             "not checked", False)
    return _Expected(header, value, name, digest)


def _is_http(rec_type: str, headers: Headers) -> bool:
    content_type = (find_header(headers, "Content-Type") or "").lower()
    return rec_type in _HTTP_TYPES and content_type.startswith("application/http")


def digest_problems(rec_type: str, headers: Headers, block: bytes) -> list[DigestProblem]:
    """What is wrong with the block and payload digests of a record whose block is in memory."""
    problems: list[DigestProblem] = []
    block_value = find_header(headers, "WARC-Block-Digest")
    if block_value:
        expected = _expected("WARC-Block-Digest", block_value)
        if isinstance(expected, DigestProblem):
            problems.append(expected)
        elif not expected.matches(block):
            problems.append(expected.mismatch("block"))
    payload_value = find_header(headers, "WARC-Payload-Digest")
    if not payload_value or rec_type == "revisit":
        return problems
    expected = _expected("WARC-Payload-Digest", payload_value)
    if isinstance(expected, DigestProblem):
        return [*problems, expected]
    payloads = _payload_candidates(rec_type, headers, block)
    if payloads and not expected.matches(*payloads):
        problems.append(expected.mismatch("payload"))
    return problems


def _payload_candidates(rec_type: str, headers: Headers, block: bytes) -> list[bytes]:
    if not _is_http(rec_type, headers):
        return [block]
    try:
        body = block[body_offset(block) :]
    except HttpParseError:
        return []
    dechunked = dechunk(body) if body[:1].isalnum() else None
    return [body] if dechunked is None else [body, dechunked]


class BlockDigests:
    """The digests of one record's block, fed piece by piece (``update``), checked at the end
    (``problems``). Memory: two hash states and at most ``MAX_HTTP_HEAD_BYTES`` of HTTP head.

    A chunked HTTP payload is compared as stored (not de-chunked): a mismatch there cannot be
    told from the chunk framing and is not reported.
    """

    def __init__(self, rec_type: str, headers: Headers) -> None:
        self._problems: list[DigestProblem] = []
        self._block = self._start("WARC-Block-Digest", headers)
        self._payload = None if rec_type == "revisit" else self._start("WARC-Payload-Digest", headers)
        self._in_body = not _is_http(rec_type, headers)
        self._head = bytearray()
        self._chunked = False
        self._block_hasher = hashlib.new(self._block.algorithm) if self._block else None
        self._payload_hasher = hashlib.new(self._payload.algorithm) if self._payload else None

    def _start(self, header: str, headers: Headers) -> _Expected | None:
        value = find_header(headers, header)
        if not value:
            return None
        expected = _expected(header, value)
        if isinstance(expected, DigestProblem):
            self._problems.append(expected)
            return None
        return expected

    def update(self, piece: bytes) -> None:
        if self._block_hasher is not None:
            self._block_hasher.update(piece)
        if self._payload_hasher is None:
            return
        if self._in_body:
            self._payload_hasher.update(piece)
            return
        self._head += piece
        end = head_end(bytes(self._head[:MAX_HTTP_HEAD_BYTES]), complete=False)
        if end is None:
            if len(self._head) > MAX_HTTP_HEAD_BYTES:
                self._payload_hasher = None  # no HTTP head: nothing to compare the payload digest with
            return
        head, start = end
        self._chunked = b"chunked" in bytes(self._head[:head]).lower()
        self._in_body = True
        self._payload_hasher.update(bytes(self._head[start:]))
        self._head.clear()

    def problems(self) -> list[DigestProblem]:
        found = list(self._problems)
        if self._block is not None and self._block_hasher is not None:
            if self._block_hasher.digest() != self._block.digest:
                found.append(self._block.mismatch("block"))
        if self._payload is not None and self._payload_hasher is not None and self._in_body:
            if self._payload_hasher.digest() != self._payload.digest and not self._chunked:
                found.append(self._payload.mismatch("payload"))
        return found
