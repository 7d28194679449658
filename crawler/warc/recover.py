"""``crawler recover FILE.open``: trim a torn tail to the last complete record and close the file.

A crawler killed while writing leaves ``<name>.warc.gz.open`` whose last gzip member may be
cut (RELIABILITY F2, F3). Recovery keeps every member up to the first one that is not a
complete, intact record, trims the rest with ``os.truncate``, fsyncs, and renames the file
to its final name (never replacing an existing file) and indexes it as a closing writer
would (``<file>.cdxj``, replacing the writer's unsorted spool). The report says how many bytes and
records were dropped and which URLs they held where that can still be read, so the frontier
can fetch them again; ``complete_target_uris`` lists the URLs a file does hold.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from crawler.errors import ArchiveWriteError, InputError
from crawler.warc.index import SPOOL_SUFFIX, index_closed_file
from crawler.warc.naming import OPEN_SUFFIX, final_name, fsync_dir
from crawler.warc.reader import iter_records
from crawler.warc.stream import GZIP_MAGIC, MemberStream, StreamDamage, find_next

__all__ = ["RecoveryReport", "complete_target_uris", "recover_file"]

_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover_file`` did to one file."""

    path: Path  # the .open file
    final: Path | None  # the closed file, or None when nothing complete was left (file removed)
    kept_records: int
    kept_bytes: int
    dropped_bytes: int
    dropped_records: int  # members past the trim point (the torn one included)
    dropped_uris: tuple[str, ...]  # target URIs readable in what was dropped: fetch them again

    def __str__(self) -> str:
        where = self.final.name if self.final else "(removed: no complete record)"
        text = (f"{self.path.name} → {where}: kept {self.kept_records} records ({self.kept_bytes} bytes), "
                f"dropped {self.dropped_bytes} bytes in {self.dropped_records} records")
        if self.dropped_uris:
            text += "; to fetch again: " + " ".join(self.dropped_uris)
        return text


def _intact_end(path: Path) -> tuple[int, int]:
    """(offset just past the last intact record before any damage, records up to it)."""
    records = 0
    last: int | None = None
    damaged: list[int] = []
    for record in iter_records(path, on_damage=lambda damage: damaged.append(damage.offset)):
        if damaged:
            break
        records += 1
        last = record.offset
    return (_member_end(path, last) if last is not None else 0), records


def _member_end(path: Path, offset: int) -> int:
    with open(path, "rb") as raw:
        member = MemberStream(raw, offset)
        member.finish()
        return member.end_offset


def _uris_in_tail(path: Path, start: int) -> tuple[int, list[str]]:
    """Members (whole or torn) from ``start``, and the target URIs that can be read in them."""
    count = 0
    uris: list[str] = []
    with open(path, "rb") as raw:
        offset: int | None = start
        while offset is not None:
            count += 1
            uri = _partial_target_uri(raw, offset)
            if uri and uri not in uris:
                uris.append(uri)
            offset = find_next(raw, offset + 1, GZIP_MAGIC)
    return count, uris


def _partial_target_uri(raw: BinaryIO, offset: int) -> str | None:
    """``WARC-Target-URI`` of the (possibly torn) member at ``offset``, if its line is whole."""
    raw.seek(offset)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        head = inflater.decompress(raw.read(_HEAD_BYTES), _HEAD_BYTES)
    except zlib.error:
        return None
    if not head.startswith(b"WARC/"):
        return None
    block, ended, _ = head.partition(b"\r\n\r\n")
    lines = block.split(b"\r\n")[1:]
    if not ended:
        lines = lines[:-1]  # the last line may be cut
    for line in lines:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"warc-target-uri" and value.strip():
            return value.strip().decode("utf-8", "replace")
    return None


def recover_file(path: str | os.PathLike[str]) -> RecoveryReport:
    """Trim the ``.open`` WARC at ``path`` to its last complete record and close it."""
    source = Path(path)
    if not source.name.endswith(OPEN_SUFFIX):
        raise InputError(f"{source}: not an .open file; recover only trims files a killed writer left open "
                         "(check a closed file with `crawler verify`)")
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    with open(source, "rb") as raw:
        if raw.read(3) not in (GZIP_MAGIC, b""):
            raise InputError(f"{source}: not a gzip WARC; recover handles the crawler's .warc.gz files")
    size = source.stat().st_size
    try:
        end, records = _intact_end(source)
    except StreamDamage:
        end, records = 0, 0
    dropped_count, dropped_uris = _uris_in_tail(source, end) if end < size else (0, [])
    _trim(source, end)
    final: Path | None = None
    if end > 0:
        final = _close(source)
    else:
        _remove(source)
    source.with_name(final_name(source.name) + SPOOL_SUFFIX).unlink(missing_ok=True)
    if final is not None:
        index_closed_file(final)
    return RecoveryReport(source, final, records, end, size - end, dropped_count, tuple(dropped_uris))


def _trim(path: Path, end: int) -> None:
    with open(path, "r+b") as handle:
        os.truncate(handle.fileno(), end)
        os.fsync(handle.fileno())


def _close(path: Path) -> Path:
    target = path.with_name(final_name(path.name))
    try:
        os.link(path, target)
    except FileExistsError as exc:
        raise ArchiveWriteError(f"cannot close {path}: {target} exists already; rename it by hand") from exc
    os.unlink(path)
    fsync_dir(path.parent)
    return target


def _remove(path: Path) -> None:
    path.unlink()
    fsync_dir(path.parent)


def complete_target_uris(path: str | os.PathLike[str]) -> list[str]:
    """The target URIs of the complete ``response``/``revisit`` records in ``path``, in order."""
    uris = []
    for record in iter_records(path, on_damage=lambda _damage: None):
        if record.rec_type in ("response", "revisit") and record.target_uri:
            uris.append(record.target_uri)
    return uris
