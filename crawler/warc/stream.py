"""Byte streams under the record parser: one gzip member, or a plain (uncompressed) WARC.

Both keep the decompressed position so records can be located, and the gzip member stream
knows whether its member really ended (end marker and CRC seen) — warcio does not tell, which
is how it silently drops a cut tail (RELIABILITY H1, H2).
"""

from __future__ import annotations

import zlib
from typing import BinaryIO, Protocol, cast

from isal import isal_zlib

__all__ = ["GZIP_MAGIC", "ByteStream", "MemberStream", "PlainStream", "StreamDamage", "find_next"]

GZIP_MAGIC = b"\x1f\x8b\x08"
_READ_BYTES = 256 * 1024
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, cast("type[Exception]", isal_zlib.error))
_OUT_BYTES = 1024 * 1024


class StreamDamage(Exception):
    """The compressed stream is damaged at ``offset`` (internal: the reader names the file)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


class ByteStream(Protocol):
    position: int  # decompressed bytes consumed so far

    def read(self, size: int) -> bytes: ...

    def readline(self, limit: int) -> bytes: ...

    def peek(self, size: int) -> bytes: ...

    def at_end(self) -> bool: ...


class _Buffered:
    """A read buffer over a ``_more()`` source of bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._start = 0
        self.position = 0

    def _more(self) -> bytes:
        raise NotImplementedError

    def _fill(self) -> bool:
        data = self._more()
        if not data:
            return False
        if self._start > _OUT_BYTES:
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += data
        return True

    def _available(self) -> int:
        return len(self._buffer) - self._start

    def read(self, size: int) -> bytes:
        while self._available() < size and self._fill():
            pass
        end = self._start + min(size, self._available())
        data = bytes(self._buffer[self._start : end])
        self._start = end
        self.position += len(data)
        return data

    def readline(self, limit: int) -> bytes:
        checked = 0  # bytes after the read position known to hold no newline
        while True:
            end = self._start + min(self._available(), limit)
            found = self._buffer.find(b"\n", self._start + checked, end)
            if found >= 0:
                return self.read(found + 1 - self._start)
            checked = end - self._start
            if checked >= limit or not self._fill():
                return self.read(limit)

    def peek(self, size: int) -> bytes:
        """Up to ``size`` bytes ahead, without consuming them."""
        while self._available() < size and self._fill():
            pass
        return bytes(self._buffer[self._start : self._start + size])

    def at_end(self) -> bool:
        return self._available() == 0 and not self._fill()


class MemberStream(_Buffered):
    """The decompressed bytes of the gzip member that starts at ``offset`` in ``raw``."""

    def __init__(self, raw: BinaryIO, offset: int) -> None:
        super().__init__()
        raw.seek(offset)
        self._raw = raw
        self.offset = offset
        self._inflater = isal_zlib.decompressobj(16 + zlib.MAX_WBITS)  # ISA-L: ~5x zlib's speed
        self._fed = 0
        self.cut = False  # the file ended before the member did

    def _more(self) -> bytes:
        while not self._inflater.eof:
            data = self._inflater.unconsumed_tail
            if not data:
                data = self._raw.read(_READ_BYTES)
                self._fed += len(data)
                if not data:
                    self.cut = True
                    raise StreamDamage(
                        f"incomplete gzip member: the file ends "
                        f"{self._fed} bytes into it (cut while writing, or truncated)", self.offset)
            try:
                out = self._inflater.decompress(data, _OUT_BYTES)
            except _INFLATE_ERRORS as exc:
                message = f"damaged gzip member: {exc}"
                raise StreamDamage(message, self.offset) from exc
            if out:
                return out
        return b""

    @property
    def ended(self) -> bool:
        """Whether the member's end (marker and CRC) has been read."""
        return bool(self._inflater.eof)

    @property
    def end_offset(self) -> int:
        """The file offset just past this member (valid once the member has ended)."""
        return self.offset + self._fed - len(self._inflater.unused_data)

    def finish(self) -> int:
        """Read to the member's end (checking its CRC); return how many bytes were left over."""
        left = self._available()
        self._start = len(self._buffer)
        while self._fill():
            left += self._available()
            self._start = len(self._buffer)
        return left


class PlainStream(_Buffered):
    """An uncompressed WARC from ``offset``; ``position`` is the file offset."""

    def __init__(self, raw: BinaryIO, offset: int) -> None:
        super().__init__()
        raw.seek(offset)
        self._raw = raw
        self.position = offset

    def _more(self) -> bytes:
        return self._raw.read(_READ_BYTES)


def find_next(raw: BinaryIO, start: int, marker: bytes) -> int | None:
    """The offset of the first ``marker`` at or after ``start`` in ``raw``, or None."""
    raw.seek(start)
    carry = b""
    base = start
    while True:
        chunk = raw.read(_READ_BYTES)
        if not chunk:
            return None
        data = carry + chunk
        found = data.find(marker)
        if found >= 0:
            return base + found
        keep = len(marker) - 1
        carry = data[-keep:] if keep else b""
        base += len(data) - len(carry)
