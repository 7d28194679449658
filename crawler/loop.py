"""The crawl loop: frontier → fetch → archive → discover or extract → sink → done.

One ``CrawlLoop`` runs a bounded number of workers (``crawl.concurrency``). A dispatcher claims
due URLs from the frontier spread over hosts, skipping hosts already at their concurrency cap;
each worker (``crawler.worker.PageWorker``) fetches its URL (``Fetcher``: scope, robots,
pacing, retries, redirects), writes every exchange to WARC, then

* a listing, feed or sitemap: discovers links and adds them to the frontier;
* an article: fetches the rest of a multi-page article (``Extractor.continuation``),
  extracts, writes a ``metadata`` record and the article to ``articles.jsonl``;

then fsyncs the WARC file and ``articles.jsonl`` (one fsync serves every page written since
the last: a group commit) and only then marks the URL done (no false done). Every URL
ends ``done``, ``failed:<reason>``, ``skipped:<reason>`` or stays ``todo`` with a
``next_attempt_at`` (a deferral), and the run ends by itself when nothing is due.

Crash safety: a ``kill -9`` leaves claimed rows ``in_progress``; the next run releases them,
recovers ``.open`` WARC files and fetches those URLs again. Discovered links are committed
before the page they came from is marked done, so nothing is lost between the two.

Rounds: listings, feeds and sitemaps change, articles do not. A run that completes (nothing
due, not stopped, not cut by ``--max-pages``) ends a round; the next run starts a new one and
fetches the seeds again, while a run after a kill, a stop or ``--max-pages`` resumes the same
round. A done article is never fetched again in any round.

Threads: WARC writing runs on ``crawl.warc_writers`` lanes (each a thread with its own WARC
file; one by default: with the group commit more lanes only add GIL contention), parsing and
extraction on one CPU thread, so the event loop keeps pacing on time; the SQLite frontier
stays on the event-loop thread (``crawler.durability``). Processes: ``crawl.processes`` is
``crawler.pipeline.Crawl``, this loop with the peer processes of ``crawler.peers``; the archive
directory's care before a run is ``crawler.archivedir``; options and summary ``crawler.crawlrun``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
import socket
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import httpx

from crawler.archivedir import check_writable, recover_open_warcs
from crawler.assemble import AssemblyRules
from crawler.config import Config, Site
from crawler.crawlrun import (
    Coordinator,
    CrawlOptions,
    CrawlSummary,
    PeerResult,
    ProgressCallback,
    merged_progress,
    share_of,
)
from crawler.discover import Limits
from crawler.durability import GroupCommit, WarcLanes, in_thread
from crawler.errors import (
    ConfigError,
    OutOfSpace,
    UsageError,
    full_disk_as_out_of_space,
)
from crawler.extract import Extractor
from crawler.faults import FaultInjector
from crawler.fetch import Fetcher
from crawler.frontier import STATE_DIR, ArchiveLock, Claimed, Frontier, Shard, Status
from crawler.frontier_protocol import FrontierStore, open_store
from crawler.health import record_crawl
from crawler.linkpolicy import LinkPolicy
from crawler.models import Exchange
from crawler.outcomes import SiteProgress, deferrals, unreachable
from crawler.scope import Resolver, Scope, system_resolver
from crawler.sink import JsonlSink
from crawler.transport import ProxyRoutes
from crawler.worker import PageWorker

log = logging.getLogger(__name__)

# httpcore scans a pool's requests × connections on every request, so one pool for many hosts
# gets slow; hosts are spread over this many pools (a pool is cheap: its connections are the
# cost). 50 hosts × 32 requests at once: 64 → 256 pools cut the scans (is_idle calls) 5×.
CONNECTION_POOLS = 256
OTHERS_POLL_S = 0.05  # how often an idle process of a multi-process crawl looks for new work
QUEUE_COUNT_EVERY_S = 1.0  # how often the progress display's queue sizes are counted
P = ParamSpec("P")
T = TypeVar("T")


# ---------------------------------------------------------------- the crawl


class CrawlLoop:
    """One crawl run over an archive directory, in one process. Use
    ``await crawler.pipeline.Crawl(...).run()``, which adds the peer processes.

    ``transport`` and ``resolver`` replace the network and DNS (tests); ``client_shards``
    is how many connection pools hosts are spread over (see ``Fetcher``). ``shard`` is set in
    a peer process of a crawl with ``crawl.processes`` > 1 (``crawler.peers``).
    """

    def __init__(
        self,
        config: Config,
        options: CrawlOptions,
        *,
        progress: ProgressCallback | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver = system_resolver,
        faults: FaultInjector | None = None,
        client_shards: int | None = None,
        install_signal_handlers: bool = False,
        shard: Shard | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.sites = _selected_sites(config, options.sites)
        self._site_ids = {site.id for site in self.sites}
        self._progress_callback = progress
        self._transport = transport
        self._resolver = resolver
        self._faults = faults if faults is not None else FaultInjector.from_env()
        self._shards = client_shards or CONNECTION_POOLS
        self._install_signals = install_signal_handlers
        self._frontier_url = options.frontier or config.crawl.frontier
        # on a Redis frontier every process is a worker of its own (crawl.processes is for SQLite)
        processes = config.crawl.processes if self._frontier_url is None else 1
        # with several processes, this one is shard 0 unless it was started as a peer
        self._shard = shard if shard is not None else (Shard(0, processes) if processes > 1 else None)
        # a Redis frontier counts --max-pages crawl-wide
        self._budget = share_of(options.max_pages, self._shard) if self._frontier_url is None else None
        self._peers: Coordinator | None = None
        self._cut = False  # with several processes: another one has ended, claim nothing more
        self._extractor = Extractor(self.sites)
        self._assembly_rules = AssemblyRules(self._extractor, config.crawl.max_url_length, options.since)
        settings = config.crawl
        self._scope = Scope.build(self.sites, config.network.allow_private_addresses, settings.max_url_length)
        self._links = LinkPolicy(self.sites, self._extractor, self._scope, settings, seeds=options.seeds,
                                 since=options.since)
        self._limits = Limits(settings.max_url_length, settings.max_sitemap_urls, settings.max_sitemap_bytes)
        self.progress: dict[str, SiteProgress] = {site.id: SiteProgress() for site in self.sites}
        self._stop = asyncio.Event()
        self._hard_stop = asyncio.Event()
        self._signals = 0
        self._claimed_total = 0
        self._hit_max_pages = False
        self._queue_counted = 0.0
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawler-cpu")
        self._cpu_sync = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawler-sync")
        # set in run()
        self._frontier: FrontierStore
        self._warcs: WarcLanes
        self._commit: GroupCommit
        self._sink: JsonlSink
        self._fetcher: Fetcher
        self._worker: PageWorker

    # ------------------------------------------------------------ public

    def request_stop(self) -> None:
        """Stop taking new work; in-flight URLs finish (a second call stops them too)."""
        self._signals += 1
        if self._peers is not None:
            self._peers.stop(self._signals)
        if self._signals == 1:
            log.warning("stopping: finishing the pages in flight (interrupt again to stop at once)")
        else:
            log.warning("stopping at once: pages in flight are queued again")
            self._hard_stop.set()
        self._stop.set()

    async def run(self) -> CrawlSummary:
        """Run the crawl to its end (nothing due, --max-pages, or a stop); never half-closed.
        A full disk, wherever it is met, ends it with ``OutOfSpace`` (exit 8)."""
        with full_disk_as_out_of_space(str(self.options.archive_dir)):
            return await self._run()

    async def _run(self) -> CrawlSummary:
        started = time.monotonic()
        archive = self.options.archive_dir
        check_writable(archive)
        lock = ArchiveLock(archive).acquire()
        if self._shard is not None:
            self._peers = self._start_peers(self._shard.count)
        try:
            recovered = recover_open_warcs(archive)
            self._frontier = open_store(
                archive, url=self._frontier_url, crawl=self.options.crawl_name or self.config.crawl.name,
                reset=self.options.reset_frontier, lease_s=self.config.crawl.lease_s,
                max_pages=self.options.max_pages,
            )
            try:
                return await self._run_open(started, recovered)
            finally:
                self._frontier.close()
        finally:
            if self._peers is not None:
                self._peers.close()
            self._stop_threads()
            lock.release()

    # ------------------------------------------------------------ setup and teardown

    async def _run_open(self, started: float, recovered: tuple[str, ...]) -> CrawlSummary:
        released = self._frontier.release()
        self._frontier.forget_owners()
        if released:
            log.warning("%d URLs were in progress when the last run stopped; queued again", released)
        self._forget_removed_sites()
        seeds = self._links.seed_urls()  # before any file is opened: a bad --seed is a config error
        round_ = self._frontier.begin_run()
        log.info("round %d (%s)", round_, "resumed" if released else "started")
        warcs: list[Path] = []
        peers: list[PeerResult] = []
        async with self._components(warcs, shared_sink=False):
            added = self._frontier.add(seeds)
            log.info("%d seeds (%d new)", len(seeds), added)
            if self._peers is not None:
                self._peers.start(self.config, self.options)
            with self._signal_handlers():
                interrupted = await self._dispatch()
            if self._peers is not None:
                self._peers.cut()  # this process is done: the hosts it owns get no more claims
                peers = await self._peers.results()
        interrupted = interrupted or any(peer.interrupted for peer in peers)
        hit_max_pages = self._hit_max_pages or any(peer.hit_max_pages for peer in peers)
        complete = not interrupted and not hit_max_pages and not self._frontier.has_due(
            time.time(), self._site_ids
        )
        self._frontier.end_run(complete)
        summary = self._summary(started, warcs, interrupted, recovered, peers)
        # recorded here, under the archive lock, once however many processes crawled
        ruled = {site.id for site in self.config.sites if site.generations}
        return replace(summary, health=record_crawl(self.options.archive_dir, summary, ruled))

    def _start_peers(self, count: int) -> Coordinator:
        """The other ``count - 1`` processes of the crawl (``crawler.pipeline.Crawl`` starts them:
        process management depends on the loop, never the reverse)."""
        raise UsageError(
            f"crawl.processes is {count}: run the crawl as crawler.pipeline.Crawl, which starts the "
            "other processes, or set crawl.processes: 1"
        )

    async def run_peer(self, watch: Callable[[CrawlLoop], Coroutine[Any, Any, None]]) -> PeerResult:
        """A peer's run (``crawler.peers``): its shard of the hosts, until the crawl is done;
        ``watch(self)`` passes on the first process's stops and cuts while it runs."""
        assert self._shard is not None
        self._frontier = Frontier.open(self.options.archive_dir)
        warcs: list[Path] = []
        try:
            async with self._components(warcs, shared_sink=True):
                watcher = asyncio.create_task(watch(self))
                try:
                    interrupted = await self._dispatch()
                finally:
                    watcher.cancel()
            return PeerResult(
                progress=self.progress, articles_written=self._sink.written,
                duplicates=self._sink.duplicates, warcs=tuple(warcs), interrupted=interrupted,
                hit_max_pages=self._hit_max_pages,
                robots_unavailable=tuple(self._fetcher.robots.unavailable()),
            )
        finally:
            self._frontier.close()
            self._stop_threads()

    def _stop_threads(self) -> None:
        self._cpu.shutdown(wait=True)
        self._cpu_sync.shutdown(wait=True)

    @contextlib.asynccontextmanager
    async def _components(self, warcs: list[Path], *, shared_sink: bool) -> AsyncIterator[None]:
        """The sink, WARC lanes and fetcher of one process, closed in reverse (closed WARC files
        are appended to ``warcs``)."""
        async with contextlib.AsyncExitStack() as stack:
            self._sink = stack.enter_context(JsonlSink.open(self.options.archive_dir, shared=shared_sink))
            self._warcs = WarcLanes(
                self.options.archive_dir, self.config, warcinfo=self._warcinfo(), faults=self._faults,
                shard=self._shard, worker=self._frontier.worker,
            )

            async def close_warcs() -> None:
                warcs.extend(await self._warcs.close())

            stack.push_async_callback(close_warcs)
            self._commit = GroupCommit(self._make_durable)
            stack.push_async_callback(self._commit.close)  # before the WARC files close
            self._fetcher = await stack.enter_async_context(Fetcher(
                self.config.crawl, self.config.network, self.sites, archive=self._archive_side_exchange,
                transport=self._transport, resolver=self._resolver, client_shards=self._shards,
                on_pause=self._frontier.pause_host,
            ))
            self._fetcher.politeness.shared = self._frontier.pace()  # a Redis frontier paces crawl-wide
            self._fetcher.robots.shared = self._frontier.robots()  # and fetches robots.txt once
            self._fetcher.restore_pauses(self._frontier.host_pauses(time.time()))  # pauses outlive a stop
            self._worker = PageWorker(
                settings=self.config.crawl, sites=self.sites, progress=self.progress, frontier=self._frontier,
                fetcher=self._fetcher, warcs=self._warcs, commit=self._commit, sink=self._sink,
                faults=self._faults, links=self._links, assembly_rules=self._assembly_rules,
                limits=self._limits, cpu=self._cpu, report=self._report,
            )
            yield

    def _warcinfo(self) -> dict[str, str]:
        settings = self.config.crawl
        info = {
            "http-header-user-agent": settings.user_agent,
            "robots": settings.robots.mode
            + (f" ({settings.robots.justification})" if settings.robots.justification else ""),
            "crawl-interval-s": str(settings.interval_s),
            "sites": ", ".join(site.id for site in self.sites),
            "hostname": socket.gethostname(),
        }
        for number, warning in enumerate(self.config.warnings(), start=1):
            info[f"warning-{number}"] = warning
        return info

    def _forget_removed_sites(self) -> None:
        """URLs of sites no longer in the config end ``skipped:site_removed`` (RELIABILITY G5)."""
        configured = {site.id for site in self.config.sites}
        for site_id in sorted(self._frontier.sites() - configured):
            count = self._frontier.skip_where(site_id, "site_removed")
            if count:
                log.warning("site %r is no longer configured: %d queued URLs skipped", site_id, count)

    @contextlib.contextmanager
    def _signal_handlers(self) -> Iterator[None]:
        """SIGINT/SIGTERM: the first stops taking work, the second stops at once; after that
        the default handlers are back, so a third one interrupts even a stuck close."""
        if not self._install_signals:
            yield
            return
        loop = asyncio.get_running_loop()
        handled = (signal.SIGINT, signal.SIGTERM)

        def on_signal() -> None:
            self.request_stop()
            if self._signals >= 2:
                for signum in handled:
                    loop.remove_signal_handler(signum)

        for signum in handled:
            loop.add_signal_handler(signum, on_signal)
        try:
            yield
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)

    # ------------------------------------------------------------ dispatching

    async def _dispatch(self) -> bool:
        """Run workers until nothing is due, the page budget is spent, or a stop; True if stopped."""
        running: dict[asyncio.Task[None], Claimed] = {}
        failure: BaseException | None = None
        try:
            while True:
                others_done = not running and self._others_done()
                if not self._stop.is_set() and failure is None:
                    self._start_more(running)
                if not running:
                    if (self._stop.is_set() or failure is not None or others_done or self._hit_max_pages
                            or self._cut):
                        break
                    await self._pause_for_others()
                    continue
                watch = self._hard_stop if self._stop.is_set() else self._stop
                waiter = asyncio.ensure_future(watch.wait())
                done, _ = await asyncio.wait([*running, waiter], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                for task in [task for task in running if task in done]:
                    del running[task]
                    if task.exception() is not None and failure is None:
                        failure = task.exception()
                        self._stop.set()  # a disk or frontier failure ends the run
                if self._hard_stop.is_set():
                    break
        finally:
            if running:
                await self._cancel(running)
        if failure is not None:
            raise failure
        return self._signals > 0

    def _others_done(self) -> bool:
        """Whether no other process of the crawl can add work for this one: none has a URL in
        flight and no URL is due anywhere (a peer still starting has its hosts' URLs ahead of
        it). Looked at before claiming, so a claim that then finds nothing means the crawl is
        done. A failed peer stops the crawl; an ended one winds this process down."""
        if self._shard is None and not self._frontier.shared:
            return True
        if self._peers is not None and self._peers.failed():
            log.error("a crawl process failed; stopping the others")
            self.request_stop()
            self.request_stop()
            return True
        if self._peers is not None:
            if self._peers.any_done():  # a peer has ended: its hosts' URLs would wait in vain
                self.wind_down()
                self._peers.cut()
            if not self._peers.running():
                return True
        return self._frontier.in_progress() == 0 and not self._frontier.has_due(time.time(), self._site_ids)

    async def _pause_for_others(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), OTHERS_POLL_S)

    def wind_down(self) -> None:
        """Claim nothing more; end once the pages in flight are done (see ``Peers.cut``)."""
        self._cut = True

    def _start_more(self, running: dict[asyncio.Task[None], Claimed]) -> None:
        if self._cut or self._halted():
            return
        free = self.config.crawl.concurrency - len(running)
        budget = self._budget
        if budget is not None:
            free = min(free, budget - self._claimed_total)
            if free <= 0:
                self._hit_max_pages = True
        if free <= 0:
            return
        cap = self.config.crawl.max_concurrency_per_host
        in_flight = Counter(claimed.host for claimed in running.values())
        busy = {host for host, count in in_flight.items() if count >= cap}
        claims = self._frontier.claim(
            free, time.time(), per_host=cap, exclude_hosts=busy, sites=self._site_ids, shard=self._shard
        )
        for claimed in claims:
            self._claimed_total += 1
            task = asyncio.create_task(self._worker.process(claimed), name=claimed.url)
            running[task] = claimed

    def _halted(self) -> bool:
        """A crawl-wide end (a Redis frontier): ``crawler stop``, or --max-pages spent."""
        halt = self._frontier.halted()
        if halt == "stop" and not self._stop.is_set():
            log.warning("the crawl was stopped (crawler stop)")
            self.request_stop()
        elif halt == "max_pages":
            self._hit_max_pages = True
        return halt is not None

    async def _cancel(self, running: dict[asyncio.Task[None], Claimed]) -> None:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        try:
            self._frontier.requeue(claimed.id for claimed in running.values())
            log.warning("%d URLs in flight were queued again", len(running))
        except OutOfSpace as exc:  # the next start releases them; the first error is the one to tell
            log.warning("%d URLs in flight stay in_progress until the next start: %s", len(running), exc)
        running.clear()

    async def _make_durable(self) -> None:
        """fsync every WARC lane's file and the sink (each only if it has unsynced bytes)."""
        await asyncio.gather(self._warcs.sync(), in_thread(self._cpu_sync, self._sink.sync))

    # ------------------------------------------------------------ archive and disk

    async def _archive_side_exchange(self, exchange: Exchange) -> None:
        """The fetcher's hook for robots.txt exchanges: archived like any other."""
        await self._warcs.write_exchange(zlib.crc32(exchange.url.encode()), exchange)

    # ------------------------------------------------------------ reporting

    def _report(self, site_id: str, progress: SiteProgress) -> None:
        if self._progress_callback is None:
            return
        now = time.monotonic()
        if now - self._queue_counted >= QUEUE_COUNT_EVERY_S:  # a GROUP BY: not on every page
            self._queue_counted = now
            self._count_queues(self._frontier.counts())
        self._progress_callback(site_id, progress)

    def _count_queues(self, counts: dict[tuple[str, Status], int]) -> None:
        queued: Counter[str] = Counter()
        for (site, status), count in counts.items():
            if status in (Status.TODO, Status.IN_PROGRESS):
                queued[site] += count
        for site, one in self.progress.items():
            one.queued = queued[site]

    def _summary(
        self, started: float, warcs: Sequence[Path], interrupted: bool, recovered: tuple[str, ...],
        peers: Sequence[PeerResult] = (),
    ) -> CrawlSummary:
        now = time.time()
        counts = self._frontier.counts()
        self._count_queues(counts)  # the display's last frame shows the queues as they are left
        todo = sum(count for (_, status), count in counts.items() if status is Status.TODO)
        deferred = 0 if self._frontier.has_due(now, self._site_ids) else todo
        robots = set(self._fetcher.robots.unavailable()).union(*(peer.robots_unavailable for peer in peers))
        progress = merged_progress([self.progress, *(peer.progress for peer in peers)])
        waiting = deferrals(self._frontier, now)
        down, down_at = unreachable(self.options.archive_dir / STATE_DIR, progress, waiting, now)
        return CrawlSummary(
            counts=counts,
            reasons=self._frontier.reasons(),
            progress=progress,
            articles_written=self._sink.written + sum(peer.articles_written for peer in peers),
            duplicates=self._sink.duplicates + sum(peer.duplicates for peer in peers),
            warcs=tuple(sorted([*warcs, *(path for peer in peers for path in peer.warcs)])),
            deferred=deferred,
            todo=todo,
            interrupted=interrupted,
            hit_max_pages=self._hit_max_pages or any(peer.hit_max_pages for peer in peers),
            torn=self._sink.torn,
            recovered=recovered,
            robots_unavailable=tuple(sorted(robots)),
            elapsed_s=time.monotonic() - started,
            deferrals=waiting,
            unreachable=down,
            unreachable_at=down_at,
            started_at=now - (time.monotonic() - started),
            proxies=tuple(sorted(re.sub(r"//[^/@]*@", "//", proxy)  # without credentials
                                 for proxy in ProxyRoutes.build(self.config.crawl.proxy, True).proxies())),
            paused_hosts=tuple((key, *pause) for key, pause in self._frontier.host_pauses(now).items()),
        )


# ---------------------------------------------------------------- helpers

def _selected_sites(config: Config, wanted: Iterable[str] | None) -> tuple[Site, ...]:
    if wanted is None:
        sites = config.enabled_sites()
        if not sites:
            raise ConfigError("no site is enabled in the config; set `enabled: true` on one or pass --sites")
        return sites
    return tuple(config.site(site_id) for site_id in wanted)


__all__ = ["CrawlLoop"]
