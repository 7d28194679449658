"""robots.txt per RFC 9309, parsed with protego and cached per origin.

What a fetch of ``/robots.txt`` means (``interpret``):

- 2xx: the first ``robots.max_bytes`` are parsed (a rule cut in half at the limit is dropped);
- 4xx other than 429: no usable file, everything is allowed;
- 429, 5xx, a timeout or an unreachable host: *unavailable*, nothing is fetched from that
  origin for now and robots.txt is asked again later, with a growing delay (fail-closed, like
  Heritrix); a previously fetched copy keeps applying meanwhile;
- more than five redirects: treated as no file (allow), as RFC 9309 permits.

The network half (fetching, following redirects, archiving each exchange) lives in
``crawler.fetch``; this module holds the policy and the cache.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from protego import Protego

from crawler.config import RobotsPolicy
from crawler.politeness import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_ROBOTS_REDIRECTS = 5
UNAVAILABLE_RETRY_S = 60.0

State = Literal["rules", "allow_all", "unavailable"]


@dataclass(frozen=True)
class RobotsResponse:
    """What fetching robots.txt gave: a status and body, or no response at all (``status=None``)."""

    status: int | None
    body: bytes = b""
    content_encoding: str | None = None
    truncated: bool = False
    too_many_redirects: bool = False
    error: str | None = None


@dataclass(frozen=True)
class RobotsRules:
    """The verdict for one origin at one time."""

    state: State
    parser: Protego | None = None
    retry_at: float | None = None  # epoch seconds, when unavailable
    detail: str = ""

    def allows(self, url: str, user_agent: str) -> bool:
        """Whether ``url`` may be fetched (False while robots.txt is unavailable)."""
        if self.state == "unavailable":
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, user_agent))

    def crawl_delay(self, user_agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return float(delay) if delay is not None else None


def robots_text(body: bytes, content_encoding: str | None, max_bytes: int, truncated: bool) -> str:
    """The text to parse: decoded within ``max_bytes``, a rule cut at the limit dropped."""
    data = _bounded_decode(body, content_encoding, max_bytes)
    if data is None:
        return ""
    if truncated or len(data) >= max_bytes:
        data = data[:max_bytes]
        data = data[: data.rfind(b"\n") + 1]
    return data.decode("utf-8", errors="replace")


def _bounded_decode(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes | None:
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip", "deflate"):
        try:
            return zlib.decompressobj(47).decompress(body, max_bytes)  # 47: gzip or zlib header
        except zlib.error:
            try:
                return zlib.decompressobj(-15).decompress(body, max_bytes)
            except zlib.error:
                return None
    return None


def parse_rules(text: str) -> Protego | None:
    """A protego parser for ``text``, or None (allow all) when it holds no rules at all."""
    try:
        return Protego.parse(text)
    except Exception as exc:  # protego is lenient; anything it still chokes on means "no rules"
        log.warning("robots.txt could not be parsed (%s); treating it as empty", exc)
        return None


def interpret(response: RobotsResponse, policy: RobotsPolicy, retry_at: float) -> RobotsRules:
    """RFC 9309 status handling; ``retry_at`` is used when the file is unavailable."""
    if response.too_many_redirects:
        return RobotsRules("allow_all", detail="more than 5 redirects: treated as no robots.txt")
    status = response.status
    if status is None:
        return RobotsRules("unavailable", retry_at=retry_at, detail=response.error or "unreachable")
    if 200 <= status < 300:
        text = robots_text(response.body, response.content_encoding, policy.max_bytes, response.truncated)
        return RobotsRules("rules", parse_rules(text), detail=f"HTTP {status}")
    if 400 <= status < 500 and status != 429:
        return RobotsRules("allow_all", detail=f"HTTP {status}: no robots.txt")
    return RobotsRules("unavailable", retry_at=retry_at, detail=f"HTTP {status}")


@dataclass
class _Entry:
    rules: RobotsRules
    expires_at: float  # clock.monotonic()
    failures: int = 0


Loader = Callable[[str], Awaitable[RobotsResponse]]


class SharedRobots(Protocol):
    """robots.txt fetched once per origin per TTL for a whole crawl (a Redis frontier): one
    worker fetches it under a lock, the others read its copy."""

    async def load(self, origin: str, load: Loader, ttl_s: float) -> RobotsResponse: ...


@dataclass
class RobotsCache:
    """robots.txt verdicts per origin (``scheme://host[:port]``), refreshed after ``cache_ttl_s``.

    One fetch per origin at a time: concurrent requests for the same origin wait for it.
    """

    policy: RobotsPolicy
    clock: Clock = field(default_factory=SystemClock)
    unavailable_retry_s: float = UNAVAILABLE_RETRY_S
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    shared: SharedRobots | None = None  # set for a crawl-wide frontier

    async def rules_for(self, origin: str, load: Loader) -> RobotsRules:
        """The current rules of ``origin``, fetching robots.txt with ``load`` when needed."""
        entry = self._entries.get(origin)
        if entry is not None and entry.expires_at > self.clock.monotonic():
            return entry.rules
        lock = self._locks.setdefault(origin, asyncio.Lock())
        async with lock:
            entry = self._entries.get(origin)
            if entry is not None and entry.expires_at > self.clock.monotonic():
                return entry.rules
            return await self._refresh(origin, load, entry)

    async def _refresh(self, origin: str, load: Loader, old: _Entry | None) -> RobotsRules:
        failures = (old.failures if old else 0) + 1
        delay = min(self.unavailable_retry_s * 2 ** (failures - 1), self.policy.cache_ttl_s)
        if self.shared is not None:
            response = await self.shared.load(origin, load, self.policy.cache_ttl_s)
        else:
            response = await load(origin)
        rules = interpret(response, self.policy, self.clock.time() + delay)
        now = self.clock.monotonic()
        if rules.state != "unavailable":
            self._entries[origin] = _Entry(rules, now + self.policy.cache_ttl_s)
            return rules
        log.warning("%s/robots.txt unavailable (%s); retrying in %.0f s", origin, rules.detail, delay)
        if old is not None and old.rules.state != "unavailable":
            self._entries[origin] = _Entry(old.rules, now + delay, failures)  # keep the last good copy
            return old.rules
        self._entries[origin] = _Entry(rules, now + delay, failures)
        return rules

    def unavailable(self) -> list[str]:
        """Origins whose robots.txt is currently unavailable (for the end-of-run summary)."""
        return sorted(o for o, e in self._entries.items() if e.rules.state == "unavailable")
