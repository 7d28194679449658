"""What a crawl run shows while it runs and what it reports at its end.

``ProgressReport`` passes each page's per-site counts to the display with the queue sizes
counted from the frontier at most once a second (a GROUP BY is too dear for every page);
``summarise`` builds the ``CrawlSummary`` from the frontier and the parts of the run (this
process's and its peers', each a ``PeerResult``). The loop calls both; neither knows the loop.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crawler.crawlrun import CrawlSummary, PeerResult, ProgressCallback, merged_progress
from crawler.frontier import STATE_DIR, Status
from crawler.frontier_protocol import FrontierStore
from crawler.outcomes import SiteProgress, deferrals, unreachable
from crawler.sink import TornLine
from crawler.transport import ProxyRoutes

QUEUE_COUNT_EVERY_S = 1.0  # how often the progress display's queue sizes are counted


class ProgressReport:
    """The worker's ``report`` hook: the display's callback, with queue sizes kept fresh."""

    def __init__(self, callback: ProgressCallback | None, progress: Mapping[str, SiteProgress],
                 frontier: FrontierStore) -> None:
        self._callback = callback
        self._progress = progress
        self._frontier = frontier
        self._counted = 0.0

    def __call__(self, site_id: str, progress: SiteProgress) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if now - self._counted >= QUEUE_COUNT_EVERY_S:
            self._counted = now
            count_queues(self._progress, self._frontier.counts())
        self._callback(site_id, progress)


def count_queues(progress: Mapping[str, SiteProgress], counts: Mapping[tuple[str, Status], int]) -> None:
    """Set each site's ``queued`` (todo and in progress) from the frontier's counts."""
    queued: Counter[str] = Counter()
    for (site, status), count in counts.items():
        if status in (Status.TODO, Status.IN_PROGRESS):
            queued[site] += count
    for site, one in progress.items():
        one.queued = queued[site]


@dataclass(frozen=True)
class RunFacts:
    """What the first process knows of the run beyond its parts."""

    archive_dir: Path
    site_ids: Collection[str]
    proxy: str | None  # the crawl.proxy setting
    started: float  # time.monotonic() at the start
    recovered: tuple[str, ...]  # WARC files recovered before the run
    torn: TornLine | None = None  # a torn last line of articles.jsonl, set aside at the start


def summarise(frontier: FrontierStore, facts: RunFacts, own: PeerResult,
              peers: Sequence[PeerResult] = ()) -> CrawlSummary:
    """The end of a run: the frontier as left, and every process's part added up."""
    parts = [own, *peers]
    now = time.time()
    elapsed = time.monotonic() - facts.started
    counts = frontier.counts()
    count_queues(own.progress, counts)  # the display's last frame shows the queues as they are left
    todo = sum(count for (_, status), count in counts.items() if status is Status.TODO)
    progress = merged_progress([part.progress for part in parts])
    waiting = deferrals(frontier, now)
    down, down_at = unreachable(facts.archive_dir / STATE_DIR, progress, waiting, now)
    return CrawlSummary(
        counts=counts,
        reasons=frontier.reasons(),
        progress=progress,
        articles_written=sum(part.articles_written for part in parts),
        duplicates=sum(part.duplicates for part in parts),
        warcs=tuple(sorted(path for part in parts for path in part.warcs)),
        deferred=0 if frontier.has_due(now, facts.site_ids) else todo,
        todo=todo,
        interrupted=any(part.interrupted for part in parts),
        hit_max_pages=any(part.hit_max_pages for part in parts),
        torn=facts.torn,
        recovered=facts.recovered,
        robots_unavailable=tuple(sorted({host for part in parts for host in part.robots_unavailable})),
        elapsed_s=elapsed,
        deferrals=waiting,
        unreachable=down,
        unreachable_at=down_at,
        started_at=now - elapsed,
        proxies=_proxies_without_credentials(facts.proxy),
        paused_hosts=tuple((key, *pause) for key, pause in frontier.host_pauses(now).items()),
    )


def _proxies_without_credentials(proxy: str | None) -> tuple[str, ...]:
    return tuple(sorted(re.sub(r"//[^/@]*@", "//", one) for one in ProxyRoutes.build(proxy, True).proxies()))


__all__ = ["ProgressReport", "RunFacts", "count_queues", "summarise"]
