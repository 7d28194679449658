"""RELIABILITY C7 and E6: per-host pacing, concurrency caps and crawl-delay, from the server's clock."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from crawler.config import RobotsPolicy
from crawler.politeness import PaceRule, Politeness
from tests.support.faultserver import FaultServer, robots
from tests.support.fetchkit import FakeClock, fetcher, settings, site

NO_ROBOTS = RobotsPolicy(mode="ignore", justification="pacing tests count page hits only")
EPSILON = 0.015  # scheduling slack between the fetcher's start and the server's accept


@pytest.fixture
async def server() -> AsyncIterator[FaultServer]:
    async with FaultServer() as running:
        yield running


async def test_C7_per_host_rate(server: FaultServer) -> None:
    interval = 0.25
    async with FaultServer() as other, fetcher(settings(robots=NO_ROBOTS, interval_s=interval)) as f:
        started = time.monotonic()
        results = await asyncio.gather(
            *(f.fetch(server.url(f"/page/{n}")) for n in range(8)),
            *(f.fetch(other.url(f"/page/{n}")) for n in range(8)),
        )
        took = time.monotonic() - started
    assert all(r.outcome == "ok" for r in results)
    for host in (server, other):
        gaps = FaultServer.gaps(host.page_hits())
        assert len(gaps) == 7 and min(gaps) >= interval - EPSILON, gaps
    # the two hosts were paced side by side, not one after the other (that would take 3.75 s)
    assert took < 7 * interval + 0.6
    assert abs(server.page_hits()[0].t - other.page_hits()[0].t) < 0.1


async def test_C7_per_host_concurrency_cap(server: FaultServer) -> None:
    crawl = settings(robots=NO_ROBOTS, interval_s=0.02, max_concurrency_per_host=2)
    async with fetcher(crawl) as f:
        results = await asyncio.gather(*(f.fetch(server.url(f"/slow/{n}?delay=0.2")) for n in range(6)))
    assert all(r.outcome == "ok" for r in results)
    assert server.max_in_flight == 2


async def test_site_concurrency_overrides_the_default(server: FaultServer) -> None:
    crawl = settings(robots=NO_ROBOTS, max_concurrency_per_host=4)
    async with fetcher(crawl, [site("127.0.0.1", max_concurrency=1, interval_s=0)]) as f:
        await asyncio.gather(*(f.fetch(server.url(f"/slow/{n}?delay=0.1")) for n in range(3)))
    assert server.max_in_flight == 1


async def test_slow_host_never_stalls_others(server: FaultServer) -> None:
    crawl = settings(robots=NO_ROBOTS, timeouts_s={"connect": 1, "read": 1.0, "total": 1.0},
                     retry={"attempts": 1})
    async with FaultServer() as quick, fetcher(crawl) as f:
        stuck = [asyncio.create_task(f.fetch(server.url("/hang"))) for _ in range(4)]
        started = time.monotonic()
        fine = await asyncio.gather(*(f.fetch(quick.url(f"/page/{n}")) for n in range(5)))
        took = time.monotonic() - started
        await asyncio.gather(*stuck)
    assert all(r.outcome == "ok" for r in fine) and took < 0.5


async def test_pace_by_domain_shares_one_pace_across_subdomains(server: FaultServer) -> None:
    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    interval = 0.2
    sites = [site("portal.test", pace_by="domain", interval_s=interval)]
    async with fetcher(settings(robots=NO_ROBOTS), sites, resolver=loopback) as f:
        urls = [f"http://{sub}.portal.test:{server.port}/page/{n}" for n in range(3) for sub in ("a", "b")]
        results = await asyncio.gather(*(f.fetch(url) for url in urls))
    assert all(r.outcome == "ok" for r in results)
    gaps = FaultServer.gaps(server.page_hits())
    assert len(gaps) == 5 and min(gaps) >= interval - EPSILON


async def test_E6_crawl_delay_honored(server: FaultServer) -> None:
    server.route("/robots.txt", robots("User-agent: *\nCrawl-delay: 0.4\n"))
    async with fetcher(settings(interval_s=0.05)) as f:
        results = await asyncio.gather(*(f.fetch(server.url(f"/page/{n}")) for n in range(3)))
    assert all(r.outcome == "ok" for r in results)
    gaps = FaultServer.gaps(server.page_hits())
    assert min(gaps) >= 0.4 - EPSILON


async def test_E6_crawl_delay_ignored_when_not_honored(server: FaultServer) -> None:
    server.route("/robots.txt", robots("User-agent: *\nCrawl-delay: 5\n"))
    policy = RobotsPolicy(honor_crawl_delay=False)
    async with fetcher(settings(interval_s=0.05, robots=policy)) as f:
        started = time.monotonic()
        await asyncio.gather(*(f.fetch(server.url(f"/page/{n}")) for n in range(3)))
    assert time.monotonic() - started < 1.0


async def test_pause_extends_only_and_expires() -> None:
    clock = FakeClock()
    pace = Politeness(clock)
    rule = PaceRule(interval_s=0, max_concurrency=1)
    pace.pause("h", rule, 10)
    pace.pause("h", rule, 3)
    assert pace.paused_for("h") == pytest.approx(10)
    clock.advance(4)
    assert pace.paused_for("h") == pytest.approx(6)
    async with pace.slot("h", rule):  # waits out the pause on the fake clock
        assert pace.in_flight("h") == 1
    assert pace.paused_for("h") == 0 and sum(clock.slept) == pytest.approx(6)
    assert pace.paused_for("unknown") == 0


async def test_wire_gate_keeps_the_interval_when_the_loop_was_busy_after_the_throttle() -> None:
    pace = Politeness()
    rule = PaceRule(interval_s=0.2, max_concurrency=2)
    on_wire: list[float] = []

    async def request(busy_s: float) -> None:
        async with pace.slot("h", rule) as gate:
            assert gate is not None
            await asyncio.sleep(busy_s)  # e.g. a new connection, or the loop busy extracting
            await gate("connection.connect_tcp.started", {})  # other trace events pass through
            await gate("http11.send_request_headers.started", {})
            on_wire.append(time.monotonic())
            await gate("http11.send_request_headers.started", {})  # a second call (proxy CONNECT) is free

    first = asyncio.create_task(request(busy_s=0.15))
    await asyncio.sleep(0.01)
    await request(busy_s=0.0)  # passes the throttle 0.2 s after the first, its headers go out at once
    await first
    assert len(on_wire) == 2 and abs(on_wire[1] - on_wire[0]) >= 0.2 - 0.005


async def test_no_wire_gate_without_pacing() -> None:
    async with Politeness().slot("h", PaceRule(interval_s=0, max_concurrency=1)) as gate:
        assert gate is None


async def test_L2_huge_crawl_delay_defers_instead_of_holding_a_worker(server: FaultServer) -> None:
    server.route("/robots.txt", robots("User-agent: *\nCrawl-delay: 86400\n"))
    clock = FakeClock()
    async with fetcher(settings(interval_s=0.05), clock=clock) as f:
        results = [await f.fetch(server.url(f"/page/{n}")) for n in range(3)]
    first, *later = results  # the robots.txt request does not start the day-long wait: a page does
    assert first.outcome == "ok"
    for result in later:
        assert result.outcome == "deferred" and result.error is not None and result.error.reason == "paused"
        assert result.retry_at is not None and result.retry_at - clock.time() > 86_000
    assert [hit.path for hit in server.page_hits()] == ["/page/0"]


def test_ready_in_reports_interval_and_pause() -> None:
    clock = FakeClock()
    pace = Politeness(clock)
    assert pace.ready_in("h") == 0
    pace.pause("h", PaceRule(interval_s=0, max_concurrency=1), 30)
    assert pace.ready_in("h") == pytest.approx(30)
