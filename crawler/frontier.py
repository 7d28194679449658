"""What to fetch next and what is done: the crawl state in SQLite under the archive directory.

One row per canonical URL (the table is the seen set) with its site, kind, depth, status
(``todo``, ``in_progress``, ``done``, ``failed``, ``skipped``) and reason, attempts, the time of
its next attempt and the page it was found on. Nothing per URL is held in Python memory
beyond the batch a caller has claimed.

Durability: WAL with ``synchronous=NORMAL``. A commit survives a crash of the process
(``kill -9``) because the WAL is written to the OS before ``commit()`` returns; only a power
loss can drop the last commits. Losing a ``done`` mark that way is safe, the URL is fetched
again (the WARC record it pointed at was fsynced first, and the article sink de-duplicates),
so FULL's extra fsync per commit buys nothing our invariants need.

``ArchiveLock`` keeps a second crawler out of the same archive directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from crawler.errors import (
    ArchiveLocked,
    CrawlerError,
    FrontierCorrupt,
    FrontierError,
    is_out_of_space,
    out_of_space,
)

if TYPE_CHECKING:
    from crawler.frontier_protocol import Halt
    from crawler.politeness import SharedPace
    from crawler.robots import SharedRobots

log = logging.getLogger(__name__)

STATE_DIR = "state"
DB_NAME = "frontier.sqlite"
LOCK_NAME = "crawler.lock"
SCHEMA_VERSION = "1"


class Status(StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class Kind(StrEnum):
    SEED = "seed"
    LISTING = "listing"
    FEED = "feed"
    SITEMAP = "sitemap"
    ARTICLE = "article"
    CONTINUATION = "continuation"


TERMINAL = (Status.DONE, Status.FAILED, Status.SKIPPED)


@dataclass(frozen=True)
class Shard:
    """Process ``index`` of ``count`` crawling one archive. Each host (pacing key) is given to
    one process for the run (``host_owners``) when a process first meets it in a claim, in
    turn: the n-th host to ``n % count``. So each host is paced, robots-checked and fetched by
    one process only, and the processes get equal numbers of hosts (a hash of the name gave
    58/42 with 50 hosts)."""

    index: int
    count: int
# Pages that change (listings, feeds, sitemaps, seeds): fetched again in each new round.
REFRESHED = (Kind.SEED, Kind.LISTING, Kind.FEED, Kind.SITEMAP)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS urls (
    id INTEGER PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    site TEXT NOT NULL,
    host TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ({", ".join(repr(k.value) for k in Kind)})),
    depth INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'todo'
        CHECK (status IN ({", ".join(repr(s.value) for s in Status)})),
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    discovered_from TEXT,
    extra TEXT,
    warc TEXT,
    warc_offset INTEGER,
    round INTEGER NOT NULL DEFAULT 0,
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS urls_due ON urls (status, host, next_attempt_at);
CREATE TABLE IF NOT EXISTS host_owners (host TEXT PRIMARY KEY, shard INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS host_pauses (host TEXT PRIMARY KEY, until REAL NOT NULL, reason TEXT NOT NULL);
"""
# Columns added after schema 1 was first written: (table, column, declaration), added on open.
_ADDED_COLUMNS = (("urls", "error", "TEXT"),)


@dataclass(frozen=True)
class NewUrl:
    """A URL to add to the frontier; ``url`` is already canonical.

    ``host`` is the pacing key (a host, or a registered domain for sites paced per domain);
    the URL's host when not given. ``extra`` holds small kind-specific data, e.g. the
    ``{page}`` template and page number of a listing page.
    """

    url: str
    site: str
    kind: Kind
    depth: int = 0
    discovered_from: str | None = None
    host: str | None = None
    extra: Mapping[str, Any] | None = None
    status: Status = Status.TODO  # SKIPPED/DONE record a URL settled without its own fetch
    reason: str | None = None


