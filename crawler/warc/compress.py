"""gzip members for WARC records, at the level ``archive.gzip_level`` names.

gzip is the main CPU cost of archiving, so the level picks the engine as well as the effort
(numbers in bench/RESULTS.md, "Replay and WARC writing"):

====== ========================================= ==========================================
level  engine                                    measured on the fixture pages
====== ========================================= ==========================================
0      zlib, stored (no compression)             for debugging; files are as big as the data
1–3    ISA-L (``isal.isal_zlib``) at level 1–3   ~650 MB/s at levels 1–2, ratio ~0.215
4–9    zlib at that level (warcio uses 9)         level 6 ~64 MB/s, level 9 ~38 MB/s, ratio ~0.19
====== ========================================= ==========================================

Every engine writes standard gzip members that any inflater reads.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from isal import isal_zlib

__all__ = ["Compressor", "MemberSink", "new_compressor"]

_GZIP_WBITS = 16 + zlib.MAX_WBITS
ISAL_LEVELS = range(1, 4)


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self, mode: int = ..., /) -> bytes: ...


def new_compressor(level: int) -> Compressor:
    """A compressor that writes one gzip member at ``level`` (see the module table)."""
    if level in ISAL_LEVELS:
        compressor: Compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, _GZIP_WBITS)
        return compressor
    return zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)


class MemberSink:
    """A write-only stream for warcio's writer: everything written between two flushes
    becomes one gzip member, collected in memory until ``take()``.
    """

    def __init__(self, level: int) -> None:
        self._level = level
        self._compressor = new_compressor(level)
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(self._compressor.compress(data))
        return len(data)

    def flush(self) -> None:
        self._parts.append(self._compressor.flush())
        self._compressor = new_compressor(self._level)

    def take(self) -> bytes:
        """The finished member(s) written so far, and forget them."""
        member = b"".join(self._parts)
        self._parts.clear()
        return member
