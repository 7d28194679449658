"""Which failures are worth another attempt, and how long to wait before it.

Retried: timeouts, connection failures and resets, a server that hung up mid-message, and
the statuses 408, 429 and 5xx (except 501 and 505, which do not change on retry). Never
retried: other 4xx, TLS verification failures, malformed HTTP (an illegal chunk or status
line is the server's bug, not bad luck), size caps and policy refusals.

The wait is exponential with jitter, capped (``retry.backoff_base_s`` · 2ⁿ + U(0, base),
at most ``retry.backoff_max_s``), unless the server sent ``Retry-After`` (seconds or an
HTTP-date), which wins. A ``Retry-After`` above ``retry.retry_after_max_s`` is not waited for:
the URL is deferred (``Deferral``) so the frontier keeps it queued.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base, wait_exponential_jitter

from crawler.config import RetryPolicy
from crawler.errors import FetchError, HttpStatusError, TransportError
from crawler.models import Exchange

_PERMANENT_5XX = frozenset({501, 505})
MAX_RETRY_AFTER_S = 7 * 24 * 3600.0  # a longer Retry-After (up to 10**400 s) is read as a week

# h11/httpcore messages for a peer that went away mid-message: bad luck, worth a retry.
_TRANSIENT_PROTOCOL = ("peer closed connection", "server disconnected", "incomplete", "connection reset")


def is_retryable_status(status: int) -> bool:
    """408, 429 and 5xx other than 501/505."""
    return status in (408, 429) or (500 <= status <= 599 and status not in _PERMANENT_5XX)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    None when absent, unparsable, negative or in the past: the caller falls back to backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # str.isdigit also takes "²" and "٣", float() not all
        return min(float(text), MAX_RETRY_AFTER_S)
    try:
        moment = parsedate_to_datetime(text)
        if moment.tzinfo is None:
            return None
        delay = moment.timestamp() - now
    except (TypeError, ValueError, IndexError, OverflowError):  # OverflowError: beyond year 1-9999 in UTC
        return None
    return min(delay, MAX_RETRY_AFTER_S) if delay > 0 else None


class RetryableStatus(Exception):
    """A response whose status says "try again" (408/429/5xx); carries it for the last attempt."""

    def __init__(self, exchange: Exchange, retry_after_s: float | None) -> None:
        super().__init__(f"{exchange.url}: HTTP {exchange.status}")
        self.exchange = exchange
        self.retry_after_s = retry_after_s

    def to_error(self) -> HttpStatusError:
        """The terminal error once attempts run out: ``failed:http_<status>``."""
        return HttpStatusError(
            f"{self.exchange.url}: HTTP {self.exchange.status} {self.exchange.reason} on every attempt",
            reason=f"http_{self.exchange.status}",
        )


class Deferral(Exception):
    """Control flow, not an error kind: stop now, come back at ``retry_at`` (epoch seconds).

    ``error`` is the typed reason reported meanwhile; the frontier keeps the URL queued.
    """

    def __init__(self, error: FetchError, retry_at: float) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_at = retry_at


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSL:" in text


def transport_error(exc: BaseException, url: str) -> TransportError:
    """Map an httpx/asyncio failure to a ``TransportError`` with reason connect/timeout/protocol/tls."""
    detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return TransportError(f"{url}: timed out ({detail}); check timeouts_s", reason="timeout")
    if isinstance(exc, httpx.ConnectError) and _is_tls(exc):
        return TransportError(
            f"{url}: TLS handshake failed ({detail}); certificate verification is never disabled",
            reason="tls",
        )
    if isinstance(exc, httpx.ProtocolError | httpx.DecodingError | httpx.UnsupportedProtocol):
        return TransportError(f"{url}: malformed HTTP from the server ({detail})", reason="protocol")
    return TransportError(f"{url}: connection failed ({detail})", reason="connect")


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt could plausibly succeed."""
    if isinstance(exc, RetryableStatus | TimeoutError | httpx.TimeoutException):
        return True
    if isinstance(exc, httpx.RemoteProtocolError):
        text = str(exc).lower()
        return any(marker in text for marker in _TRANSIENT_PROTOCOL)
    if isinstance(exc, httpx.ConnectError):
        return not _is_tls(exc)
    return isinstance(exc, httpx.NetworkError | httpx.ProxyError)


class _WaitPolicy(wait_base):
    """Retry-After when the server gave one, otherwise exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_exponential_jitter(
            multiplier=policy.backoff_base_s, max=policy.backoff_max_s, jitter=policy.backoff_base_s
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, RetryableStatus) and exc.retry_after_s is not None:
            return exc.retry_after_s
        return float(self._backoff(retry_state))


def retrying(policy: RetryPolicy, sleep: Callable[[float], Awaitable[None]]) -> AsyncRetrying:
    """A tenacity loop for one URL hop: ``policy.attempts`` tries, transient failures only."""
    return AsyncRetrying(
        stop=stop_after_attempt(policy.attempts),
        wait=_WaitPolicy(policy),
        retry=retry_if_exception(is_transient),
        sleep=sleep,
        reraise=True,
    )
