"""The crawl loop of one process: claims → workers → done, until nothing is due.

``CrawlLoop.dispatch`` keeps up to ``crawl.concurrency`` workers busy: it claims due URLs from
the frontier spread over hosts, skipping hosts at their cap, and runs a
``crawler.worker.PageWorker`` on each (fetch, archive, discover or assemble, group commit, then
done). It ends when nothing is due, the page budget is spent, or on a stop (the first finishes
what is in flight, the second requeues it); with several processes it also watches the others.

The loop runs on a frontier it is handed (``opened``); the run around it (archive lock,
recovery, seeds, rounds, summary) is ``crawler.pipeline``, the other processes
``crawler.peers``; each reaches the loop only through this interface.
Threads: WARC writing on ``crawl.warc_writers`` lanes (``crawler.durability``); an article
page is parsed and extracted on its lane in the same hand-off, other pages on one CPU thread,
so the event loop keeps pacing on time; the SQLite frontier stays on the event-loop thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypedDict

import httpx

from crawler.assemble import AssemblyRules
from crawler.config import Config
from crawler.crawlrun import Coordinator, CrawlOptions, PeerResult, ProgressCallback, crawl_warcinfo, share_of
from crawler.discover import Limits
from crawler.durability import GroupCommit, WarcLanes, in_thread
from crawler.errors import OutOfSpace
from crawler.extract import Extractor
from crawler.faults import FaultInjector
from crawler.fetch import Fetcher
from crawler.frontier import Claimed, NewUrl, Shard
from crawler.frontier_protocol import FrontierStore
from crawler.linkpolicy import LinkPolicy
from crawler.models import Exchange
from crawler.outcomes import SiteProgress
from crawler.reporting import ProgressReport
from crawler.scope import Resolver, Scope, system_resolver
from crawler.sink import JsonlSink, TornLine
from crawler.worker import PageWorker

log = logging.getLogger(__name__)

# httpcore scans a pool's requests × connections on every request, so one pool for many hosts
# gets slow; hosts are spread over this many pools (a pool is cheap: its connections are the
# cost). 50 hosts × 32 requests at once: 64 → 256 pools cut the scans (is_idle calls) 5×.
CONNECTION_POOLS = 256
OTHERS_POLL_S = 0.05  # how often an idle process of a multi-process crawl looks for new work


class LoopOptions(TypedDict, total=False):
    """What a caller may set beyond the config and the options (``Crawl`` passes them on)."""

    progress: ProgressCallback | None
    transport: httpx.AsyncBaseTransport | None
    resolver: Resolver
    faults: FaultInjector | None
    client_shards: int | None


class CrawlLoop:
    """The crawl loop of one process. ``transport`` and ``resolver`` replace the network and
    DNS (tests); ``client_shards`` is how many connection pools hosts are spread over (see
    ``Fetcher``). ``shard`` is set in a peer process of a crawl with ``crawl.processes`` > 1;
    the first process's shard is worked out here.

    Use: ``async with loop.opened(frontier, ...): interrupted = await loop.dispatch()``, then
    ``loop.own_part(interrupted)`` and ``loop.close()``.
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
        shard: Shard | None = None,
    ) -> None:
        self.config = config
        self.options = options
        self.sites = config.selected_sites(options.sites)
        self.site_ids = {site.id for site in self.sites}
        self._progress_callback = progress
        self._transport = transport
        self._resolver = resolver
        self._faults = faults if faults is not None else FaultInjector.from_env()
        self._shards = client_shards or CONNECTION_POOLS
        self.frontier_url = options.frontier or config.crawl.frontier  # None: SQLite under the archive
        # on a Redis frontier every process is a worker of its own (crawl.processes is for SQLite)
        processes = config.crawl.processes if self.frontier_url is None else 1
        # with several processes, this one is shard 0 unless it was started as a peer
        self.shard = shard if shard is not None else (Shard(0, processes) if processes > 1 else None)
        # a Redis frontier counts --max-pages crawl-wide
        self._budget = share_of(options.max_pages, self.shard) if self.frontier_url is None else None
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
        self._closed_warcs: list[Path] = []
        self._hit_max_pages = False
        self._cpu = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawler-cpu")
        self._cpu_sync = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crawler-sync")
        # set in opened()
        self._frontier: FrontierStore
        self._warcs: WarcLanes
        self._commit: GroupCommit
        self._sink: JsonlSink
        self._fetcher: Fetcher
        self._worker: PageWorker

    # ------------------------------------------------------------ interface

    def seed_urls(self) -> list[NewUrl]:
        """The run's seeds (``--seed`` or the sites' own); a bad one is a ``ConfigError``."""
        return self._links.seed_urls()

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

    def own_part(self, interrupted: bool) -> PeerResult:
        """This process's part of the run, in the shape a peer reports it."""
        return PeerResult(
            progress=self.progress, articles_written=self._sink.written, duplicates=self._sink.duplicates,
            warcs=tuple(self._closed_warcs), interrupted=interrupted, hit_max_pages=self._hit_max_pages,
            robots_unavailable=tuple(self._fetcher.robots.unavailable()),
        )

    def close(self) -> None:
        """Stop the loop's threads (after ``opened`` has closed)."""
        self._cpu.shutdown(wait=True)
        self._cpu_sync.shutdown(wait=True)

    @contextlib.asynccontextmanager
    async def opened(self, frontier: FrontierStore, *, shared_sink: bool,
                     peers: Coordinator | None = None) -> AsyncIterator[TornLine | None]:
        """The loop ready to ``dispatch`` on ``frontier``: this process's sink, WARC lanes and
        fetcher, closed in reverse on the way out (the closed WARC files go to ``own_part``).
        ``peers``: the other processes of a crawl, when this is its first process. Yields the
        torn last line of ``articles.jsonl`` the sink set aside on opening, if any."""
        self._frontier = frontier
        self._peers = peers
        async with contextlib.AsyncExitStack() as stack:
            self._sink = stack.enter_context(JsonlSink.open(self.options.archive_dir, shared=shared_sink))
            self._warcs = WarcLanes(
                self.options.archive_dir, self.config, faults=self._faults,
                warcinfo=crawl_warcinfo(self.config, [site.id for site in self.sites]),
                shard=self.shard, worker=self._frontier.worker,
            )

            async def close_warcs() -> None:
                self._closed_warcs.extend(await self._warcs.close())

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
                limits=self._limits, cpu=self._cpu,
                report=ProgressReport(self._progress_callback, self.progress, self._frontier),
            )
            yield self._sink.torn

    # ------------------------------------------------------------ dispatching

    async def dispatch(self) -> bool:
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
        if self.shard is None and not self._frontier.shared:
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
        return self._frontier.in_progress() == 0 and not self._frontier.has_due(time.time(), self.site_ids)

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
            free, time.time(), per_host=cap, exclude_hosts=busy, sites=self.site_ids, shard=self.shard
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

__all__ = ["CrawlLoop", "LoopOptions"]
