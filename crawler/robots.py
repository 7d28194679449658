"""robots.txt per RFC 9309, parsed with protego and cached per origin.

What a fetch of ``/robots.txt`` means (``interpret``):

- 2xx: the first ``robots.max_bytes`` are parsed (a rule cut in half at the limit is dropped);
- 4xx other than 429: no usable file, everything is allowed;
- 429, 5xx, a timeout or an unreachable host: *unavailable*, nothing is fetched from that
  origin for now and robots.txt is asked again later, with a growing delay (fail-closed, like
  Heritrix); a previously fetched copy keeps applying meanwhile;
- more than five redirects: treated as no file (allow), as RFC 9309 permits;
- an answer that cannot be read (broken framing, a header flood, a Content-Encoding that
  cannot be undone, a body that is not text): *unavailable for the whole run*, never an empty
  file (allow-all) and never a failure of the host's pages: robots.txt is asked once per run
  and the host's URLs stay queued.

The text is cleaned before protego sees it: a byte-order mark (UTF-8, or UTF-16 decoded as
such) and other invisible characters at the start of the file or of a line are removed, since
they would hide the first ``User-agent`` line and with it every rule of the group.

The network half (fetching, following redirects, archiving each exchange) lives in
``crawler.fetch``; this module holds the policy and the cache.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
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
    unreadable: bool = False  # an answer came but could not be read (framing, protocol)


@dataclass(frozen=True)
class RobotsRules:
    """The verdict for one origin at one time."""

    state: State
    parser: Protego | None = None
    retry_at: float | None = None  # epoch seconds, when unavailable
    detail: str = ""
    for_the_run: bool = False  # unavailable until the run ends (unreadable: asking again won't help)

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


class UnreadableRobots(ValueError):
    """A robots.txt body that cannot be turned into text."""


# characters that print as nothing: a parser matching "User-agent:" does not see through them
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060\x00"
# control bytes no text file holds (tab, line feed, form feed and carriage return allowed)
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def robots_text(body: bytes, content_encoding: str | None, max_bytes: int, truncated: bool) -> str:
    """The text to parse: decoded within ``max_bytes``, a rule cut at the limit dropped,
    invisible characters at line starts removed. Raises ``UnreadableRobots``."""
    data = _bounded_decode(body, content_encoding, max_bytes)
    if data is None:
        raise UnreadableRobots(f"Content-Encoding {content_encoding!r} could not be undone")
    if truncated or len(data) >= max_bytes:
        data = data[:max_bytes]
        data = data[: data.rfind(b"\n") + 1]
    return _clean(_as_text(data))


def _as_text(data: bytes) -> str:
    """UTF-8 (RFC 9309), UTF-16 when it starts with its byte-order mark, else Latin-1 (a
    legacy charset); control bytes past the start mean it is not text at all."""
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec)
            except UnicodeDecodeError as exc:
                raise UnreadableRobots(f"a UTF-16 byte-order mark, then not UTF-16 ({exc})") from exc
    data = data.removeprefix(b"\xef\xbb\xbf").lstrip(b"\x00")
    binary = _BINARY.search(data)
    if binary is not None:
        at = binary.start()
        raise UnreadableRobots(f"not text: control byte 0x{data[at]:02x} at offset {at}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _clean(text: str) -> str:
    return "\n".join(line.lstrip(_INVISIBLE + " \t") for line in text.split("\n"))


def _bounded_decode(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes | None:
    coding = (content_encoding or "identity").strip().lower()
    if coding in ("", "identity"):
        return body
    if coding in ("gzip", "x-gzip", "deflate"):
        for window in (47, -15):  # 47: gzip or zlib header; -15: raw deflate
            inflater = zlib.decompressobj(window)
            try:
                data = inflater.decompress(body, max_bytes)
            except zlib.error:
                continue
            # a stream cut short could have lost a Disallow: unreadable, unless the cap cut it
            return data if inflater.eof or len(data) >= max_bytes else None
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
    if response.unreadable:
        return RobotsRules("unavailable", retry_at=retry_at, detail=response.error or "unreadable",
                           for_the_run=True)
    status = response.status
    if status is None:
        return RobotsRules("unavailable", retry_at=retry_at, detail=response.error or "unreachable")
    if 200 <= status < 300:
        try:
            text = robots_text(response.body, response.content_encoding, policy.max_bytes, response.truncated)
        except UnreadableRobots as exc:
            return RobotsRules("unavailable", retry_at=retry_at, detail=f"HTTP {status}, unreadable: {exc}",
                               for_the_run=True)
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
        # unreadable: asked again next run, not in this one (it would only be unreadable again)
        retry_in = math.inf if rules.for_the_run else delay
        if rules.for_the_run:
            log.warning("%s/robots.txt unreadable (%s); not asked again in this run", origin, rules.detail)
        else:
            log.warning("%s/robots.txt unavailable (%s); retrying in %.0f s", origin, rules.detail, delay)
        if old is not None and old.rules.state != "unavailable":
            self._entries[origin] = _Entry(old.rules, now + retry_in, failures)  # keep the last good copy
            return old.rules
        self._entries[origin] = _Entry(rules, now + retry_in, failures)
        return rules

    def unavailable(self) -> list[str]:
        """Origins whose robots.txt is currently unavailable (for the end-of-run summary)."""
        return sorted(o for o, e in self._entries.items() if e.rules.state == "unavailable")