@dataclass(frozen=True)
class Claimed:
    """A URL handed to a worker: its row is ``in_progress`` until a ``mark_*`` call."""

    id: int
    url: str
    site: str
    host: str
    kind: Kind
    depth: int
    attempts: int
    discovered_from: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Row:
    """One frontier row as stored (for reports and tests)."""

    url: str
    site: str
    kind: Kind
    status: Status
    reason: str | None
    attempts: int
    next_attempt_at: float
    depth: int
    discovered_from: str | None


_REFRESHED_SQL = ", ".join(repr(kind.value) for kind in REFRESHED)


def state_dir(archive_dir: str | Path) -> Path:
    return Path(archive_dir) / STATE_DIR


def database_path(archive_dir: str | Path) -> Path:
    return state_dir(archive_dir) / DB_NAME


class ArchiveLock:
    """An exclusive ``flock`` on ``<archive>/state/crawler.lock`` holding the owner's pid.

    The kernel drops the lock when the process dies, so a crash never leaves it stuck.
    """

    def __init__(self, archive_dir: str | Path) -> None:
        self.path = state_dir(archive_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> ArchiveLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ArchiveLocked(
                f"archive dir {self.path.parent.parent} locked by pid {holder} ({self.path}); "
                "wait for that crawl to finish, stop it, or pass another --archive DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays, empty of meaning
            self._fd = None

    def __enter__(self) -> ArchiveLock:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def pace_key(url: str) -> str:
    """The default pacing key of a URL: its lower-case host."""
    return (urlsplit(url).hostname or "").lower()


class Frontier:
    """The SQLite frontier. Open with :meth:`open`; one instance per process and thread."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._cursor_host = ""
        self._owners: dict[str, int] = {}  # host → shard, as read or taken (fixed for the run)
        self.round = int(self._meta("round") or "0")

    # ------------------------------------------------------------ opening

    @classmethod
    def open(cls, archive_dir: str | Path, *, reset: bool = False) -> Frontier:
        """Open (or create) the frontier of ``archive_dir``.

        A damaged database raises :class:`FrontierCorrupt`; it is never replaced silently.
        ``reset=True`` moves a damaged (or any) database aside first and starts empty.
        """
        path = database_path(archive_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        if reset and path.exists():
            _move_aside(path)
        try:
            connection = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise _corrupt(path, exc) from exc
        try:
            _prepare(connection, path)
        except BaseException:
            connection.close()
            raise
        return cls(connection, path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Frontier:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------ adding

    def add(self, urls: Iterable[NewUrl], now: float | None = None) -> int:
        """Insert URLs not seen before; returns how many were new."""
        with self._transaction():
            return self._insert(urls, now)

    def _insert(self, urls: Iterable[NewUrl], now: float | None) -> int:
        """Insert new rows; a listing/feed/sitemap/seed settled in an earlier round is queued
        again (articles never are: a done article is never fetched twice)."""
        stamp = time.time() if now is None else now
        rows = [
            (
                new.url, new.site, (new.host or pace_key(new.url)), new.kind.value, new.depth,
                new.discovered_from, json.dumps(dict(new.extra)) if new.extra else None,
                new.status.value, new.reason, self.round, stamp, stamp,
            )
            for new in urls
        ]
        if not rows:
            return 0
        before = self._db.total_changes
        self._db.executemany(
            "INSERT INTO urls (url, site, host, kind, depth, discovered_from, extra, status, reason,"
            " round, added_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (url) DO UPDATE SET status = 'todo', reason = NULL, next_attempt_at = 0,"
            " round = excluded.round, depth = excluded.depth, extra = excluded.extra,"
            " discovered_from = excluded.discovered_from, updated_at = excluded.updated_at"
            f" WHERE urls.round < excluded.round AND urls.kind IN ({_REFRESHED_SQL})"
            " AND excluded.status = 'todo' AND urls.status IN ('done', 'failed', 'skipped')",
            rows,
        )
        return self._db.total_changes - before

    # ------------------------------------------------------------ runs and rounds

    def begin_run(self) -> int:
        """Start a run: after a run that completed, a new round (listings and feeds are fetched
        again); after one that was killed, interrupted or cut by --max-pages, the same round
        (a resume: nothing done is fetched again). Returns the round."""
        last = self._meta("last_run")
        current = int(self._meta("round") or "0")
        if last == "complete":
            current += 1
        with self._transaction():
            self._set_meta("round", str(current))
            self._set_meta("last_run", "running")
        self.round = current
        return current

    def end_run(self, complete: bool) -> None:
        """Record whether this run finished its round (nothing left due, not stopped early)."""
        with self._transaction():
            self._set_meta("last_run", "complete" if complete else "incomplete")

    def _meta(self, key: str) -> str | None:
        found = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------ claiming

    def release(self) -> int:
        """Put every ``in_progress`` row back to ``todo`` (a previous run died holding them)."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE urls SET status = 'todo', updated_at = ? WHERE status = 'in_progress'",
                (time.time(),),
            )
            return cursor.rowcount

    def claim(
        self, n: int, now: float, *, per_host: int = 1, exclude_hosts: Iterable[str] = (),
        sites: Iterable[str] | None = None, shard: Shard | None = None,
    ) -> list[Claimed]:
        """Up to ``n`` due ``todo`` URLs, at most ``per_host`` per pacing key, spread over hosts.

        Hosts are visited round-robin from where the last claim stopped, so no host starves;
        each visit is an index lookup, so a claim costs O(hosts visited), not O(frontier).
        ``sites`` limits the claim to those sites' URLs (``--sites``), ``shard`` to the hosts
        that process of the crawl owns (``crawl.processes``).
        """
        excluded = set(exclude_hosts)
        site_filter, site_params = "", cast(tuple[str, ...], ())
        if sites is not None:
            wanted = tuple(sites)
            site_filter = f" AND site IN ({', '.join('?' * len(wanted))})"
            site_params = wanted
        picked: list[sqlite3.Row | tuple[Any, ...]] = []
        for host in self._hosts_round_robin():
            if host in excluded or (shard is not None and self._owner(host, shard) != shard.index):
                continue
            self._cursor_host = host
            take = min(per_host, n - len(picked))
            picked.extend(self._db.execute(
                "SELECT id, url, site, host, kind, depth, attempts, discovered_from, extra FROM urls"
                " WHERE status = 'todo' AND host = ? AND next_attempt_at <= ?" + site_filter
                + " ORDER BY next_attempt_at, id LIMIT ?",
                (host, now, *site_params, take),
            ).fetchall())
            if len(picked) >= n:
                break
        if not picked:
            return []
        with self._transaction():
            self._db.executemany(
                "UPDATE urls SET status = 'in_progress', attempts = attempts + 1, updated_at = ?"
                " WHERE id = ?",
                [(now, row[0]) for row in picked],
            )
        return [_claimed(row) for row in picked]

    def _owner(self, host: str, shard: Shard) -> int:
        """The shard that owns ``host``, which is given the next turn when nobody has it yet."""
        owner = self._owners.get(host)
        if owner is None:
            with self._transaction():
                self._db.execute(
                    "INSERT OR IGNORE INTO host_owners (host, shard)"
                    " SELECT ?, (SELECT COUNT(*) FROM host_owners) % ?", (host, shard.count),
                )
                found = self._db.execute("SELECT shard FROM host_owners WHERE host = ?", (host,)).fetchone()
            owner = self._owners[host] = int(found[0])
        return owner

    def forget_owners(self) -> None:
        """Start of a run: no process owns a host yet."""
        with self._transaction():
            self._db.execute("DELETE FROM host_owners")
        self._owners.clear()

    def in_progress(self) -> int:
        """How many rows are claimed now (by this process or another of the same crawl)."""
        return int(self._db.execute("SELECT COUNT(*) FROM urls WHERE status = 'in_progress'").fetchone()[0])

    def _hosts_round_robin(self) -> Iterator[str]:
        """Distinct hosts with ``todo`` rows, from the cursor onwards, wrapping once."""
        start = self._cursor_host
        host = start
        wrapped = False
        while True:
            found = self._db.execute(
                "SELECT host FROM urls WHERE status = 'todo' AND host > ? ORDER BY host LIMIT 1",
                (host,),
            ).fetchone()
            if found is None:
                if wrapped or start == "":
                    return
                wrapped, host = True, ""
                continue
            host = found[0]
            if wrapped and host > start:
                return
            yield host
            if wrapped and host == start:
                return

    # ------------------------------------------------------------ finishing

    def mark_done(
        self, url_id: int, reason: str | None = None, *, warc: str | None = None,
        offset: int | None = None, settled: Iterable[NewUrl] = (),
    ) -> None:
        """``done`` (optionally ``done:<reason>``). Call only after the WARC records are fsynced.

        ``settled`` rows (e.g. an article's continuation pages) are recorded in the same
        transaction, so they are done exactly when this URL is.
        """
        self._finish(url_id, Status.DONE, reason, warc=warc, offset=offset, settled=settled)

    def mark_failed(self, url_id: int, reason: str) -> None:
        self._finish(url_id, Status.FAILED, reason)

    def mark_skipped(self, url_id: int, reason: str) -> None:
        self._finish(url_id, Status.SKIPPED, reason)

    def mark_internal_failure(self, url_id: int, error: str) -> bool:
        """``failed:internal``: an unexpected exception while processing the URL, kept in the
        row's ``error`` column. False when the row was no longer in progress (it was settled
        before the exception)."""
        with self._transaction():
            changed = self._db.execute(
                "UPDATE urls SET status = 'failed', reason = 'internal', error = ?, updated_at = ?"
                " WHERE id = ? AND status = 'in_progress'",
                (error, time.time(), url_id),
            ).rowcount
        return changed == 1

    def error_of(self, url: str) -> str | None:
        """The exception recorded for ``url`` by :meth:`mark_internal_failure`, if any."""
        found = self._db.execute("SELECT error FROM urls WHERE url = ?", (url,)).fetchone()
        return None if found is None or found[0] is None else str(found[0])

    # ------------------------------------------------------------ host pauses

    def pause_host(self, host: str, until: float, reason: str) -> None:
        """Keep ``host`` (a pacing key) unasked until ``until`` (epoch seconds), across runs:
        a ``Retry-After`` or a Crawl-delay outlives a stop and a resume. A later pause wins."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO host_pauses (host, until, reason) VALUES (?, ?, ?) ON CONFLICT (host)"
                " DO UPDATE SET until = excluded.until, reason = excluded.reason"
                " WHERE excluded.until > host_pauses.until",
                (host, until, reason),
            )

    def host_pauses(self, now: float) -> dict[str, tuple[float, str]]:
        """Pauses still running at ``now``: pacing key → (until, reason); ended ones are dropped."""
        with self._transaction():
            self._db.execute("DELETE FROM host_pauses WHERE until <= ?", (now,))
        rows = self._db.execute("SELECT host, until, reason FROM host_pauses ORDER BY host")
        return {host: (float(until), str(reason)) for host, until, reason in rows}

    def defer(self, url_id: int, next_attempt_at: float, reason: str | None = None) -> None:
        """Back to ``todo``, not to be claimed before ``next_attempt_at``."""
        with self._transaction():
            self._db.execute(
                "UPDATE urls SET status = 'todo', next_attempt_at = ?, reason = ?, updated_at = ?"
                " WHERE id = ? AND status = 'in_progress'",
                (next_attempt_at, reason, time.time(), url_id),
            )

    def requeue(self, url_ids: Iterable[int]) -> None:
        """Hand claimed rows back untouched (a stop before they were started)."""
        with self._transaction():
            self._db.executemany(
                "UPDATE urls SET status = 'todo', attempts = MAX(attempts - 1, 0), updated_at = ?"
                " WHERE id = ? AND status = 'in_progress'",
                [(time.time(), url_id) for url_id in url_ids],
            )

    def skip_where(self, site: str, reason: str) -> int:
        """Skip every unfinished URL of ``site`` (e.g. a site removed from the config)."""
        with self._transaction():
            return self._db.execute(
                "UPDATE urls SET status = 'skipped', reason = ?, updated_at = ?"
                " WHERE site = ? AND status IN ('todo', 'in_progress')",
                (reason, time.time(), site),
            ).rowcount

    def _finish(
        self, url_id: int, status: Status, reason: str | None, *, warc: str | None = None,
        offset: int | None = None, settled: Iterable[NewUrl] = (),
    ) -> None:
        with self._transaction():
            self._insert(settled, None)
            changed = self._db.execute(
                "UPDATE urls SET status = ?, reason = ?, warc = COALESCE(?, warc),"
                " warc_offset = COALESCE(?, warc_offset), updated_at = ?"
                " WHERE id = ? AND status = 'in_progress'",
                (status.value, reason, warc, offset, time.time(), url_id),
            ).rowcount
        if changed != 1:
            raise FrontierError(
                f"{self.path}: URL id {url_id} is not in progress, cannot mark it {status}; "
                "two crawlers on one archive dir? (the archive lock should prevent it)"
            )

    # ------------------------------------------------------------ reading

    def counts(self) -> dict[tuple[str, Status], int]:
        """(site, status) → number of URLs."""
        rows = self._db.execute("SELECT site, status, COUNT(*) FROM urls GROUP BY site, status")
        return {(site, Status(status)): count for site, status, count in rows}

    def reasons(self) -> dict[tuple[str, Status, str], int]:
        """(site, status, reason) → count, for rows that carry a reason."""
        rows = self._db.execute(
            "SELECT site, status, reason, COUNT(*) FROM urls WHERE reason IS NOT NULL"
            " GROUP BY site, status, reason"
        )
        return {(site, Status(status), reason): count for site, status, reason, count in rows}

    def next_due(self) -> float | None:
        """The earliest ``next_attempt_at`` among ``todo`` rows, or None when none is left."""
        row = self._db.execute("SELECT MIN(next_attempt_at) FROM urls WHERE status = 'todo'").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def has_due(self, now: float, sites: Iterable[str] | None = None) -> bool:
        sql = "SELECT 1 FROM urls WHERE status = 'todo' AND next_attempt_at <= ?"
        params: tuple[float | str, ...] = (now,)
        if sites is not None:
            wanted = tuple(sites)
            sql += f" AND site IN ({', '.join('?' * len(wanted))})"
            params += wanted
        return self._db.execute(sql + " LIMIT 1", params).fetchone() is not None

    def get(self, url: str) -> Row | None:
        found = self._db.execute(
            "SELECT url, site, kind, status, reason, attempts, next_attempt_at, depth, discovered_from"
            " FROM urls WHERE url = ?",
            (url,),
        ).fetchone()
        return None if found is None else _row(found)

    def rows(self, status: Status | None = None) -> Iterator[Row]:
        """Every row (or every row of one status), in insertion order, streamed."""
        sql = (
            "SELECT url, site, kind, status, reason, attempts, next_attempt_at, depth, discovered_from"
            " FROM urls"
        )
        params: tuple[str, ...] = ()
        if status is not None:
            sql, params = sql + " WHERE status = ?", (status.value,)
        for found in self._db.execute(sql + " ORDER BY id", params):
            yield _row(found)

    def sites(self) -> set[str]:
        return {site for (site,) in self._db.execute("SELECT DISTINCT site FROM urls")}

    # ------------------------------------------------------------ crawl-wide (FrontierStore)

    @property
    def shared(self) -> bool:
        """One archive's frontier: its peer processes (``crawl.processes``) wait on it through
        ``crawler.peers``, not through the store."""
        return False

    @property
    def worker(self) -> int | None:
        return None

    def halted(self) -> Halt | None:
        return None

    def pace(self) -> SharedPace | None:
        return None

    def robots(self) -> SharedRobots | None:
        return None

    # ------------------------------------------------------------ internals

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error; SQLite errors become FrontierError."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._path = path

    def __enter__(self) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as error:
            raise _corrupt(self._path, error) from error

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            try:
                self._db.execute("COMMIT")
                return
            except sqlite3.DatabaseError as error:
                exc = error
        if self._db.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL does)
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
        if isinstance(exc, sqlite3.DatabaseError):
            raise _corrupt(self._path, exc) from exc


def _prepare(connection: sqlite3.Connection, path: Path) -> None:
    try:
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = NORMAL")
        connection.execute("PRAGMA busy_timeout = 5000")
        problems = [row[0] for row in connection.execute("PRAGMA quick_check").fetchall()]
        if problems != ["ok"]:
            raise FrontierCorrupt(
                f"{path}: the frontier database is damaged ({'; '.join(problems[:3])}); "
                + _hint(path)
            )
        connection.executescript(_SCHEMA)
        _add_columns(connection)
        found = connection.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if found is None:
            connection.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif found[0] != SCHEMA_VERSION:
            raise FrontierError(
                f"{path}: frontier schema {found[0]}, this crawler reads {SCHEMA_VERSION}; "
                "use the crawler version that wrote it, or pass --reset-frontier"
            )
    except sqlite3.DatabaseError as exc:
        raise _corrupt(path, exc) from exc


def _add_columns(connection: sqlite3.Connection) -> None:
    """Columns newer than a database's first run (additive: older crawlers ignore them)."""
    for table, column, declaration in _ADDED_COLUMNS:
        present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


_HINT = (
    "the crawler will not start afresh on its own. Rebuild it from the archive's WARC files and "
    "articles.jsonl with `crawler recover --rebuild-frontier {archive}` (add --config FILE as for "
    "the crawl; done articles stay done), or pass --reset-frontier to move {path} aside and start "
    "empty (done URLs are then fetched again; articles.jsonl de-duplicates)"
)


def _hint(path: Path) -> str:
    return _HINT.format(path=path, archive=path.parent.parent)


def _corrupt(path: Path, exc: BaseException) -> CrawlerError:
    """A SQLite error as ours: a full disk is not damage (the database is intact: never
    suggest throwing it away), anything else that SQLite calls a database error is."""
    if is_out_of_space(exc):
        return out_of_space(f"{path} (the frontier)", exc)
    return FrontierCorrupt(f"{path}: the frontier database is damaged ({exc}); " + _hint(path))


def _move_aside(path: Path) -> None:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for suffix in ("", "-wal", "-shm"):
        part = Path(f"{path}{suffix}")
        if part.exists():
            target = Path(f"{path}.{stamp}.old{suffix}")
            part.rename(target)
            log.warning("moved %s aside to %s", part, target)


def _claimed(row: tuple[Any, ...] | sqlite3.Row) -> Claimed:
    url_id, url, site, host, kind, depth, attempts, found_on, extra = row
    return Claimed(
        id=url_id, url=url, site=site, host=host, kind=Kind(kind), depth=depth, attempts=attempts + 1,
        discovered_from=found_on, extra=json.loads(extra) if extra else {},
    )


def _row(found: tuple[Any, ...]) -> Row:
    url, site, kind, status, reason, attempts, next_at, depth, found_on = found
    return Row(
        url=url, site=site, kind=Kind(kind), status=Status(status), reason=reason, attempts=attempts,
        next_attempt_at=next_at, depth=depth, discovered_from=found_on,
    )
