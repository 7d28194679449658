"""Article output: ``articles.jsonl`` under the archive directory, one JSON object per line.

Each line is written whole in one ``write``, then flushed and fsynced, so a crash can only
leave a torn *last* line; :meth:`JsonlSink.open` moves such a line to ``articles.jsonl.torn``
and reports it. Lines are de-duplicated across restarts by the article's canonical URL: a
page fetched twice (a crash after its line was written but before the frontier commit,
RELIABILITY F4 and R1) is written once, even when its bytes changed between the two fetches
(counters, ads, timestamps). Each article is in the file once; a newer capture of it lives
in the WARCs.

The key is rebuilt from the file itself at open (the URL of every line), 20 bytes per article.
``dedup_key`` (the digest of the article without its ``source``) is what replay
de-duplicates by: it replays every distinct capture of a URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from crawler.errors import SPACE_ERRNOS, InputError, ScopeViolation, out_of_space
from crawler.models import Article
from crawler.urls import DEFAULT_MAX_URL_LENGTH, canonicalize

log = logging.getLogger(__name__)

FILE_NAME = "articles.jsonl"
TORN_SUFFIX = ".torn"


@dataclass(frozen=True)
class TornLine:
    """What :meth:`JsonlSink.open` cut off the end of the file."""

    path: Path
    moved_to: Path
    offset: int
    size: int

    def describe(self) -> str:
        return (
            f"{self.path}: a torn last line ({self.size} bytes at offset {self.offset}) from an "
            f"interrupted run was moved to {self.moved_to}; its article is extracted again"
        )


def dedup_key(data: dict[str, Any]) -> bytes:
    """(url, digest of the article without ``source``) as 20 bytes."""
    content = {key: value for key, value in data.items() if key != "source"}
    text = json.dumps(content, ensure_ascii=False, sort_keys=True)
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


def url_key(data: dict[str, Any]) -> bytes:
    """The article's canonical URL as 20 bytes: what ``articles.jsonl`` holds once."""
    url = str(data.get("url") or "")
    try:
        url = canonicalize(url, max_length=max(DEFAULT_MAX_URL_LENGTH, len(url)))
    except ScopeViolation:
        pass  # not an http(s) URL (a line written by hand?): compared as it is spelled
    return hashlib.sha1(url.encode("utf-8"), usedforsecurity=False).digest()


class JsonlSink:
    """Appends articles to ``<archive>/articles.jsonl``; open with :meth:`open`."""

    def __init__(self, path: Path, handle: IO[bytes], keys: set[bytes], torn: TornLine | None) -> None:
        self.path = path
        self.torn = torn
        self.written = 0
        self.duplicates = 0
        self._handle = handle
        self._keys = keys
        self._lock = threading.Lock()  # WARC lane threads write articles concurrently
        self._unsynced = False

    @classmethod
    def open(cls, archive_dir: str | Path, *, shared: bool = False) -> JsonlSink:
        """Open for appending: repair a torn last line, then load the de-duplication keys.

        ``shared``: another process of the same crawl (which repaired the file) is appending
        now, so an unterminated last line is its line being written: left alone, not loaded.
        """
        path = Path(archive_dir) / FILE_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        torn = None if shared else repair_torn_tail(path)
        if torn is not None:
            log.warning(torn.describe())
        keys = _load_keys(path, complete_lines_only=shared)
        handle = path.open("ab", buffering=0)  # unbuffered: a failed write leaves nothing to flush later
        return cls(path, handle, keys, torn)

    def write(self, article: Article, *, sync: bool = True) -> bool:
        """Write one article (whole line, fsynced unless ``sync=False``: then ``sync()`` before
        relying on it); False when it is a duplicate. Thread-safe."""
        data = article.to_dict()
        key = url_key(data)
        line = (json.dumps(data, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if key in self._keys:
                self.duplicates += 1
                return False
            self._append(line)
            self._unsynced = True
            if sync:
                self._sync_locked()
            self._keys.add(key)
            self.written += 1
            return True

    def sync(self) -> None:
        """fsync the lines written since the last fsync (one fsync covers every thread's)."""
        with self._lock:  # held through the fsync: a caller that finds nothing unsynced is covered
            self._sync_locked()

    def _sync_locked(self) -> None:
        if self._unsynced:
            try:
                os.fsync(self._handle.fileno())
            except OSError as exc:
                if exc.errno in SPACE_ERRNOS:
                    raise out_of_space(f"{self.path}: fsync", exc) from exc
                raise
            self._unsynced = False

    def _append(self, line: bytes) -> None:
        """Write ``line`` whole, or (disk full) take back the part that landed and raise
        ``OutOfSpace``: the file keeps ending with a whole line."""
        fd = self._handle.fileno()
        done = 0
        try:
            while done < len(line):
                done += os.write(fd, line[done:])
        except OSError as exc:
            self._take_back(fd, done)
            if exc.errno in SPACE_ERRNOS:
                raise out_of_space(f"{self.path}: writing an article line", exc) from exc
            raise

    def _take_back(self, fd: int, landed: int) -> None:
        if not landed:
            return
        end = os.lseek(fd, 0, os.SEEK_CUR)  # O_APPEND: just past what this write put there
        if os.fstat(fd).st_size == end:  # nobody appended after it (another process of the crawl)
            os.ftruncate(fd, end - landed)
        else:
            log.warning("%s: a partial line at offset %d could not be taken back (another process "
                        "appended after it); the next start reports it", self.path, end - landed)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def repair_torn_tail(path: Path) -> TornLine | None:
    """Move an unterminated or unparsable last line to ``<path>.torn``; None if the file is whole."""
    if not path.exists():
        return None
    size = path.stat().st_size
    if size == 0:
        return None
    with path.open("rb") as handle:
        start = _last_line_start(handle, size)
        handle.seek(start)
        tail = handle.read()
    if tail.endswith(b"\n") and _parses(tail):
        return None
    moved_to = path.with_name(path.name + TORN_SUFFIX)
    with moved_to.open("ab") as aside:
        aside.write(tail if tail.endswith(b"\n") else tail + b"\n")
        aside.flush()
        os.fsync(aside.fileno())
    with path.open("r+b") as handle:
        handle.truncate(start)
        handle.flush()
        os.fsync(handle.fileno())
    return TornLine(path=path, moved_to=moved_to, offset=start, size=len(tail))


def _last_line_start(handle: IO[bytes], size: int) -> int:
    """Offset of the first byte after the last newline that ends a line before the tail."""
    end = size - 1  # ignore the file's final newline: it ends the last line
    block = 65536
    position = end
    while position > 0:
        start = max(0, position - block)
        handle.seek(start)
        chunk = handle.read(position - start)
        found = chunk.rfind(b"\n")
        if found >= 0:
            return start + found + 1
        position = start
    return 0


def _parses(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _load_keys(path: Path, *, complete_lines_only: bool = False) -> set[bytes]:
    keys: set[bytes] = set()
    if not path.exists():
        return keys
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if complete_lines_only and not line.endswith(b"\n"):
                break
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise InputError(
                    f"{path}:{number}: not a JSON object ({exc}); the sink only appends whole "
                    "lines, so this line was written by something else: fix or remove it"
                ) from exc
            if isinstance(data, dict):
                keys.add(url_key(data))
    return keys
