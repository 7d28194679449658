"""WARC file names by the IIPC convention: ``<prefix>-<timestamp>-<serial>-<host>.warc.gz``.

The timestamp is ``YYYYmmddHHMMSSfff`` (UTC, milliseconds) of the moment the file was opened,
the serial counts files within one writer (five digits), and a file being written carries an
extra ``.open`` suffix until it is closed.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from crawler.errors import InputError

__all__ = [
    "OPEN_SUFFIX", "WARC_SUFFIXES", "final_name", "fsync_dir", "is_warc_name", "warc_file_name", "warc_paths",
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


def warc_paths(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files named, plus the WARC files under directories named (sorted by name)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and is_warc_name(p.name)))
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(f"{path}: no such file or directory; pass WARC files or directories of them")
    return found


def fsync_dir(directory: Path) -> None:
    """Make a file created, renamed or removed in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
