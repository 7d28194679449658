"""What a crawl run is asked and what it reports: ``CrawlOptions`` (one ``crawler crawl``
invocation beyond the config), ``CrawlSummary`` (how a run ended), ``PeerResult`` (a peer
process's part of it) and ``Coordinator``, what the crawl loop asks of the processes it crawls
with (``crawler.peers`` implements it). The loop, the summary renderer and process management
all import this module; it imports none of them.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from crawler.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_SOME_FAILED
from crawler.frontier import Shard, Status
from crawler.outcomes import SiteProgress, failures, refusal
from crawler.sink import TornLine

if TYPE_CHECKING:
    from crawler.config import Config
    from crawler.health import Report


# ---------------------------------------------------------------- options, progress, summary


@dataclass(frozen=True)
class CrawlOptions:
    """What one ``crawler crawl`` invocation asks for, beyond the config file."""

    archive_dir: Path
    sites: tuple[str, ...] | None = None  # --sites; None = every enabled site
    seeds: tuple[str, ...] = ()  # --seed URL ...: instead of the configured seeds
    max_pages: int | None = None
    since: date | None = None
    reset_frontier: bool = False
    frontier: str | None = None  # --frontier redis://...; None: crawl.frontier (None: SQLite)
    crawl_name: str | None = None  # --crawl-name; None: crawl.name


ProgressCallback = Callable[[str, SiteProgress], None]


@dataclass(frozen=True)
class CrawlSummary:
    """The end of a run: the frontier's counts (cumulative, every run of the archive), this
    run's counts per site (``progress``), outputs, and why it stopped.

    ``deferrals``: (site, reason) → (URLs, earliest next attempt, epoch s) of queued URLs not
    due yet. ``unreachable``: site → {host: cause} for sites none of whose hosts answered
    (this run, or the last run when this one could not try again yet: ``unreachable_at``).
    """

    counts: dict[tuple[str, Status], int]
    reasons: dict[tuple[str, Status, str], int]
    progress: dict[str, SiteProgress]
    articles_written: int
    duplicates: int
    warcs: tuple[Path, ...]
    deferred: int  # todo rows with a next attempt later than the end of the run
    todo: int
    interrupted: bool
    hit_max_pages: bool
    torn: TornLine | None
    recovered: tuple[str, ...]
    robots_unavailable: tuple[str, ...]
    elapsed_s: float
    deferrals: dict[tuple[str, str], tuple[int, float]] = field(default_factory=dict)
    unreachable: dict[str, dict[str, str]] = field(default_factory=dict)
    unreachable_at: dict[str, float] = field(default_factory=dict)  # when a carried diagnosis was made
    started_at: float = 0.0  # epoch seconds
    proxies: tuple[str, ...] = ()  # the proxies requests went through (config or environment)
    paused_hosts: tuple[tuple[str, float, str], ...] = ()  # (pace key, until epoch, why) still paused
    health: Report | None = None  # the layout health of this run, recorded (crawler.health)

    def total(self, status: Status) -> int:
        """URLs of ``status`` in the frontier (every run)."""
        return sum(count for (_, s), count in self.counts.items() if s is status)

    def failed_this_run(self) -> int:
        return sum(failures(p.outcomes) for p in self.progress.values())

    def refused(self) -> dict[str, tuple[int, int]]:
        """Sites most of whose answers this run were 401/403/429 or a challenge page."""
        found = {site: refusal(p.outcomes) for site, p in self.progress.items()}
        return {site: counts for site, counts in found.items() if counts is not None}

    @property
    def exit_code(self) -> int:
        """11 interrupted; 3 when a URL failed, a site refused us or none of a site's hosts
        could be reached (this run); else 0 (crawler/errors.py, README "Exit codes")."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        if self.failed_this_run() or self.refused() or self.unreachable:
            return EXIT_SOME_FAILED
        return EXIT_OK


@dataclass(frozen=True)
class PeerResult:
    """What a peer reports when it ends: the parts of the summary the frontier does not hold."""

    progress: dict[str, SiteProgress]
    articles_written: int
    duplicates: int
    warcs: tuple[Path, ...]
    interrupted: bool
    hit_max_pages: bool
    robots_unavailable: tuple[str, ...]


class Coordinator(Protocol):
    """The other processes of a crawl with ``crawl.processes`` > 1, as the first process's loop
    sees them (``crawler.peers.Peers``)."""

    def start(self, config: Config, options: CrawlOptions) -> None:
        """Each peer crawls its shard (called once the seeds are in the frontier)."""
        ...

    def cut(self) -> None:
        """Claim nothing more; end once the pages in flight are done."""
        ...

    def stop(self, signals: int) -> None:
        """Pass on a stop: 1 finishes what is in flight, 2 stops at once."""
        ...

    def running(self) -> bool: ...

    def any_done(self) -> bool: ...

    def failed(self) -> bool: ...

    async def results(self) -> list[PeerResult]:
        """Wait for every peer; the first failure is raised."""
        ...

    def close(self) -> None:
        """Stop the peers at once and wait for them."""
        ...


def crawl_warcinfo(config: Config, sites: Iterable[str]) -> dict[str, str]:
    """The fields of the warcinfo record opening each WARC file of the crawl."""
    settings = config.crawl
    justification = f" ({settings.robots.justification})" if settings.robots.justification else ""
    info = {
        "http-header-user-agent": settings.user_agent,
        "robots": settings.robots.mode + justification,
        "crawl-interval-s": str(settings.interval_s),
        "sites": ", ".join(sites),
        "hostname": socket.gethostname(),
    }
    for number, warning in enumerate(config.warnings(), start=1):
        info[f"warning-{number}"] = warning
    return info


def share_of(max_pages: int | None, shard: Shard | None) -> int | None:
    """This process's part of ``--max-pages`` (the parts add up to it)."""
    if max_pages is None or shard is None:
        return max_pages
    return max_pages // shard.count + (1 if shard.index < max_pages % shard.count else 0)


def merged_progress(parts: Sequence[dict[str, SiteProgress]]) -> dict[str, SiteProgress]:
    """Per-site counts of several processes added up (the earliest start kept)."""
    merged: dict[str, SiteProgress] = {}
    for part in parts:
        for site_id, one in part.items():
            merged.setdefault(site_id, SiteProgress(started=one.started)).merge(one)
    return merged


__all__ = ["Coordinator", "CrawlOptions", "CrawlSummary", "PeerResult", "ProgressCallback", "SiteProgress",
           "crawl_warcinfo", "merged_progress", "share_of"]
