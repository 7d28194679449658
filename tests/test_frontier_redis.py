"""What only the Redis frontier does: leases (renewed while held, handed back when a worker
dies, ``failed:lease_expired`` past the limit), crawl-wide slots and pauses, worker numbers
and heartbeats, the crawl-wide page budget and stop, and a ``kill -9`` of redis-server."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.frontier import Kind, NewUrl, Status
from crawler.frontier_redis import RedisFrontier, request_stop, status
from tests.support.redisserver import RedisServer

_names = itertools.count()
NOW = time.time()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def crawl() -> str:
    return f"t{next(_names)}"


def _urls(n: int, host: str = "h.example") -> list[NewUrl]:
    return [NewUrl(url=f"http://{host}/a/{i}", site="s", kind=Kind.ARTICLE) for i in range(n)]


def _open(server: RedisServer, crawl: str, **options: object) -> RedisFrontier:
    frontier = RedisFrontier.open(server.url, crawl, **options)  # type: ignore[arg-type]
    frontier.begin_run()
    return frontier


def test_a_dead_workers_leases_come_back_counted_then_fail(server: RedisServer, crawl: str) -> None:
    alive = _open(server, crawl, lease_s=0.4, lease_attempts=2)
    alive.add(_urls(1))
    for attempt in (1, 2):
        dying = _open(server, crawl, lease_s=0.4, lease_attempts=2)
        (claimed,) = dying.claim(1, NOW)
        assert claimed.attempts == attempt
        dying.close()  # no more heartbeats or renewals: as after a kill -9
        assert alive.claim(1, NOW) == []  # the lease still holds
        time.sleep(0.5)
    assert alive.claim(1, NOW) == []  # the expired lease was the second: past the limit
    assert alive.counts() == {("s", Status.FAILED): 1}
    assert alive.reasons() == {("s", Status.FAILED, "lease_expired"): 1}
    alive.close()


def test_leases_are_renewed_while_held(server: RedisServer, crawl: str) -> None:
    holder = _open(server, crawl, lease_s=0.6)
    other = _open(server, crawl, lease_s=0.6)
    holder.add(_urls(1))
    (claimed,) = holder.claim(1, NOW)
    time.sleep(1.5)  # more than two lease times: the heartbeat thread renews it
    assert other.claim(1, NOW) == []
    assert other.in_progress() == 1
    holder.mark_done(claimed.id)
    assert other.counts() == {("s", Status.DONE): 1}
    holder.close()
    other.close()


def test_a_late_finish_after_the_lease_moved_on_changes_nothing(
    server: RedisServer, crawl: str, caplog: pytest.LogCaptureFixture
) -> None:
    slow = _open(server, crawl, lease_s=0.3)
    fast = _open(server, crawl, lease_s=30.0)
    slow.add(_urls(1))
    (first,) = slow.claim(1, NOW)
    slow._closing.set()  # its heartbeat stops (a stalled worker), the process goes on
    slow._heart.join()
    time.sleep(0.4)
    (second,) = fast.claim(1, NOW)
    assert (second.url, second.attempts) == (first.url, 2)
    slow.mark_failed(first.id, "http_503")
    assert "expired before it was marked" in caplog.text
    assert fast.counts() == {("s", Status.IN_PROGRESS): 1}
    fast.mark_done(second.id)
    assert fast.counts() == {("s", Status.DONE): 1}
    fast.close()
    slow._r.close()


def test_slots_are_booked_crawl_wide_and_pauses_shared(server: RedisServer, crawl: str) -> None:
    one, two = _open(server, crawl), _open(server, crawl)
    waits = [frontier.book("h.example", 0.2)[0] for frontier in (one, two, one)]
    slack = one.book("other.example", 0.2)[1]
    assert waits[0] == pytest.approx(0.0, abs=0.05)
    assert waits[1] == pytest.approx(0.2 + slack, abs=0.05)
    assert waits[2] == pytest.approx(2 * (0.2 + slack), abs=0.05)
    two.pause("p.example", 5.0)
    assert one.book("p.example", 0.2)[0] == pytest.approx(5.0, abs=0.1)
    one.close()
    two.close()


def test_worker_numbers_never_reused_heartbeats_name_the_live(server: RedisServer, crawl: str) -> None:
    first = _open(server, crawl)
    second = _open(server, crawl)
    assert second.worker == (first.worker or 0) + 1
    first.close()
    third = _open(server, crawl)
    assert third.worker == (second.worker or 0) + 1
    counts, workers = status(server.url, crawl)
    assert sorted(workers) == [second.worker, third.worker]
    second.close()
    third.close()


def test_max_pages_and_stop_are_crawl_wide(server: RedisServer, crawl: str) -> None:
    one = _open(server, crawl, max_pages=3, lease_s=0.3)
    two = _open(server, crawl, max_pages=3, lease_s=0.3)
    one.add(_urls(5, "a.example") + _urls(5, "b.example"))
    got = one.claim(2, NOW, per_host=5) + two.claim(5, NOW, per_host=5)
    assert len(got) == 3
    assert two.claim(1, NOW) == [] and two.halted() == "max_pages"
    assert one.halted() is None  # it has not asked since
    request_stop(server.url, crawl)
    time.sleep(0.4)  # a heartbeat (a third of the lease) reads it
    assert one.halted() == "stop"
    one.close()
    two.close()


def test_kill_9_of_redis_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as own:
        frontier = _open(own, "durable")
        assert frontier.add(_urls(200)) == 200
        claims = frontier.claim(10, NOW, per_host=10)
        frontier.mark_done(claims[0].id)
        own.kill()
        restarter = threading.Timer(0.5, own.start)
        restarter.start()
        try:
            # the client retries while redis-server is down, then sees everything acknowledged
            assert frontier.counts() == {("s", Status.TODO): 190, ("s", Status.IN_PROGRESS): 9,
                                         ("s", Status.DONE): 1}
        finally:
            restarter.join()
        frontier.mark_done(claims[1].id)
        assert frontier.counts()[("s", Status.DONE)] == 2
        frontier.close()


def test_robots_txt_is_fetched_once_for_the_crawl(server: RedisServer, crawl: str) -> None:
    import asyncio

    from crawler.robots import RobotsResponse

    one, two = _open(server, crawl), _open(server, crawl)
    calls: list[str] = []

    async def load(origin: str) -> RobotsResponse:
        calls.append(origin)
        await asyncio.sleep(0.2)  # the other worker asks meanwhile and waits for this copy
        return RobotsResponse(200, b"User-agent: *\nDisallow: /x\n")

    async def both() -> list[RobotsResponse]:
        return list(await asyncio.gather(
            *(frontier.robots().load("http://h.example", load, 60.0) for frontier in (one, two))
        ))

    answers = asyncio.run(both())
    assert calls == ["http://h.example"]
    assert [answer.body for answer in answers] == [b"User-agent: *\nDisallow: /x\n"] * 2
    one.close()
    two.close()
