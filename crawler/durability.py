"""Durability of a crawl's writes: the WARC writer lanes and the group commit.

``WarcLanes`` runs ``crawl.warc_writers`` WARC writers, each on a thread of its own, so
compression and writes stay off the event loop. ``GroupCommit`` makes a page wait until its
records and article line are fsynced before the crawl marks its URL done; one round of fsyncs
serves every page that asked before the round began. Nothing here knows the crawl loop: it
hands in what to flush.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from crawler.config import Config
from crawler.faults import FaultInjector
from crawler.frontier import Shard
from crawler.models import Exchange, Source
from crawler.warc.payloads import scan_payloads
from crawler.warc.writer import WarcWriter

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class WarcLanes:
    """``crawl.warc_writers`` WARC writers, each on a thread of its own.

    Several lanes let compression and writes of different files overlap (fsyncs are grouped
    by ``GroupCommit`` either way). All records of one page go to the same lane (chosen by the
    frontier row id), in order.
    """

    def __init__(self, directory: Path, config: Config, *, warcinfo: dict[str, str], faults: FaultInjector,
                 shard: Shard | None = None, worker: int | None = None):
        count = config.crawl.warc_writers
        machine = socket.gethostname() + (f".p{shard.index}" if shard is not None else "")
        machine += f".w{worker}" if worker is not None else ""  # a Redis frontier's worker number
        known = scan_payloads(directory)  # earlier runs' payloads, from their CDXJ indexes: revisits
        if known:
            log.info("%d payloads already archived (revisits of them are written as such)", len(known))
        self._lanes = [
            (
                ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"crawler-warc{number}"),
                WarcWriter(
                    directory, config.archive, warcinfo=warcinfo, faults=faults, index=True,
                    host=f"{machine}.{number}" if count > 1 else machine, known_payloads=dict(known),
                ),
            )
            for number in range(count)
        ]

    def _lane(self, key: int) -> tuple[ThreadPoolExecutor, WarcWriter]:
        return self._lanes[key % len(self._lanes)]

    async def write_exchange(self, key: int, exchange: Exchange, *, sync: bool = True) -> Source:
        """Archive ``exchange`` (fsynced when this returns, unless ``sync=False``); where its main
        record is."""
        thread, writer = self._lane(key)
        return await in_thread(thread, writer.write_exchange, exchange, sync=sync)

    async def run(self, key: int, function: Callable[Concatenate[WarcWriter, P], T], *args: P.args,
                  **kwargs: P.kwargs) -> T:
        """``function(writer, ...)`` on the lane's thread, in order with its other writes."""
        thread, writer = self._lane(key)
        return await in_thread(thread, function, writer, *args, **kwargs)

    async def sync(self) -> None:
        """fsync every lane's file (on the lane's thread, in order with its writes), in parallel."""
        await asyncio.gather(*(in_thread(thread, writer.sync) for thread, writer in self._lanes))

    async def close(self) -> list[Path]:
        """Close every writer (renaming its ``.open`` file) and stop the threads."""
        closed: list[Path] = []
        try:
            for thread, writer in self._lanes:
                closed += await in_thread(thread, writer.close)
        finally:
            for thread, _ in self._lanes:
                thread.shutdown(wait=True)
        return sorted(closed)


class GroupCommit:
    """Pages wait in ``durable()`` before they are marked done; one ``flush`` (fsync of every
    WARC file and the sink) serves every page that asked before it started (group commit)."""

    def __init__(self, flush: Callable[[], Awaitable[None]]) -> None:
        self._flush = flush
        self._waiting: list[asyncio.Future[None]] = []
        self._rounds_task: asyncio.Task[None] | None = None

    async def durable(self) -> None:
        """Return once everything this task wrote before calling is on disk."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if self._rounds_task is None or self._rounds_task.done():
            self._rounds_task = asyncio.create_task(self._rounds())
        await waiter

    async def close(self) -> None:
        """Let a round under way finish (before the files it syncs are closed)."""
        if self._rounds_task is not None:
            await asyncio.gather(self._rounds_task, return_exceptions=True)

    async def _rounds(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []  # later askers wait for the next round
            try:
                await self._flush()
            except Exception as exc:
                _settle(batch, exc)
            except BaseException:
                _settle(batch, None, cancel=True)
                raise
            else:
                _settle(batch, None)


def _settle(waiters: list[asyncio.Future[None]], error: Exception | None, *, cancel: bool = False) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if cancel:
            waiter.cancel()
        elif error is not None:
            waiter.set_exception(error)
        else:
            waiter.set_result(None)


async def in_thread(
    thread: ThreadPoolExecutor, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(thread, lambda: function(*args, **kwargs))


__all__ = ["GroupCommit", "WarcLanes", "in_thread"]
