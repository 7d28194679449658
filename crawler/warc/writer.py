"""The WARC writer: every exchange as ``response`` (or ``revisit``) + ``request`` records.

Guarantees (RELIABILITY F1, F2, F3, F6, F9):

* one gzip member per record; a file opens with a ``warcinfo`` record;
* files are created with ``'xb'`` (never truncating an existing file: a name that exists
  moves on to the next serial), written as ``<name>.open`` and renamed when closed, without
  ever replacing an existing file;
* ``write_exchange`` returns only after its records are written and ``os.fsync``'d, so a URL
  marked done has its capture on disk; with ``sync=False`` the caller calls ``sync()`` before
  it relies on them (one fsync then covers every record written since the last one: the
  crawl's group commit);
* a failed write (``ENOSPC``, ``EFBIG``, ...) trims the file back with ``os.ftruncate`` to where
  the failed exchange began, leaving every earlier record byte-identical, and raises
  ``OutOfSpace`` / ``ArchiveWriteError``;
* rotation at ``archive.rollover_bytes``: an exchange's records never straddle two files;
* with ``index=True``, each closed file gets its CDXJ index beside it, made from the records
  as they were written (``crawler.warc.index.CdxjSpool``), not by reading the file back.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from warcio.warcwriter import WARCWriter

from crawler.errors import ArchiveWriteError, OutOfSpace
from crawler.faults import FaultInjector
from crawler.models import Exchange, Source, iso_utc
from crawler.warc import records
from crawler.warc.compress import MemberSink
from crawler.warc.index import CdxjSpool
from crawler.warc.naming import OPEN_SUFFIX, fsync_dir, warc_file_name
from crawler.warc.records import PayloadOrigin

if TYPE_CHECKING:  # crawler.config imports the extraction package; the writer needs only the type
    from crawler.config import ArchiveSettings

__all__ = ["WarcWriter"]

log = logging.getLogger(__name__)

_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
StreamWrapper = Callable[[BinaryIO], BinaryIO]


@dataclass
class _OpenFile:
    path: Path  # the .open path being written
    final: Path
    handle: BinaryIO  # the real file: truncate and fsync go here
    stream: BinaryIO  # where bytes are written (the handle, or a test wrapper around it)
    size: int
    records: int = 0
    index: CdxjSpool | None = None
    synced: int = 0  # bytes known to be on disk (fsynced)


@dataclass(frozen=True)
class _Member:
    """One record and its gzip member, as written."""

    record: Any  # a warcio record
    data: bytes


class WarcWriter:
    """Writes WARC/1.1 files into ``directory``; see the module docstring for the guarantees.

    ``known_payloads`` maps payload digests already archived (e.g. by an earlier run, see
    ``crawler.warc.payloads.scan_payloads``) to their first capture, so revisit detection
    survives a restart; it is used by reference, so writers given one dict share it.
    ``index`` writes each closed file's CDXJ index beside it (from the records as written).
    ``on_file_closed`` is called with each finished file, after its index. ``host`` goes
    into file names (default: this machine's name). ``wrap_stream`` (wraps the file object
    bytes go through) and ``clock`` are test hooks.
    """

    def __init__(
        self,
        directory: Path,
        settings: ArchiveSettings,
        *,
        warcinfo: Mapping[str, str],
        faults: FaultInjector | None = None,
        known_payloads: MutableMapping[str, PayloadOrigin] | None = None,
        index: bool = False,
        on_file_closed: Callable[[Path], None] | None = None,
        host: str | None = None,
        wrap_stream: StreamWrapper | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._directory = Path(directory)
        self._settings = settings
        self._warcinfo = dict(warcinfo)
        self._faults = faults if faults is not None else FaultInjector.from_env()
        # Used by reference: writers given the same dict (the crawl's lanes) share what they archived.
        self._payloads = known_payloads if known_payloads is not None else {}
        self._index = index
        self._on_file_closed = on_file_closed
        self._host = host
        self._wrap_stream = wrap_stream
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sink = MemberSink(settings.gzip_level)
        self._warcio = WARCWriter(self._sink, gzip=False, warc_version=records.WARC_VERSION)
        self._file: _OpenFile | None = None
        self._serial = 0
        self._closed: list[Path] = []

    # ------------------------------------------------------------------ public API

    def write_exchange(self, exchange: Exchange, *, sync: bool = True) -> Source:
        """Archive one exchange; return where its response (or revisit) record is.

        A payload already archived becomes a ``revisit`` (identical-payload-digest) record.
        Truncated and empty payloads are always stored in full. ``sync=False``: written, not
        yet fsynced (see ``sync``).
        """
        digest = records.payload_digest(exchange.body)
        origin = self._payloads.get(digest) if self._dedupable(exchange) else None
        if origin is not None:
            main = records.revisit_record(exchange, digest, origin)
        else:
            main = records.response_record(exchange, digest)
        main_id = records.record_id(main)
        members = [self._member(main), self._member(records.request_record(exchange, main_id))]
        offset = self._write_members(members, what=exchange.url, sync=sync)
        assert self._file is not None
        if origin is None and self._dedupable(exchange):
            self._payloads[digest] = PayloadOrigin(exchange.url, records.warc_date(exchange.fetched), main_id)
        return Source(warc=self._file.final.name, offset=offset, record_id=main_id,
                      fetched=iso_utc(exchange.fetched))

    def write_metadata(self, refers_to: Source, url: str, fields: Mapping[str, str], *,
                       sync: bool = True) -> None:
        """A ``metadata`` record for an article page (site, extractor generation, outcome)."""
        record = records.metadata_record(url, refers_to.record_id, fields, self._clock())
        self._write_members([self._member(record)], what=f"metadata for {url}", sync=sync)

    def sync(self) -> None:
        """fsync every record written since the last fsync (nothing to do if there is none).

        A failure trims the file back to what was already on disk and raises, as a failed
        write does; the records it dropped were never acknowledged as durable.
        """
        current = self._file
        if current is None or current.synced == current.size:
            return
        try:
            os.fsync(current.handle.fileno())
        except OSError as exc:
            if current.index is not None:  # it holds lines of the records being dropped
                current.index.discard()
                current.index = None
                log.warning("%s: its CDXJ index is left to `crawler index`", current.final)
            self._rollback(current, current.synced, exc, "the records written since the last fsync")
        current.synced = current.size

    def known_payloads(self) -> Mapping[str, PayloadOrigin]:
        """Payload digest → first capture, for every payload this writer knows to be archived."""
        return dict(self._payloads)

    @property
    def current_file(self) -> Path | None:
        """The ``.open`` file being written, if any."""
        return self._file.path if self._file else None

    def close(self) -> list[Path]:
        """Close the current file (rename ``.open`` → final); return every file this writer closed."""
        if self._file is not None:
            self._close_file(self._file)
            self._file = None
        return list(self._closed)

    def __enter__(self) -> WarcWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ records → members

    @staticmethod
    def _dedupable(exchange: Exchange) -> bool:
        return bool(exchange.body) and not exchange.truncated

    def _member(self, record: Any) -> _Member:
        self._warcio.write_record(record)
        return _Member(record, self._sink.take())

    # ------------------------------------------------------------------ files

    def _write_members(self, members: list[_Member], *, what: str, sync: bool = True) -> int:
        """Write ``members`` to one file (rotating first if they would overflow it); fsync.

        Returns the offset of the first member.
        """
        self._ensure_room(sum(len(member.data) for member in members))
        assert self._file is not None
        return self._write_members_to(self._file, members, what=what, sync=sync)

    def _write_member(self, current: _OpenFile, member: bytes) -> None:
        if self._faults.reached("mid_member_write"):
            _write_all(current.stream, member[: len(member) // 2])
            current.stream.flush()
            os.fsync(current.handle.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        _write_all(current.stream, member)
        current.stream.flush()
        current.size += len(member)
        self._faults.hit("after_member_write")

    def _rollback(self, current: _OpenFile, start: int, exc: OSError, what: str) -> None:
        try:
            os.ftruncate(current.handle.fileno(), start)
            current.handle.seek(start)
            os.fsync(current.handle.fileno())
        except OSError as trim_exc:
            raise ArchiveWriteError(
                f"{current.path}: writing {what} failed ({exc}) and trimming back to offset {start} "
                f"failed too ({trim_exc}); run `crawler recover {current.path}` once the disk is fixed"
            ) from exc
        current.size = start
        current.synced = min(current.synced, start)
        error = OutOfSpace if exc.errno in _SPACE_ERRNOS else ArchiveWriteError
        raise error(
            f"{current.path}: writing {what} failed at offset {start}: {exc.strerror or exc}; the file was "
            "trimmed back to its last complete record; free disk space and resume the crawl"
        ) from exc

    def _ensure_room(self, incoming: int) -> None:
        current = self._file
        limit = self._settings.rollover_bytes
        if current is not None and current.records > 1 and current.size + incoming > limit:
            self._close_file(current, rotating=True)
            self._file = None
        if self._file is None:
            self._file = self._open_next()

    def _open_next(self) -> _OpenFile:
        self._directory.mkdir(parents=True, exist_ok=True)
        opened = self._clock()
        while True:
            name = warc_file_name(self._settings.prefix, opened, self._serial, self._host)
            self._serial += 1
            final = self._directory / name
            path = self._directory / (name + OPEN_SUFFIX)
            if final.exists():
                log.warning("%s exists already; using the next serial", final)
                continue
            try:
                handle: BinaryIO = open(path, "xb", buffering=0)  # noqa: SIM115 - owned by _OpenFile
            except FileExistsError:
                log.warning("%s exists already; using the next serial", path)
                continue
            except OSError as exc:
                raise ArchiveWriteError(f"cannot create {path}: {exc.strerror or exc}; check the archive "
                                        "directory exists and is writable") from exc
            break
        stream = self._wrap_stream(handle) if self._wrap_stream else handle
        current = _OpenFile(path=path, final=final, handle=handle, stream=stream, size=0)
        fsync_dir(self._directory)
        log.info("writing %s", path)
        try:
            if self._index:
                current.index = CdxjSpool(final)
            info = self._member(records.warcinfo_record(final.name, self._warcinfo, opened))
            self._write_members_to(current, [info], what="warcinfo")
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)  # empty: nothing to keep
            if current.index is not None:
                current.index.discard()
            raise
        return current

    def _write_members_to(self, current: _OpenFile, members: list[_Member], *, what: str,
                          sync: bool = True) -> int:
        start = current.size
        try:
            for member in members:
                self._write_member(current, member.data)
            if sync:
                os.fsync(current.handle.fileno())
        except OSError as exc:
            self._rollback(current, start, exc, what)
        if sync:
            current.synced = current.size
        current.records += len(members)
        if current.index is not None:
            offset = start
            for member in members:
                current.index.add(member.record, offset, len(member.data))
                offset += len(member.data)
        return start

    def _close_file(self, current: _OpenFile, *, rotating: bool = False) -> None:
        try:
            current.stream.flush()
            os.fsync(current.handle.fileno())
        finally:
            current.handle.close()
        if rotating:
            self._faults.hit("during_rotation")
        _rename_no_replace(current.path, current.final)
        fsync_dir(self._directory)
        log.info("closed %s (%d records, %d bytes)", current.final, current.records, current.size)
        self._closed.append(current.final)
        if current.index is not None:
            self._faults.hit("before_index")
            self._write_index(current.final, current.index)
        if self._on_file_closed is not None:
            self._on_file_closed(current.final)


    @staticmethod
    def _write_index(final: Path, index: CdxjSpool) -> None:
        """A file's index is a convenience: a failure is logged, never stops the crawl."""
        try:
            index.finish()
        except OSError as exc:
            log.warning("%s: could not write its CDXJ index (%s); run `crawler index %s`", final, exc, final)


def _write_all(stream: BinaryIO, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = stream.write(view)
        if written is None:  # a non-blocking raw stream; files never do this
            raise OSError(errno.EAGAIN, "write would block")
        view = view[written:]


def _rename_no_replace(source: Path, target: Path) -> None:
    """Rename without ever replacing ``target`` (``os.rename`` would, silently)."""
    try:
        os.link(source, target)
    except FileExistsError as exc:
        raise ArchiveWriteError(f"cannot close {source}: {target} exists already; "
                                "it was left as it is, rename the .open file by hand") from exc
    except OSError:
        if target.exists():
            raise ArchiveWriteError(f"cannot close {source}: {target} exists already") from None
        os.rename(source, target)
        return
    os.unlink(source)

