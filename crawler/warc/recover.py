"""``crawler recover FILE.open``: close a WARC file a killed writer left open, keeping every
intact record.

A crawler killed while writing leaves ``<name>.warc.gz.open`` whose last gzip member may be
cut (RELIABILITY F2, F3), and a disk may flip a byte anywhere in it (fault matrix K8).
Recovery reads the file with the checking reader and keeps **every** intact record, the ones
after a damaged member too (the reader resyncs on the next member that starts a record):

* a torn tail (the last member, cut by the kill) is dropped, and the URLs readable in it are
  reported so the frontier fetches them again;
* any other damaged stretch (a member that does not inflate, a digest that does not match,
  bytes that are no record) is moved aside to ``<final>.offset-<N>.damaged``, byte for byte,
  never deleted;
* the kept members are copied to ``<final>.recovering``, fsynced and verified; only then is
  that renamed to the final name (never replacing a file) and the ``.open`` original removed.
  If anything fails before, the original is untouched, so the bytes stay until the result
  verifies.

The closed file is indexed as a closing writer would (``<file>.cdxj``, replacing the writer's
unsorted spool). The crawl runs the same recovery at start, under its archive lock;
``crawler recover`` takes that lock first (``lock_for``) and refuses a file a running crawl is
writing. ``complete_target_uris`` lists the URLs a file holds.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from crawler.errors import ArchiveWriteError, InputError
from crawler.warc.index import SPOOL_SUFFIX, index_closed_file
from crawler.warc.naming import OPEN_SUFFIX, final_name, fsync_dir
from crawler.warc.reader import Damage, iter_records
from crawler.warc.stream import GZIP_MAGIC, find_next
from crawler.warc.verify import verify_file

__all__ = ["RecoveryReport", "complete_target_uris", "lock_for", "recover_file"]

_HEAD_BYTES = 64 * 1024
_COPY_BYTES = 1024 * 1024
RECOVERING_SUFFIX = ".recovering"
DAMAGED_SUFFIX = ".damaged"


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover_file`` did to one file."""

    path: Path  # the .open file
    final: Path | None  # the closed file, or None when nothing complete was left (file removed)
    kept_records: int
    kept_bytes: int
    dropped_bytes: int  # the torn tail
    dropped_records: int  # members in the torn tail
    dropped_uris: tuple[str, ...]  # target URIs readable in what was dropped: fetch them again
    moved_aside: tuple[Path, ...] = ()  # damaged stretches, kept byte for byte
    damage: tuple[str, ...] = ()  # what the reader found, with offsets

    def __str__(self) -> str:
        where = self.final.name if self.final else "(removed: no complete record)"
        text = (f"{self.path.name} → {where}: kept {self.kept_records} records ({self.kept_bytes} bytes), "
                f"dropped {self.dropped_bytes} bytes in {self.dropped_records} records")
        if self.moved_aside:
            text += "; damaged bytes moved aside to " + ", ".join(path.name for path in self.moved_aside)
        if self.dropped_uris:
            text += "; to fetch again: " + " ".join(self.dropped_uris)
        for line in self.damage:
            text += f"\n  {line}"
        return text


@dataclass(frozen=True)
class _Layout:
    """Where the intact members of a file lie, and what is between and after them."""

    kept: list[tuple[int, int]]  # [start, end) ranges of intact members, merged
    gaps: list[tuple[int, int]]  # damaged stretches between intact members (or after the last)
    tail: tuple[int, int] | None  # a torn last member: dropped
    records: int
    damage: list[Damage]


def _layout(path: Path, size: int) -> _Layout:
    damage: list[Damage] = []
    kept: list[tuple[int, int]] = []
    records = 0
    for record in iter_records(path, on_damage=damage.append):
        if record.end_offset <= record.offset:
            continue  # inside a whole-file gzip: the writer never makes one; left to the gaps
        records += 1
        if kept and kept[-1][1] == record.offset:
            kept[-1] = (kept[-1][0], record.end_offset)
        else:
            kept.append((record.offset, record.end_offset))
    gaps = []
    position = 0
    for start, end in kept:
        if start > position:
            gaps.append((position, start))
        position = end
    tail = None
    if position < size:
        last = (position, size)
        if _torn_tail(damage, last):
            tail = last
        else:
            gaps.append(last)
    return _Layout(kept, gaps, tail, records, damage)


def _torn_tail(damage: list[Damage], stretch: tuple[int, int]) -> bool:
    """Whether the stretch after the last intact member is one member cut by the end of the file
    (what a kill leaves), not damage to keep."""
    inside = [d for d in damage if stretch[0] <= d.offset < stretch[1]]
    return len(inside) == 1 and inside[0].offset == stretch[0] and "incomplete gzip member" in str(inside[0])


