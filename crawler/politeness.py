"""Per-host pacing: a minimum interval between request starts, Retry-After pauses, and a
per-host concurrency cap.

Each pace key (``host[:port]``, or a site's registered domain with ``pace_by: domain``) has
its own state, so a slow or paused host only blocks requests to itself. The interval uses
asyncio-throttle with ``rate_limit=1, period=interval``: one start per interval, never a burst.

The throttle decides when a request may *begin*; between that moment and the request
headers reaching the socket, the event loop may be busy elsewhere (extraction, a new
connection), which would let two requests land on the server closer than the interval. So
``slot`` also hands out a *wire gate*: an httpcore ``trace`` hook that holds the request
headers until the interval has passed since the previous request to that key was written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyncio_throttle.throttler import Throttler

log = logging.getLogger(__name__)


class Clock(Protocol):
    """Time source: injectable so tests can move time without sleeping."""

    def time(self) -> float:
        """Seconds since the epoch."""
        ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


# What the server's clock may see on top of ours (its loop or the OS delaying the read):
# the wire gate keeps this much more than the interval so the server never logs less.
WIRE_MARGIN_S = 0.005
_THROTTLE_EPSILON_S = 0.001

WireGate = Callable[[str, dict[str, Any]], Awaitable[None]]
"""An httpcore ``trace`` callback (``extensions={"trace": gate}``)."""


class SharedPace(Protocol):
    """Request slots booked crawl-wide (a Redis frontier), so one pace per key holds across
    every process on every machine, whatever their clocks say."""

    def book(self, key: str, interval_s: float) -> tuple[float, float]:
        """Book the next start of ``key`` (the following one is ``interval_s`` later):
        ``(wait_s, slack_s)``. The request must go out no earlier than ``wait_s`` after the
        reply and no later than ``wait_s + slack_s`` after the call, or be booked again."""
        ...

    def pause(self, key: str, seconds: float) -> None:
        """No process starts a request to ``key`` for ``seconds`` (a Retry-After)."""
        ...


@dataclass(frozen=True)
class PaceRule:
    """How one key is paced: interval between starts and how many requests at once."""

    interval_s: float
    max_concurrency: int


@dataclass(frozen=True)
class _Window:
    """When a booked request may go out (``clock.monotonic()`` values)."""

    opens: float
    closes: float


@dataclass
class _HostPace:
    rule: PaceRule
    semaphore: asyncio.Semaphore
    throttler: Throttler | None
    crawl_delay_s: float = 0.0
    paused_until: float = 0.0  # clock.monotonic() value
    last_start: float = float("-inf")  # time.monotonic() (the throttler's clock) at its last release
    last_on_wire: float = float("-inf")  # clock.monotonic() when the last request headers were sent
    in_flight: int = 0
    starts: int = 0

    @property
    def interval_s(self) -> float:
        return max(self.rule.interval_s, self.crawl_delay_s)


@dataclass
class Politeness:
    """Pacing state of every host seen in this run."""

    clock: Clock = field(default_factory=SystemClock)
    _hosts: dict[str, _HostPace] = field(default_factory=dict)
    shared: SharedPace | None = None  # set for a crawl-wide frontier: every start is booked there

    def _pace(self, key: str, rule: PaceRule) -> _HostPace:
        pace = self._hosts.get(key)
        if pace is None:
            throttler = Throttler(rate_limit=1, period=rule.interval_s) if rule.interval_s > 0 else None
            pace = _HostPace(rule, asyncio.Semaphore(rule.max_concurrency), throttler)
            self._hosts[key] = pace
        return pace

    def set_crawl_delay(self, key: str, rule: PaceRule, delay_s: float | None) -> None:
        """Use robots.txt's Crawl-delay for ``key`` when it is larger than the configured interval."""
        pace = self._pace(key, rule)
        pace.crawl_delay_s = delay_s or 0.0
        if pace.interval_s > 0:
            if pace.throttler is None:
                pace.throttler = Throttler(rate_limit=1, period=pace.interval_s)
            pace.throttler.period = pace.interval_s

    def pause(self, key: str, rule: PaceRule, seconds: float) -> None:
        """Pause every request to ``key`` for ``seconds`` (Retry-After); pauses only extend."""
        pace = self._pace(key, rule)
        until = self.clock.monotonic() + seconds
        if until > pace.paused_until:
            log.info("pausing %s for %.1f s", key, seconds)
            pace.paused_until = until
        if self.shared is not None:
            self.shared.pause(key, seconds)

    def paused_for(self, key: str) -> float:
        """Seconds until ``key`` may be contacted again (0 when not paused)."""
        pace = self._hosts.get(key)
        if pace is None:
            return 0.0
        return max(0.0, pace.paused_until - self.clock.monotonic())

    def ready_in(self, key: str) -> float:
        """Seconds until ``key`` could start a request: pauses and the interval (0 when ready now)."""
        pace = self._hosts.get(key)
        if pace is None:
            return 0.0
        paused = pace.paused_until - self.clock.monotonic()
        return max(0.0, paused, pace.last_start + pace.interval_s - time.monotonic())

    def in_flight(self, key: str) -> int:
        pace = self._hosts.get(key)
        return pace.in_flight if pace else 0

    async def _wait_pause(self, pace: _HostPace) -> None:
        while (remaining := pace.paused_until - self.clock.monotonic()) > 0:
            await self.clock.sleep(remaining)

    async def _book(self, key: str, pace: _HostPace) -> _Window:
        """A crawl-wide slot for ``key`` (booked again while the window is too short to use)."""
        assert self.shared is not None
        while True:
            sent = self.clock.monotonic()
            wait, slack = self.shared.book(key, pace.interval_s)
            reply = self.clock.monotonic()
            if reply + wait <= sent + wait + slack:
                return _Window(reply + wait, sent + wait + slack)

    def _wire_gate(self, pace: _HostPace, key: str = "", window: _Window | None = None) -> WireGate | None:
        if pace.interval_s <= 0:
            return None
        passed = False

        async def gate(event: str, info: dict[str, Any]) -> None:
            nonlocal passed
            if passed or not event.endswith("send_request_headers.started"):
                return
            passed = True  # once per request: a proxy CONNECT and the request itself share the hook
            # stamp the moment the headers really go out (httpcore writes them without yielding
            # after this hook), never a reserved future time: a waiter that wakes late would
            # otherwise shorten the gap to the next request
            while (wait := pace.last_on_wire + pace.interval_s + WIRE_MARGIN_S - self.clock.monotonic()) > 0:
                await self.clock.sleep(wait)
            nonlocal window
            while window is not None:  # a booked slot: go inside its window or book another
                if (early := window.opens - self.clock.monotonic()) > 0:
                    await self.clock.sleep(early)
                if self.clock.monotonic() <= window.closes:
                    break
                window = await self._book(key, pace)
            pace.last_on_wire = self.clock.monotonic()

        return gate

    @asynccontextmanager
    async def slot(self, key: str, rule: PaceRule) -> AsyncIterator[WireGate | None]:
        """Hold one request slot of ``key``: waits for pauses, the concurrency cap and the interval.

        Yields the wire gate to pass as the request's ``trace`` extension (None without pacing).
        """
        pace = self._pace(key, rule)
        await self._wait_pause(pace)
        async with pace.semaphore:
            await self._wait_pause(pace)
            if pace.throttler is not None:
                # sleep to the due time first: the throttler polls every 10 ms, which would
                # otherwise add ~5 ms to every interval (2.5 % of the rate at 0.2 s)
                due_in = pace.last_start + pace.interval_s + _THROTTLE_EPSILON_S - time.monotonic()
                if due_in > 0:
                    await asyncio.sleep(due_in)
                await pace.throttler.acquire()  # type: ignore[no-untyped-call]
                await self._wait_pause(pace)  # a Retry-After may have arrived meanwhile
            window = None
            if self.shared is not None and pace.interval_s > 0:
                window = await self._book(key, pace)
                if (early := window.opens - self.clock.monotonic()) > 0:
                    await self.clock.sleep(early)
            pace.in_flight += 1
            pace.starts += 1
            pace.last_start = time.monotonic()
            try:
                yield self._wire_gate(pace, key, window)
            finally:
                pace.in_flight -= 1
