"""WARC file names by the IIPC convention: ``<prefix>-<timestamp>-<serial>-<host>.warc.gz``.

The timestamp is ``YYYYmmddHHMMSSfff`` (UTC, milliseconds) of the moment the file was opened,
the serial counts files within one writer (five digits), and a file being written carries an
extra ``.open`` suffix until it is closed.
"""

from __future__ import annotations

import os
import re
import socket
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from crawler.errors import InputError

__all__ = [
    "ARCHIVE_SUFFIXES", "OPEN_SUFFIX", "WARC_SUFFIXES", "check_archive_file", "final_name", "fsync_dir",
    "is_warc_name", "warc_file_name", "warc_paths",
]

OPEN_SUFFIX = ".open"
WARC_SUFFIXES = (".warc.gz", ".warc")
_UNSAFE = re.compile(r"[^A-Za-z0-9.]+")


def _safe_host(host: str) -> str:
    # '-' separates the name's fields, so it may not appear inside one.
    return _UNSAFE.sub("_", host).strip("_") or "host"


def warc_file_name(prefix: str, opened: datetime, serial: int, host: str | None = None) -> str:
    """The final (closed) name of a WARC file."""
    stamp = opened.astimezone(UTC).strftime("%Y%m%d%H%M%S") + f"{opened.microsecond // 1000:03d}"
    return f"{prefix}-{stamp}-{serial:05d}-{_safe_host(host or socket.gethostname())}.warc.gz"


def final_name(name: str) -> str:
    """``name`` without the ``.open`` suffix."""
    return name[: -len(OPEN_SUFFIX)] if name.endswith(OPEN_SUFFIX) else name


def is_warc_name(name: str, *, include_open: bool = False) -> bool:
    """Whether ``name`` is a WARC file (``.warc`` / ``.warc.gz``, optionally ``.open``)."""
    if include_open:
        name = final_name(name)
    return name.endswith(WARC_SUFFIXES)


ARCHIVE_SUFFIXES = (*WARC_SUFFIXES, ".arc.gz", ".arc")  # what the reading verbs take from a directory


def warc_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named, plus the WARC and ARC files under directories named (sorted by name).

    Raises ``InputError`` for a path that does not exist, a directory without any WARC or ARC
    file, and a file named that is not a WARC or ARC file at all (``check_archive_file``)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(ARCHIVE_SUFFIXES))
            if not inside:
                raise InputError(f"{path}: no WARC or ARC files in this directory (looked for "
                                 f"{', '.join('*' + suffix for suffix in ARCHIVE_SUFFIXES)})")
            found.extend(inside)
        elif path.is_file():
            check_archive_file(path)
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or directory; pass WARC files or directories of them")
    return found


_GZIP_MAGIC = b"\x1f\x8b"
_RECORD_STARTS = (b"WARC/", b"filedesc://")


def check_archive_file(path: Path) -> None:
    """Raise ``InputError`` when ``path`` is not a WARC or ARC file at all (an HTML page, a
    text file): it neither starts a gzip stream nor a record. An empty or damaged WARC passes
    here; the reader reports it, with its offset."""
    try:
        with open(path, "rb") as handle:
            head: bytes | None = handle.read(64)
            if head is not None and head.startswith(_GZIP_MAGIC):
                handle.seek(0)
                head = _inflated_start(handle.read(64 * 1024))
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if head is None or not head or head.lstrip(b"\r\n").startswith(_RECORD_STARTS):
        return
    raise InputError(f"{path}: not a WARC or ARC file (it starts with {head[:24]!r}); pass WARC "
                     "(.warc, .warc.gz) or ARC (.arc, .arc.gz) files")


def _inflated_start(data: bytes) -> bytes | None:
    """The first inflated bytes of a gzip stream, or None when they cannot be had (damage:
    left to the reader to report)."""
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, 64)
    except zlib.error:
        return None


def fsync_dir(directory: Path) -> None:
    """Make a file created, renamed or removed in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
