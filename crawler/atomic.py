"""Files written whole or not at all: under a temporary name beside the target, fsynced, then
renamed onto it. A reader sees the old file or the new one, never half of one; a process killed
midway leaves a hidden ``.<name>.<random>.tmp`` (``remove_temporaries`` clears them).

Errors are the caller's to word: an ``OSError`` (a full disk, a directory that cannot be
written) comes out as it is, with the temporary file removed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

TEMPORARY_GLOB = ".*.tmp"


@contextlib.contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path to write; when the block ends without error, what was written there
    is fsynced and renamed onto ``target``; otherwise it is removed."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        yield partial
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def text_replacing(target: Path) -> Iterator[TextIO]:
    """``replacing`` as an open UTF-8 text file."""
    with replacing(target) as partial:
        with open(partial, "w", encoding="utf-8") as out:
            yield out


def write_whole(target: Path, data: bytes) -> None:
    """``data`` at ``target``, whole or not at all."""
    with replacing(target) as partial:
        partial.write_bytes(data)


def remove_temporaries(directory: Path) -> None:
    """Temporary files left under ``directory`` by writers that died (call once none runs)."""
    for stale in directory.rglob(TEMPORARY_GLOB):
        stale.unlink(missing_ok=True)


__all__ = ["TEMPORARY_GLOB", "remove_temporaries", "replacing", "text_replacing", "write_whole"]
