"""Fetch one URL politely and safely, and hand back the raw exchanges for the archive.

``Fetcher.fetch(url)`` does, in order: the scope and address checks, robots.txt, per-host
pacing, the request itself (streamed, byte cap per chunk, a total deadline around the whole
exchange since httpx's read timeout alone does not stop a slow drip), retries with backoff
and Retry-After, and manual redirects with every check repeated on every hop.

Connections to host names go through ``scope.PinnedResolver``: resolved once, vetted, and
connected by the vetted address (TLS still verifies and sends SNI for the name). Proxies
(the ``proxy`` setting, or ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` minus ``NO_PROXY``)
resolve names themselves, so then only IP-literal hosts are checked.

Requests go straight to httpx transports (``httpx.Request`` → ``transport.handle_async_request``),
without ``AsyncClient``: redirects, cookies and auth are ours to decide, and the client's
per-request redirect parsing would reject a hostile ``Location`` before our scope check could
name it. Hosts are spread over several transports (connection pools) by a stable hash: one
httpcore pool slows down as it grows, several small ones do not.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import logging
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from w3lib.url import safe_url_string

from crawler.config import CrawlSettings, NetworkSettings, Site
from crawler.errors import (
    ConfigError,
    FetchError,
    HttpStatusError,
    RobotsDisallowed,
    ScopeViolation,
    TooLarge,
    TooManyRedirects,
    TransportError,
)
from crawler.models import Exchange
from crawler.politeness import Clock, PaceRule, Politeness, SystemClock
from crawler.retry import Deferral, RetryableStatus, is_retryable_status, parse_retry_after, retrying
from crawler.retry import transport_error as _transport_error
from crawler.robots import MAX_ROBOTS_REDIRECTS, RobotsCache, RobotsResponse
from crawler.scope import PinnedResolver, Resolver, Scope, system_resolver
from crawler.transport import ProxyRoutes, Router, check_overrun, peer_address
from crawler.urls import host_problem

log = logging.getLogger(__name__)

ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ACCEPT_ENCODING = "gzip, deflate, br"
ACCEPT_LANGUAGE = "id,en;q=0.8"
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
SKIPPED_REASONS = frozenset({"robots", "out_of_scope"})
MAX_RESPONSE_HEADERS = 1000
REQUESTS_PER_POOL = 4  # a host allowed more requests at once is spread over several pools

Archive = Callable[[Exchange], Awaitable[None]]
Outcome = Literal["ok", "failed", "skipped", "deferred"]


@dataclass(frozen=True)
class FetchResult:
    """What became of one URL.

    ``exchanges`` are the responses worth archiving, in order: redirect hops, then the final
    response, or a body cut at ``max_body_bytes`` (``truncated="length"``); never the retried
    429/5xx attempts. ``final`` is the last response when the fetch succeeded, else None.
    ``retry_at`` (epoch seconds) is set when the URL should stay queued and be tried again.
    """

    url: str
    exchanges: tuple[Exchange, ...] = ()
    final: Exchange | None = None
    error: FetchError | None = None
    retry_at: float | None = None
    skipped: bool = False

    @property
    def outcome(self) -> Outcome:
        if self.error is None:
            return "ok"
        if self.retry_at is not None:
            return "deferred"
        return "skipped" if self.skipped else "failed"

    @property
    def state(self) -> str | None:
        """``failed:<reason>`` / ``skipped:<reason>``, or None when fetched or deferred."""
        outcome = self.outcome
        if outcome in ("ok", "deferred") or self.error is None:
            return None
        return f"{outcome}:{self.error.reason}"


class _Skip(Exception):
    """Control flow: give up on the URL as ``skipped:<reason>`` (e.g. a declared oversize body)."""

    def __init__(self, error: FetchError) -> None:
        super().__init__(str(error))
        self.error = error


class _Stop(Exception):
    """Control flow: give up on the URL as ``failed:<reason>`` keeping an exchange to archive."""

    def __init__(self, error: FetchError, exchange: Exchange) -> None:
        super().__init__(str(error))
        self.error = error
        self.exchange = exchange


# ---------------------------------------------------------------- the fetcher


class Fetcher:
    """Fetches URLs of the configured sites: scope, robots, pacing, retries, redirects.

    ``archive`` receives robots.txt exchanges (page exchanges come back in ``FetchResult``).
    ``transport`` replaces the network (``httpx.MockTransport`` in tests); ``resolver`` replaces
    DNS; ``client_shards`` is how many connection pools hosts are spread over.
    """

    def __init__(
        self,
        settings: CrawlSettings,
        network: NetworkSettings,
        sites: Sequence[Site],
        *,
        archive: Archive | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        resolver: Resolver = system_resolver,
        client_shards: int = 1,
        trust_env: bool = True,
    ) -> None:
        self._settings = settings
        self._archive = archive
        self._clock = clock or SystemClock()
        self._scope = Scope.build(sites, network.allow_private_addresses, settings.max_url_length)
        self._politeness = Politeness(self._clock)
        self._robots = RobotsCache(settings.robots, self._clock)
        self._pinned = PinnedResolver(self._scope.guard, resolver)
        self._routes = ProxyRoutes.build(settings.proxy, trust_env)
        if settings.http2:
            _require_h2()
        shards = 1 if transport is not None else max(1, client_shards)
        self._ssl_context = httpx.create_ssl_context() if transport is None else None
        self._pools = [transport or self._transport() for _ in range(shards)]
        self._turns: dict[str, int] = {}  # per pacing key: which of its pools is next
        t = settings.timeouts_s
        self._timeout = httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.total).as_dict()

    @property
    def politeness(self) -> Politeness:
        return self._politeness

    @property
    def robots(self) -> RobotsCache:
        return self._robots

    @property
    def scope(self) -> Scope:
        return self._scope

    def _transport(self) -> httpx.AsyncBaseTransport:
        keep = self._settings.concurrency
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=keep, keepalive_expiry=30.0)
        assert self._ssl_context is not None
        return Router.build(self._pinned, self._routes, limits, self._ssl_context, self._settings.http2)

    def _pool_for(self, key: str) -> httpx.AsyncBaseTransport:
        """A host's pool; a host allowed many requests at once takes turns over several pools
        (httpcore scans a pool's requests × connections on every request: keep both small)."""
        count = len(self._pools)
        if count == 1:
            return self._pools[0]
        spread = min(count, -(-self._settings.max_concurrency_per_host // REQUESTS_PER_POOL))
        turn = self._turns[key] = (self._turns.get(key, -1) + 1) % spread
        return self._pools[(zlib.crc32(key.encode()) + turn) % count]

    async def aclose(self) -> None:
        """Close every connection."""
        for pool in self._pools:
            await pool.aclose()

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------ one URL

    async def fetch(self, url: str) -> FetchResult:
        """Fetch ``url`` following redirects; never raises for a per-URL failure."""
        hops: list[Exchange] = []
        try:
            final = await self._follow(url, hops)
        except Deferral as deferral:
            log.info("deferred until %.0f: %s", deferral.retry_at, deferral.error)
            return FetchResult(url, tuple(hops), error=deferral.error, retry_at=deferral.retry_at)
        except _Skip as skip:
            log.info("skipped: %s", skip.error)
            return FetchResult(url, tuple(hops), error=skip.error, skipped=True)
        except _Stop as stop:
            log.warning("%s", stop.error)
            return FetchResult(url, (*hops, stop.exchange), error=stop.error)
        except FetchError as error:
            skipped = error.reason in SKIPPED_REASONS
            (log.info if skipped else log.warning)("%s", error)
            return FetchResult(url, tuple(hops), error=error, skipped=skipped)
        return FetchResult(url, tuple(hops), final=final)

    async def _follow(self, url: str, hops: list[Exchange]) -> Exchange:
        current = url
        for _ in range(self._settings.max_redirects + 1):
            site = self._scope.check(current)
            await self._check_robots(current, site)
            exchange = await self._fetch_hop(current, site)
            hops.append(exchange)
            target = redirect_target(exchange)
            if target is None:
                return exchange
            current = target
        chain = " -> ".join(h.url for h in hops)
        raise TooManyRedirects(
            f"{url}: more than max_redirects={self._settings.max_redirects} redirects ({chain} -> {current})"
        )

    def _rule(self, site: Site | None) -> PaceRule:
        politeness = site.politeness if site is not None else None
        interval = politeness.interval_s if politeness and politeness.interval_s is not None else None
        cap = politeness.max_concurrency if politeness and politeness.max_concurrency else None
        return PaceRule(
            interval_s=self._settings.interval_s if interval is None else interval,
            max_concurrency=cap or self._settings.max_concurrency_per_host,
        )

    def _check_pause(self, key: str, url: str) -> None:
        """Defer instead of holding a worker when ``key`` cannot be asked for a long while
        (a long Retry-After, or a huge robots.txt Crawl-delay)."""
        remaining = self._politeness.ready_in(key)
        if remaining > self._settings.retry.retry_after_max_s:
            error = HttpStatusError(
                f"{url}: {key} may not be asked for {remaining:.0f} s (Retry-After or Crawl-delay)",
                reason="paused",
            )
            raise Deferral(error, self._clock.time() + remaining)

    async def _fetch_hop(self, url: str, site: Site) -> Exchange:
        """One hop with retries: the exchange, or a typed failure."""
        key, rule = self._scope.pace_key(url, site), self._rule(site)
        policy = self._settings.retry
        try:
            async for attempt in retrying(policy, self._clock.sleep):
                with attempt:
                    self._check_pause(key, url)
                    exchange = await self._attempt(url, key, rule, self._settings.max_body_bytes)
                    self._raise_for_retry(exchange, key, rule)
                    return exchange
        except RetryableStatus as exc:
            raise exc.to_error() from exc
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            raise _transport_error(exc, url) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _raise_for_retry(self, exchange: Exchange, key: str, rule: PaceRule) -> None:
        if exchange.truncated == "length":
            too_large = TooLarge(
                f"{exchange.url}: body above max_body_bytes={self._settings.max_body_bytes}; cut there"
            )
            raise _Stop(too_large, exchange)
        if not is_retryable_status(exchange.status):
            return
        retry_after = parse_retry_after(exchange.header("retry-after"), self._clock.time())
        if retry_after is not None and exchange.status in (429, 503):
            self._politeness.pause(key, rule, retry_after)
            if retry_after > self._settings.retry.retry_after_max_s:
                error = HttpStatusError(
                    f"{exchange.url}: HTTP {exchange.status} with Retry-After {retry_after:.0f} s, above "
                    f"retry_after_max_s={self._settings.retry.retry_after_max_s:.0f}; deferred",
                    reason=f"http_{exchange.status}",
                )
                raise Deferral(error, self._clock.time() + retry_after)
        raise RetryableStatus(exchange, retry_after)

    async def _attempt(
        self, url: str, key: str, rule: PaceRule, limit: int, *, cut_quietly: bool = False,
        accept_encoding: str = ACCEPT_ENCODING,
    ) -> Exchange:
        """One request in one politeness slot, bounded by the total deadline."""
        headers = {"User-Agent": self._settings.user_agent, "Accept": ACCEPT,
                   "Accept-Encoding": accept_encoding, "Accept-Language": ACCEPT_LANGUAGE}
        pool = self._pool_for(key)
        async with self._politeness.slot(key, rule) as wire_gate:
            extensions: dict[str, object] = {"timeout": self._timeout}
            if wire_gate is not None:
                extensions["trace"] = wire_gate
            try:
                request = httpx.Request("GET", url, headers=headers, extensions=extensions)
            except (httpx.InvalidURL, ValueError) as exc:  # ValueError: idna's errors on a host
                raise ScopeViolation(f"{url[:200]}: not a valid URL: {exc}", reason="bad_url") from exc
            fetched = datetime.fromtimestamp(self._clock.time(), UTC)
            async with asyncio.timeout(self._settings.timeouts_s.total):
                response = await pool.handle_async_request(request)
                try:
                    address = peer_address(response)
                    body, truncated = await self._receive(response, url, limit, cut_quietly)
                finally:
                    await response.aclose()
        return _exchange(url, request, response, body, fetched, truncated, address)

    async def _receive(self, response: httpx.Response, url: str, limit: int,
                       cut_quietly: bool) -> tuple[bytes, str | None]:
        """The body within ``limit``: a declared oversize is refused before reading."""
        check_framing(response, url)
        declared = declared_length(response)
        if declared is not None and declared > limit and not cut_quietly:
            raise _Skip(TooLarge(f"{url}: Content-Length {declared} is above max_body_bytes={limit}; "
                                 "not downloaded"))
        body, truncated = await read_capped(response, limit)
        if declared is not None and truncated is None and check_overrun(response, len(body)):
            log.warning("%s: server sent more than Content-Length %d; connection dropped", url, declared)
        return body, truncated

    # ------------------------------------------------------------ robots.txt

    async def _check_robots(self, url: str, site: Site) -> None:
        policy = self._settings.robots
        if policy.mode == "ignore":
            return
        parts = urlsplit(url)
        origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
        rules = await self._robots.rules_for(origin, self._load_robots)
        if rules.state == "unavailable":
            error = RobotsDisallowed(
                f"{url}: {origin}/robots.txt is unavailable ({rules.detail}); nothing is fetched from "
                "this host until it answers",
                reason="robots_unavailable",
            )
            raise Deferral(error, rules.retry_at or self._clock.time())
        user_agent = self._settings.user_agent
        if not rules.allows(url, user_agent):
            raise RobotsDisallowed(f"{url}: disallowed by {origin}/robots.txt for {user_agent!r}")
        if policy.honor_crawl_delay:
            delay = rules.crawl_delay(user_agent)
            if delay:
                self._politeness.set_crawl_delay(self._scope.pace_key(url, site), self._rule(site), delay)

    async def _load_robots(self, origin: str) -> RobotsResponse:
        """GET robots.txt with up to five redirects, one attempt each; every exchange archived."""
        url = f"{origin}/robots.txt"
        for _ in range(MAX_ROBOTS_REDIRECTS + 1):
            try:
                self._scope.check_url(url)
                site = self._scope.site_for(url)
                key = self._scope.pace_key(url, site)
                exchange = await self._attempt(
                    url, key, self._rule(site), self._settings.robots.max_bytes, cut_quietly=True,
                    accept_encoding="gzip, deflate",
                )
            except ScopeViolation as exc:
                return RobotsResponse(status=None, error=f"{url}: {type(exc).__name__}: {exc}")
            except (httpx.ProtocolError, httpx.DecodingError, FetchError) as exc:  # an answer, unreadable
                error = f"{url}: {type(exc).__name__}: {exc}"
                return RobotsResponse(status=None, error=error, unreadable=True)
            except (httpx.HTTPError, TimeoutError, OSError) as exc:
                return RobotsResponse(status=None, error=f"{url}: {type(exc).__name__}: {exc}")
            if self._archive is not None:
                await self._archive(exchange)
            try:
                target = redirect_target(exchange)
            except ScopeViolation as exc:
                return RobotsResponse(status=None, error=str(exc))
            if target is None:
                return RobotsResponse(
                    exchange.status, exchange.body, exchange.header("content-encoding"),
                    truncated=exchange.truncated is not None,
                )
            url = target
        log.warning("%s/robots.txt: more than %d redirects; treated as absent", origin, MAX_ROBOTS_REDIRECTS)
        return RobotsResponse(status=None, too_many_redirects=True)


# ---------------------------------------------------------------- helpers


def redirect_target(exchange: Exchange) -> str | None:
    """The absolute URL a 3xx points to (fragment dropped), or None when not a redirect.

    A ``Location`` that is no usable URL (``http://[x]/``, a broken port, a host that cannot
    be IDNA-encoded) raises ``ScopeViolation`` with reason ``bad_redirect``: the response fails
    its URL, named, instead of a ``ValueError`` from the URL parser.
    """
    if exchange.status not in REDIRECT_STATUSES:
        return None
    location = exchange.header("location")
    if not location or not location.strip():
        return None
    try:
        target = urljoin(exchange.url, location.strip())
        parts = urlsplit(target)
        if parts.scheme.lower() in ("http", "https"):
            parts = urlsplit(safe_url_string(target))  # percent-encode spaces and non-ASCII, IDNA host
            parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in 0-65535
            problem = host_problem((parts.hostname or "").rstrip("."))
            if problem:
                raise ValueError(problem)
    except ValueError as exc:
        raise ScopeViolation(
            f"{exchange.url}: HTTP {exchange.status} redirects to {location.strip()[:200]!r}, which is not a "
            f"usable URL ({exc}); not followed", reason="bad_redirect",
        ) from exc
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def declared_length(response: httpx.Response) -> int | None:
    """The Content-Length the server declared, when it is one clean number."""
    value = response.headers.get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


async def read_capped(response: httpx.Response, limit: int) -> tuple[bytes, str | None]:
    """The raw (still content-encoded, de-chunked) body, at most ``limit`` bytes.

    Memory stays within ``limit`` plus one network chunk; ``"length"`` says it was cut.
    """
    buffer = io.BytesIO()  # getvalue() hands over its buffer without a copy: no second body at the end
    size = 0
    stream = response.stream
    # a response built in memory (httpx.MockTransport) was read already: its ByteStream still
    # holds the bytes as given, still content-encoded
    in_memory = response.is_stream_consumed and isinstance(stream, httpx.ByteStream)
    chunk_source: AsyncIterator[bytes] | httpx.ByteStream = (
        stream if in_memory and isinstance(stream, httpx.ByteStream) else response.aiter_raw()
    )
    async for chunk in chunk_source:
        if size + len(chunk) > limit:
            buffer.write(chunk[: limit - size])
            return buffer.getvalue(), "length"
        buffer.write(chunk)
        size += len(chunk)
    return buffer.getvalue(), None


def check_framing(response: httpx.Response, url: str) -> None:
    """Refuse framing h11 tolerates but RFC 9112 calls an attack sign: CL with chunked; header floods."""
    headers = response.headers
    if "transfer-encoding" in headers and "content-length" in headers:
        raise TransportError(
            f"{url}: response has both Transfer-Encoding and Content-Length (RFC 9112 6.3: a possible "
            "response-splitting attempt); refused", reason="protocol",
        )
    if len(headers.raw) > MAX_RESPONSE_HEADERS:
        raise TransportError(
            f"{url}: response has {len(headers.raw)} header lines, above {MAX_RESPONSE_HEADERS}; refused",
            reason="protocol",
        )


def _exchange(url: str, request: httpx.Request, response: httpx.Response, body: bytes,
              fetched: datetime, truncated: str | None, address: str | None) -> Exchange:
    return Exchange(
        url=url,
        status=response.status_code,
        reason=response.reason_phrase,
        http_version=response.http_version,
        response_headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw),
        body=body,
        fetched=fetched,
        method=request.method,
        request_headers=tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw),
        ip_address=address,
        truncated=truncated,
    )


def _require_h2() -> None:
    if importlib.util.find_spec("h2") is None:
        raise ConfigError(
            "crawl.http2: true needs the 'h2' package: pip install 'httpx[http2]' (or set http2: false)"
        )


__all__ = ["Fetcher", "FetchResult", "declared_length", "read_capped", "redirect_target"]