def recover_file(path: str | os.PathLike[str]) -> RecoveryReport:
    """Close the ``.open`` WARC at ``path`` keeping every intact record (see the module docstring).

    The caller holds the archive lock (the crawl does; ``crawler recover`` takes ``lock_for``).
    """
    source = Path(path)
    if not source.name.endswith(OPEN_SUFFIX):
        raise InputError(f"{source}: not an .open file; recover only closes files a killed writer left "
                         "open (check a closed file with `crawler verify`)")
    if not source.is_file():
        raise InputError(f"{source}: no such file")
    with open(source, "rb") as raw:
        if raw.read(3) not in (GZIP_MAGIC, b""):
            raise InputError(f"{source}: not a gzip WARC; recover handles the crawler's .warc.gz files")
    size = source.stat().st_size
    layout = _layout(source, size)
    target = source.with_name(final_name(source.name))
    dropped_count, dropped_uris = _uris_in_tail(source, layout.tail[0]) if layout.tail else (0, [])
    kept_bytes = sum(end - start for start, end in layout.kept)
    moved = [_move_aside(source, target, gap) for gap in layout.gaps]
    final: Path | None = None
    if layout.kept:
        final = _write_verified(source, target, layout.kept, layout.records)
    source.unlink()
    fsync_dir(source.parent)
    source.with_name(target.name + SPOOL_SUFFIX).unlink(missing_ok=True)
    if final is not None:
        index_closed_file(final)
    tail_bytes = layout.tail[1] - layout.tail[0] if layout.tail else 0
    return RecoveryReport(source, final, layout.records, kept_bytes, tail_bytes, dropped_count,
                          tuple(dropped_uris), tuple(moved), tuple(str(d) for d in layout.damage))


def _write_verified(source: Path, target: Path, kept: list[tuple[int, int]], records: int) -> Path:
    """Copy ``kept`` to ``<target>.recovering``, fsync, verify, rename to ``target``."""
    if target.exists():
        if _holds(target, records, sum(end - start for start, end in kept)):
            return target  # a recovery killed between its rename and removing the original
        raise ArchiveWriteError(f"cannot close {source}: {target} exists already; rename it by hand")
    partial = target.with_name(target.name + RECOVERING_SUFFIX)
    partial.unlink(missing_ok=True)  # left by a recovery that was itself killed: the original is still there
    try:
        with open(source, "rb") as raw, open(partial, "xb") as out:
            for start, end in kept:
                _copy(raw, out, start, end)
            out.flush()
            os.fsync(out.fileno())
        if not _holds(partial, records, partial.stat().st_size):
            problems = "; ".join(verify_file(partial).lines()[1:])
            raise ArchiveWriteError(f"{source}: the recovered copy does not verify ({problems}); the "
                                    "original is left as it is")
        _link_no_replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return target


def _holds(path: Path, records: int, size: int) -> bool:
    """Whether ``path`` is ``size`` bytes of ``records`` intact records and nothing else (a digest
    that cannot be checked is no damage here: the original had it too)."""
    report = verify_file(path)
    return (path.stat().st_size == size and report.records == records
            and all(problem.unchecked for problem in report.problems))


def _move_aside(source: Path, target: Path, gap: tuple[int, int]) -> Path:
    """The damaged bytes of ``gap`` in ``<target>.offset-<start>.damaged``, fsynced."""
    aside = target.with_name(f"{target.name}.offset-{gap[0]}{DAMAGED_SUFFIX}")
    with open(source, "rb") as raw, open(aside, "wb") as out:
        _copy(raw, out, *gap)
        out.flush()
        os.fsync(out.fileno())
    return aside


def _copy(raw: BinaryIO, out: BinaryIO, start: int, end: int) -> None:
    raw.seek(start)
    left = end - start
    while left > 0:
        piece = raw.read(min(_COPY_BYTES, left))
        if not piece:
            raise ArchiveWriteError(f"{raw.name}: ended at {end - left} while copying to {out.name}")
        out.write(piece)
        left -= len(piece)


def _link_no_replace(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileExistsError as exc:
        raise ArchiveWriteError(f"cannot close {source}: {target} exists already; rename it by hand") from exc


@contextmanager
def lock_for(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the archive lock of the directory ``path`` is in while recovering it by hand.

    A running crawl holds it (``crawler.frontier.ArchiveLock``), so this raises ``ArchiveLocked``
    (exit 9) rather than close a file that crawl is still writing. A directory no crawl has
    used (no ``state/`` lock file) needs no lock.
    """
    from crawler.frontier import LOCK_NAME, ArchiveLock, state_dir

    directory = Path(path).resolve().parent
    if not (state_dir(directory) / LOCK_NAME).exists():
        yield
        return
    with ArchiveLock(directory):
        yield


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


def complete_target_uris(path: str | os.PathLike[str]) -> list[str]:
    """The target URIs of the complete ``response``/``revisit`` records in ``path``, in order."""
    uris = []
    for record in iter_records(path, on_damage=lambda _damage: None):
        if record.rec_type in ("response", "revisit") and record.target_uri:
            uris.append(record.target_uri)
    return uris
