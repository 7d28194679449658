"""RELIABILITY C1–C6: status handling, retries, backoff and Retry-After, on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from crawler.config import RetryPolicy, RobotsPolicy
from crawler.retry import is_retryable_status, is_transient, parse_retry_after, transport_error
from tests.support.faultserver import FaultServer
from tests.support.fetchkit import FakeClock, fetcher, settings

NO_ROBOTS = RobotsPolicy(mode="ignore", justification="retry tests count page hits only")
NOW = 1_700_000_000.0


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    async with FaultServer() as running:
        yield running


def http_date(epoch: float) -> str:
    return format_datetime(datetime.fromtimestamp(epoch, UTC), usegmt=True)


# ---------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), (" 120 ", 120.0), ("0", 0.0), (http_date(NOW + 30), 30.0), (http_date(NOW - 30), None),
     ("soon", None), ("-5", None), ("", None), (None, None), ("Wed, 99 Foo 2024 00:00:00", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize(
    ("status", "retry"),
    [(408, True), (429, True), (500, True), (502, True), (503, True), (504, True), (501, False),
     (505, False), (404, False), (403, False), (410, False), (200, False), (301, False)],
)
def test_retryable_statuses(status: int, retry: bool) -> None:
    assert is_retryable_status(status) is retry


def test_transient_protocol_errors_are_told_apart() -> None:
    assert is_transient(httpx.RemoteProtocolError("peer closed connection without sending complete body"))
    assert is_transient(httpx.RemoteProtocolError("Server disconnected without sending a response."))
    assert not is_transient(httpx.RemoteProtocolError("illegal chunk header: bytearray(b'zz')"))
    assert not is_transient(httpx.LocalProtocolError("bad"))
    assert is_transient(TimeoutError())
    assert transport_error(httpx.ReadTimeout("x"), "u").reason == "timeout"
    assert transport_error(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]"), "u").reason == "tls"


# ---------------------------------------------------------------- C rows on the wire


async def test_C1_429_pauses_the_whole_host(server: FaultServer) -> None:
    async with fetcher(settings(robots=NO_ROBOTS)) as f:
        first = asyncio.create_task(f.fetch(server.url("/once/429/a?retry_after=1")))
        while not server.hits_for("/once/429/a"):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the 429 has reached the fetcher
        second = await f.fetch(server.url("/page/b"))
        result = await first
    limited = server.hits_for("/once/429/a")
    assert len(limited) == 2
    assert limited[1].t - limited[0].t >= 1.0 - 0.02
    assert server.hits_for("/page/b")[0].t - limited[0].t >= 1.0 - 0.02
    assert result.outcome == second.outcome == "ok"
    assert [e.status for e in result.exchanges] == [200]  # the 429 is not a capture


@pytest.mark.parametrize(
    ("retry_after", "waits_between"),
    [(lambda now: http_date(now + 40), (39.0, 40.0)),   # date: parsed
     (lambda now: http_date(now - 40), (0.05, 0.1)),    # in the past: backoff
     (lambda now: "garbage", (0.05, 0.1))],             # garbage: backoff
    ids=["http_date", "past_date", "garbage"],
)
async def test_C2_retry_after_variants(
    server: FaultServer, retry_after: Callable[[float], str], waits_between: tuple[float, float]
) -> None:
    clock = FakeClock(NOW)
    crawl = settings(robots=NO_ROBOTS, retry=RetryPolicy(attempts=2, backoff_base_s=0.05, backoff_max_s=1,
                                                         retry_after_max_s=60))
    async with fetcher(crawl, clock=clock) as f:
        value = retry_after(clock.time())
        result = await f.fetch(server.url(f"/once/429/x?retry_after={value}"))
    assert result.outcome == "ok"
    low, high = waits_between
    assert len(clock.slept) >= 1 and low <= sum(clock.slept) <= high


async def test_C2_retry_after_too_long_defers_and_other_hosts_proceed(server: FaultServer) -> None:
    clock = FakeClock(NOW)
    async with FaultServer() as other, fetcher(settings(robots=NO_ROBOTS), clock=clock) as f:
        deferred = await f.fetch(server.url("/status/429?retry_after=86400"))
        same_host = await f.fetch(server.url("/page/next"))
        elsewhere = await f.fetch(other.url("/page/x"))
    assert deferred.outcome == "deferred" and deferred.error is not None
    assert deferred.error.reason == "http_429" and deferred.retry_at == pytest.approx(NOW + 86400)
    assert deferred.state is None and deferred.exchanges == ()
    assert same_host.outcome == "deferred"  # the host is paused: not even asked
    assert len(server.page_hits()) == 1
    assert elsewhere.outcome == "ok"


async def test_C3_persistent_503(server: FaultServer) -> None:
    base = 0.1
    crawl = settings(robots=NO_ROBOTS, retry=RetryPolicy(attempts=3, backoff_base_s=base, backoff_max_s=1))
    async with fetcher(crawl) as f:
        result = await f.fetch(server.url("/status/503"))
    assert result.state == "failed:http_503" and result.exchanges == ()
    hits = server.hits_for("/status/503")
    assert len(hits) == 3
    first, second = FaultServer.gaps(hits)
    assert base - 0.01 <= first <= 2 * base + 0.1
    assert 2 * base - 0.01 <= second <= 3 * base + 0.1


async def test_C4_500_once_then_200(server: FaultServer) -> None:
    async with fetcher(settings(robots=NO_ROBOTS)) as f:
        result = await f.fetch(server.url("/once/500/x"))
    assert result.outcome == "ok"
    assert len(server.hits_for("/once/500/x")) == 2
    assert [e.status for e in result.exchanges] == [200]


@pytest.mark.parametrize("status", [404, 410, 403, 501])
async def test_C5_final_statuses_are_not_retried(server: FaultServer, status: int) -> None:
    async with fetcher(settings(robots=NO_ROBOTS)) as f:
        result = await f.fetch(server.url(f"/status/{status}"))
    assert result.outcome == "ok"  # fetched faithfully; the pipeline records done:not_found etc.
    assert result.final is not None and result.final.status == status
    assert result.exchanges == (result.final,)
    assert len(server.page_hits()) == 1


async def test_408_is_retried(server: FaultServer) -> None:
    async with fetcher(settings(robots=NO_ROBOTS)) as f:
        result = await f.fetch(server.url("/once/408/x"))
    assert result.outcome == "ok" and len(server.hits_for("/once/408/x")) == 2


async def test_C6_empty_200_is_fetched(server: FaultServer) -> None:
    async with fetcher(settings(robots=NO_ROBOTS)) as f:
        result = await f.fetch(server.url("/empty"))
    assert result.outcome == "ok" and result.final is not None and result.final.body == b""
