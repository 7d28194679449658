"""The frontier protocol: every operation the crawl loop asks of a frontier store.

Two stores implement it: ``crawler.frontier.Frontier`` (SQLite under the archive directory,
the default: one machine) and ``crawler.frontier_redis.RedisFrontier`` (one Redis for every
worker on every machine). ``tests/test_frontier_contract.py`` runs the same contract tests on
both. The value types (``NewUrl``, ``Claimed``, ``Row``, ``Status``, ``Kind``) live in
``crawler.frontier``.

``open_store`` opens the one a crawl is configured for (the stores are imported when asked for,
so this module loads neither).

The crawl-wide parts (``shared``, ``worker``, ``halted``, ``pace``) are what lets several
processes on several machines crawl one frontier; the SQLite store answers them as a
frontier of one process does (not shared, no worker number, never halted, local pacing).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from crawler.frontier import Claimed, NewUrl, Row, Shard, Status
    from crawler.politeness import SharedPace
    from crawler.robots import SharedRobots

log = logging.getLogger(__name__)
Halt = Literal["stop", "max_pages"]


class FrontierStore(Protocol):
    """What to fetch next and what is done (see ``crawler.frontier.Frontier`` for the
    semantics each method must keep; the contract tests pin them)."""

    round: int

    # ------------------------------------------------------------ runs and rounds
    def begin_run(self) -> int: ...
    def end_run(self, complete: bool) -> None: ...
    def release(self) -> int: ...
    def forget_owners(self) -> None: ...
    def close(self) -> None: ...

    # ------------------------------------------------------------ adding and claiming
    def add(self, urls: Iterable[NewUrl], now: float | None = None) -> int: ...
    def claim(
        self, n: int, now: float, *, per_host: int = 1, exclude_hosts: Iterable[str] = (),
        sites: Iterable[str] | None = None, shard: Shard | None = None,
    ) -> list[Claimed]: ...
    def requeue(self, url_ids: Iterable[int]) -> None: ...

    # ------------------------------------------------------------ finishing
    def mark_done(
        self, url_id: int, reason: str | None = None, *, warc: str | None = None,
        offset: int | None = None, settled: Iterable[NewUrl] = (),
    ) -> None: ...
    def mark_failed(self, url_id: int, reason: str) -> None: ...
    def mark_skipped(self, url_id: int, reason: str) -> None: ...
    def mark_internal_failure(self, url_id: int, error: str) -> bool: ...
    def pause_host(self, host: str, until: float, reason: str) -> None: ...
    def host_pauses(self, now: float) -> dict[str, tuple[float, str]]: ...
    def defer(self, url_id: int, next_attempt_at: float, reason: str | None = None) -> None: ...
    def skip_where(self, site: str, reason: str) -> int: ...

    # ------------------------------------------------------------ reading
    def counts(self) -> dict[tuple[str, Status], int]: ...
    def reasons(self) -> dict[tuple[str, Status, str], int]: ...
    def in_progress(self) -> int: ...
    def next_due(self) -> float | None: ...
    def has_due(self, now: float, sites: Iterable[str] | None = None) -> bool: ...
    def get(self, url: str) -> Row | None: ...
    def rows(self, status: Status | None = None) -> Iterator[Row]: ...
    def sites(self) -> set[str]: ...

    # ------------------------------------------------------------ crawl-wide
    @property
    def shared(self) -> bool:
        """Whether other processes (on any machine) claim from this frontier too, so an idle
        process waits for their pages in flight before it ends."""
        ...

    @property
    def worker(self) -> int | None:
        """This process's worker number (never reused in the crawl), or None."""
        ...

    def halted(self) -> Halt | None:
        """A crawl-wide end: ``stop`` (``crawler stop``) or ``max_pages`` (the crawl's
        ``--max-pages`` is spent); None while the crawl goes on."""
        ...

    def pace(self) -> SharedPace | None:
        """Books request slots crawl-wide (None: pacing is local to this process)."""
        ...

    def robots(self) -> SharedRobots | None:
        """Fetches robots.txt once per origin per TTL crawl-wide (None: per process)."""
        ...


def skip_removed_sites(store: FrontierStore, configured: Iterable[str]) -> None:
    """URLs of sites no longer in the config end ``skipped:site_removed`` (RELIABILITY G5)."""
    for site_id in sorted(store.sites() - set(configured)):
        count = store.skip_where(site_id, "site_removed")
        if count:
            log.warning("site %r is no longer configured: %d queued URLs skipped", site_id, count)


def open_store(
    archive_dir: str | Path, *, url: str | None = None, crawl: str = "crawl", reset: bool = False,
    lease_s: float = 60.0, max_pages: int | None = None,
) -> FrontierStore:
    """The frontier a crawl runs on: SQLite under ``archive_dir`` (``url`` None), or the Redis
    at ``url`` (``redis://HOST:PORT/DB``) shared by every worker of crawl ``crawl``, where
    ``max_pages`` is crawl-wide."""
    if url is None:
        from crawler.frontier import Frontier

        return Frontier.open(archive_dir, reset=reset)
    from crawler.frontier_redis import RedisFrontier

    return RedisFrontier.open(url, crawl, lease_s=lease_s, max_pages=max_pages)
