"""A crawl run: the archive directory, the frontier and the round around the crawl loop.

``Crawl`` is what the CLI, the public API and the tests run. It takes the archive lock,
recovers WARC files left open, opens the frontier (SQLite under the archive, or Redis),
requeues what a killed run left in flight, adds the seeds, starts the peer processes of
``crawler.peers`` when ``crawl.processes`` > 1, runs this process's ``CrawlLoop`` until it
ends, closes the round, and builds the summary (recording the layout health under the lock).

Rounds: listings, feeds and sitemaps change, articles do not. A run that completes (nothing
due, not stopped, not cut by ``--max-pages``) ends a round; the next run starts a new one and
fetches the seeds again, while a run after a kill, a stop or ``--max-pages`` resumes the same
round. A done article is never fetched again in any round.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Unpack

from crawler.archivedir import check_writable, recover_open_warcs
from crawler.assemble import parse_since
from crawler.config import Config
from crawler.crawlrun import CrawlOptions, CrawlSummary, PeerResult, SiteProgress
from crawler.errors import full_disk_as_out_of_space
from crawler.frontier import ArchiveLock
from crawler.frontier_protocol import FrontierStore, open_store, skip_removed_sites
from crawler.health import record_crawl
from crawler.interrupts import signals_stop
from crawler.loop import CrawlLoop, LoopOptions
from crawler.peers import Peers, peer_main
from crawler.reporting import RunFacts, summarise

log = logging.getLogger(__name__)


class Crawl:
    """One crawl run over an archive directory: ``await Crawl(config, options).run()``.

    ``install_signal_handlers``: SIGINT/SIGTERM stop the run (the CLI sets it); the other
    arguments are the loop's (``LoopOptions``).
    """

    def __init__(self, config: Config, options: CrawlOptions, *, install_signal_handlers: bool = False,
                 **loop_options: Unpack[LoopOptions]) -> None:
        self.config = config
        self.options = options
        self._loop = CrawlLoop(config, options, **loop_options)
        self.sites = self._loop.sites
        self.progress = self._loop.progress
        self._install_signals = install_signal_handlers

    def request_stop(self) -> None:
        """Stop taking new work; in-flight URLs finish (a second call stops them too)."""
        self._loop.request_stop()

    async def run(self) -> CrawlSummary:
        """Run the crawl to its end (nothing due, --max-pages, or a stop); never half-closed.
        A full disk, wherever it is met, ends it with ``OutOfSpace`` (exit 8)."""
        with full_disk_as_out_of_space(str(self.options.archive_dir)):
            return await self._locked_run()

    async def _locked_run(self) -> CrawlSummary:
        started = time.monotonic()
        archive = self.options.archive_dir
        check_writable(archive)
        lock = ArchiveLock(archive).acquire()
        shard = self._loop.shard
        peers = Peers(shard.count, peer_main) if shard is not None else None  # early: imports overlap
        try:
            recovered = recover_open_warcs(archive)
            frontier = open_store(
                archive, url=self._loop.frontier_url,
                crawl=self.options.crawl_name or self.config.crawl.name, reset=self.options.reset_frontier,
                lease_s=self.config.crawl.lease_s, max_pages=self.options.max_pages,
            )
            try:
                facts = RunFacts(archive_dir=archive, site_ids=self._loop.site_ids,
                                 proxy=self.config.crawl.proxy, started=started, recovered=recovered)
                return await self._run_round(frontier, peers, facts)
            finally:
                frontier.close()
        finally:
            if peers is not None:
                peers.close()
            self._loop.close()
            lock.release()

    async def _run_round(self, frontier: FrontierStore, peers: Peers | None, facts: RunFacts) -> CrawlSummary:
        released = frontier.release()
        frontier.forget_owners()
        if released:
            log.warning("%d URLs were in progress when the last run stopped; queued again", released)
        skip_removed_sites(frontier, (site.id for site in self.config.sites))
        seeds = self._loop.seed_urls()  # before any file is opened: a bad --seed is a config error
        log.info("round %d (%s)", frontier.begin_run(), "resumed" if released else "started")
        others: list[PeerResult] = []
        async with self._loop.opened(frontier, shared_sink=False, peers=peers) as torn:
            log.info("%d seeds (%d new)", len(seeds), frontier.add(seeds))
            if peers is not None:
                peers.start(self.config, self.options)
            with signals_stop(self.request_stop, enabled=self._install_signals):
                interrupted = await self._loop.dispatch()
            if peers is not None:
                peers.cut()  # this process is done: the hosts it owns get no more claims
                others = await peers.results()
        own = self._loop.own_part(interrupted)
        cut_short = any(part.interrupted or part.hit_max_pages for part in (own, *others))
        frontier.end_run(not cut_short and not frontier.has_due(time.time(), facts.site_ids))
        summary = summarise(frontier, replace(facts, torn=torn), own, others)
        # recorded here, under the archive lock, once however many processes crawled
        ruled = {site.id for site in self.config.sites if site.generations}
        return replace(summary, health=record_crawl(self.options.archive_dir, summary, ruled))


__all__ = ["Crawl", "CrawlOptions", "CrawlSummary", "SiteProgress", "parse_since"]
