"""More crawl processes on one archive (``crawl.processes``): start them, stop them, collect them.

One Python process is bound to one core by the GIL: fetching, archiving and extracting many
hosts at speed needs more. The process the user started holds the archive lock, recovers
files, opens the round and adds the seeds, then starts ``processes - 1`` peers. Each peer is a
``CrawlLoop`` with its own fetcher, WARC files (``.p<shard>.`` in their names) and frontier
connection, appending whole lines to the same ``articles.jsonl``. A process takes a host when
it first claims one of its URLs and keeps it for the run (``Shard``), so a host's pace,
robots.txt and Retry-After pauses stay with one process and stay exact.

A stop (SIGINT/SIGTERM to the first process) reaches the peers through a shared counter; a
``kill -9`` of the first process kills them too (``PR_SET_PDEATHSIG``), so no peer outlives it
and the next run finds every claimed row free to release. The death signal only covers a
parent that dies after it is armed, and a spawned peer arms it only once its interpreter is up:
so the first process passes its pid down, and a peer whose parent is no longer that pid right
after arming (it was re-parented: the crawler died meanwhile) ends itself; a running peer also
looks at its parent whenever it polls the stop counter.

Layering: this module depends on the crawl loop (``crawler.loop``), which knows the peers only
as a ``crawler.crawlrun.Coordinator``; ``crawler.pipeline.Crawl`` joins the two.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.sharedctypes import Synchronized
from typing import TYPE_CHECKING

from crawler.crawlrun import CrawlOptions, PeerResult
from crawler.errors import full_disk_as_out_of_space
from crawler.faults import FaultInjector
from crawler.frontier import Frontier, Shard
from crawler.loop import CrawlLoop

if TYPE_CHECKING:
    from crawler.config import Config

    PeerMain = Callable[[Config, CrawlOptions, Shard, Synchronized[int], Synchronized[int]], "PeerResult"]

__all__ = ["PeerResult", "Peers", "peer_main"]

_PR_SET_PDEATHSIG = 1
STOP_POLL_S = 0.1


class Peers:
    """The ``count - 1`` peer processes of one crawl; shard 0 is the caller's."""

    def __init__(self, count: int, main: PeerMain) -> None:
        """Start the processes now (they import the crawler while this one gets ready); they
        crawl from ``start`` on, each running ``main`` (a module-level function of the crawl
        loop: ``peer_main`` below, handed in so tests can run another)."""
        context = multiprocessing.get_context("spawn")  # not fork: this process has threads
        self._count = count
        self._stops: Synchronized[int] = context.Value("i", 0)
        self._cut: Synchronized[int] = context.Value("i", 0)
        self._pool = ProcessPoolExecutor(count - 1, mp_context=context, initializer=_start_peer,
                                         initargs=(self._stops, self._cut, os.getpid()))
        self._main = main
        for _ in range(count - 1):
            self._pool.submit(_warm_up, main)  # unpickling ``main`` imports its module
        FaultInjector.from_env().hit("peers_started")  # tests: die while the peers still boot
        self._futures: list[asyncio.Future[PeerResult]] = []

    def start(self, config: Config, options: CrawlOptions) -> None:
        """Each peer crawls its shard (once the seeds are in the frontier)."""
        loop = asyncio.get_running_loop()
        self._futures = [
            loop.run_in_executor(self._pool, run_peer, self._main, config, options, Shard(index, self._count))
            for index in range(1, self._count)
        ]

    def cut(self) -> None:
        """Tell the peers to claim nothing more and end once their pages in flight are done:
        a process has ended (its ``--max-pages`` share spent, or nothing left), and the URLs of
        its hosts would wait for it in vain. Not an interruption: the next run resumes."""
        self._cut.value = 1

    def stop(self, signals: int) -> None:
        """Pass on the caller's stop: 1 finishes what is in flight, 2 stops at once."""
        with self._stops.get_lock():
            self._stops.value = max(self._stops.value, signals)

    def running(self) -> bool:
        return not all(future.done() for future in self._futures)

    def any_done(self) -> bool:
        return any(future.done() for future in self._futures)

    def failed(self) -> bool:
        return any(future.done() and future.exception() is not None for future in self._futures)

    async def results(self) -> list[PeerResult]:
        """Wait for every peer; the first failure is raised (after all have ended)."""
        done = await asyncio.gather(*self._futures, return_exceptions=True)
        self._pool.shutdown(wait=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return [outcome for outcome in done if isinstance(outcome, PeerResult)]

    def close(self) -> None:
        """Stop the peers at once (a no-op once they have ended) and wait for them."""
        self.stop(2)
        self._pool.shutdown(wait=True, cancel_futures=True)


class _Peer:
    """The counters a peer process shares with the first one (set once, when it starts)."""

    stops: Synchronized[int] | None = None
    cut: Synchronized[int] | None = None
    parent: int | None = None


def _start_peer(stops: Synchronized[int], cut: Synchronized[int], parent: int) -> None:
    _die_with_parent(parent)
    # the first process handles signals and passes stops on through the counter
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _Peer.stops = stops
    _Peer.cut = cut
    _Peer.parent = parent


def _die_with_parent(parent: int) -> None:
    """Arm the death signal, then make sure ``parent`` (the first process's pid, passed down:
    asking ``getppid`` here would give the reaper already) has not died before that."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    end_if_orphaned(parent)


def end_if_orphaned(parent: int | None) -> None:
    """SIGKILL this process when its parent is no longer ``parent`` (it died)."""
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)


def _warm_up(main: PeerMain) -> None:
    """Nothing to do: the crawl loop was imported to unpickle ``main``, now, not when the crawl waits."""


def run_peer(main: PeerMain, config: Config, options: CrawlOptions, shard: Shard) -> PeerResult:
    """A peer process's whole life: crawl its shard until the crawl is done or stopped."""
    assert _Peer.stops is not None and _Peer.cut is not None, "peer started without its counters"
    with full_disk_as_out_of_space(f"{options.archive_dir} (crawl process {shard.index})"):  # SQLite's
        # error codes do not survive the trip back to the first process: read them here
        return main(config, options, shard, _Peer.stops, _Peer.cut)


async def watch_stops(stops: Synchronized[int], cut: Synchronized[int], request_stop: Callable[[], None],
                      on_cut: Callable[[], None]) -> None:
    """Call ``request_stop`` once for each stop the first process passed on, ``on_cut`` once."""
    seen, was_cut = 0, False
    while True:
        end_if_orphaned(_Peer.parent)
        wanted = stops.value
        while seen < wanted:
            seen += 1
            request_stop()
        if cut.value and not was_cut:
            was_cut = True
            on_cut()
        await asyncio.sleep(STOP_POLL_S)


def peer_main(config: Config, options: CrawlOptions, shard: Shard, stops: Synchronized[int],
              cut: Synchronized[int]) -> PeerResult:
    """A peer process's crawl of its shard (``run_peer`` runs it in each peer)."""

    return asyncio.run(_crawl_shard(CrawlLoop(config, options, shard=shard), stops, cut))


async def _crawl_shard(loop: CrawlLoop, stops: Synchronized[int], cut: Synchronized[int]) -> PeerResult:
    """The loop over the shared SQLite frontier, passing on the first process's stops and cuts."""
    frontier = Frontier.open(loop.options.archive_dir)
    try:
        async with loop.opened(frontier, shared_sink=True):
            watcher = asyncio.create_task(watch_stops(stops, cut, loop.request_stop, loop.wind_down))
            try:
                interrupted = await loop.dispatch()
            finally:
                watcher.cancel()
        return loop.own_part(interrupted)
    finally:
        frontier.close()
        loop.close()
