"""One crawl on a Redis frontier by several worker processes, each with its own archive
directory, through the loopback portals: a worker killed with ``kill -9`` mid-crawl (the other
finishes, only the dead worker's leased URLs are fetched twice, one pace per host across
both, every WARC verifies, merge gives each article once), and redis-server killed with
``kill -9`` mid-crawl and restarted (the crawl finishes, nothing lost)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.config import builtin_sites
from crawler.frontier import Kind, Status
from crawler.frontier_redis import RedisAddress, RedisFrontier, connect, status
from crawler.scaleout import merge
from crawler.warc.recover import recover_file
from crawler.warc.verify import verify_file
from tests.support.portalserver import Fault, Portal, PortalServer, SiteShape, build_portal, portal_config
from tests.support.redisserver import RedisServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
INTERVAL_S = 0.2
LEASE_S = 2.0


@dataclass(frozen=True)
class World:
    portal: Portal
    server: PortalServer
    redis: RedisServer
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    shapes = [SiteShape(s.id, s.domains, s.listing.links, s.listing.next) for s in builtin_sites()]
    portal = build_portal(shapes)
    tmp = tmp_path_factory.mktemp("redis-crawl")
    with RedisServer(tmp / "redis") as redis_server, PortalServer(portal.routes) as server:
        yield World(portal, server, redis_server, tmp)


def _worker(world: World, crawl: str, archive: Path, *extra: str) -> subprocess.Popen[str]:
    config = world.tmp / f"{crawl}.yaml"
    if not config.exists():
        config.write_text(portal_config(
            world.portal, world.server, world.tmp / "unused", interval_s=INTERVAL_S, concurrency=4,
            rollover_bytes=150_000,
            extra_crawl={"frontier": world.redis.url, "name": crawl, "lease_s": LEASE_S},
        ))
    command = [sys.executable, "-m", "crawler.cli", "crawl", "--config", str(config),
               "--archive", str(archive), *extra]
    with (world.tmp / f"{archive.name}.log").open("w") as log:  # the child keeps its own copy
        return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True,
                                start_new_session=True)  # its own process group, as on its own machine


def _log(world: World, archive: Path) -> str:
    return (world.tmp / f"{archive.name}.log").read_text()[-3000:]


def _wait_for(predicate: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _articles(world: World) -> set[str]:
    return {page.url for page in world.portal.articles()}


def _verify_all(*archives: Path) -> None:
    warcs = []
    for archive in archives:
        for path in sorted(archive.glob("*.warc.gz.open")):  # what a killed worker left open
            recover_file(path)
        warcs += sorted(archive.glob("*.warc.gz"))
    assert warcs
    for path in warcs:
        report = verify_file(path)
        assert report.ok, report.lines()


def _min_gap_per_host(world: World, since: int) -> float:
    starts: dict[str, list[float]] = defaultdict(list)
    for hit in world.server.log[since:]:
        starts[hit.host].append(hit.at)
    gaps = [later - earlier for times in starts.values()
            for earlier, later in zip(sorted(times), sorted(times)[1:], strict=False)]
    return min(gaps)


def test_two_machines_one_killed_the_other_finishes(world: World) -> None:
    crawl = "two"
    start = len(world.server.log)
    one, two = world.tmp / "one", world.tmp / "two"
    paused = sorted(page.url for page in world.portal.articles())[0]
    world.server.fault(paused, Fault.too_many_requests(1))  # pauses its host for both workers
    first = _worker(world, crawl, one)
    second = _worker(world, crawl, two)
    try:
        _wait_for(lambda: len(status(world.redis.url, crawl)[1]) == 2)
        live = status(world.redis.url, crawl)[1]
        pids = {int(what.rsplit(" ", 1)[1]): number for number, what in live.items()}
        _wait_for(lambda: len(world.server.log) - start >= 25)
        os.killpg(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()  # the server logs on the same clock
        first.wait()
        client = connect(world.redis.url)
        prefix = RedisAddress(world.redis.url, crawl).prefix
        owners = client.hgetall(prefix + "owner")  # what the dead worker held (its leases run on ~2 s)
        dead = str(pids[first.pid])
        held = {client.hget(f"{prefix}r:{url_id}", "url") for url_id, token in owners.items()
                if token.split(":")[0] == dead}
        client.close()
        assert held, "the kill should land while the worker holds leases"
        second.wait(timeout=120)
    finally:
        for process in (first, second):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert second.returncode == 0, _log(world, two)
    counts, workers = status(world.redis.url, crawl)
    assert not workers
    assert {state for _, state in counts} == {Status.DONE}, counts
    with RedisFrontier.open(world.redis.url, crawl) as frontier:  # what the dead worker's pages pulled in
        held |= {row.url for row in frontier.rows()
                 if row.kind is Kind.CONTINUATION and row.discovered_from in held}
    fetched = Counter(hit.url for hit in world.server.log[start:])
    twice = {url for url, times in fetched.items() if times > 1}
    for url in {url for url in twice if url.endswith("/robots.txt")}:  # once, or the dead worker's try
        hits = [hit.at for hit in world.server.log[start:] if hit.url == url]
        assert len(hits) == 2 and hits[0] < killed_at < hits[1], f"{url} fetched by both workers"
    twice = {url for url in twice if not url.endswith("/robots.txt")} - {paused}  # its 429, then the retry
    assert twice <= held, f"fetched twice but not leased by the dead worker: {sorted(twice - held)}"
    assert _min_gap_per_host(world, start) >= INTERVAL_S - 0.01
    (refused,) = [hit for hit in world.server.log[start:] if hit.url == paused and hit.status == 429]
    after = [hit.at - refused.at for hit in world.server.log[start:] if hit.host == refused.host
             and hit.at > refused.at]
    assert after and min(after) >= 1.0 - 0.01, "Retry-After: 1 pauses the host for every worker"
    merged = world.tmp / "merged.jsonl"
    summary = merge([one, two], merged)
    urls = [json.loads(line)["url"] for line in merged.read_text(encoding="utf-8").splitlines()]
    assert len(urls) == len(set(urls)) == summary.written
    assert set(urls) == _articles(world)
    _verify_all(one, two)
    assert any(".w" in path.name for path in two.glob("*.warc.gz"))


def test_redis_killed_and_restarted_mid_crawl_loses_nothing(world: World) -> None:
    crawl = "redis-restart"
    start = len(world.server.log)
    archive = world.tmp / "restart"
    worker = _worker(world, crawl, archive)
    try:
        _wait_for(lambda: len(world.server.log) - start >= 20)
        world.redis.kill()
        restart = threading.Timer(1.0, world.redis.start)
        restart.start()
        worker.wait(timeout=120)
        restart.join()
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    assert worker.returncode == 0, _log(world, archive)
    counts, _ = status(world.redis.url, crawl)
    assert {state for _, state in counts} == {Status.DONE}, counts
    lines = (archive / "articles.jsonl").read_text(encoding="utf-8").splitlines()
    assert {json.loads(line)["url"] for line in lines} == _articles(world)
    _verify_all(archive)


def test_max_pages_and_stop_are_crawl_wide(world: World) -> None:
    from crawler.cli import main

    crawl = "budget"
    workers = [_worker(world, crawl, world.tmp / f"budget-{n}", "--max-pages", "8") for n in (1, 2)]
    try:
        for process in workers:
            process.wait(timeout=120)
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert [process.returncode for process in workers] == [0, 0], _log(world, world.tmp / "budget-1")
    with RedisFrontier.open(world.redis.url, crawl) as frontier:
        claimed = [row for row in frontier.rows() if row.kind is not Kind.CONTINUATION and row.attempts]
    assert len(claimed) == 8  # the whole crawl's budget, not each worker's

    crawl = "stopped"
    workers = [_worker(world, crawl, world.tmp / f"stopped-{n}") for n in (1, 2)]
    try:
        _wait_for(lambda: len(status(world.redis.url, crawl)[1]) == 2)
        assert main(["stop", "--frontier", world.redis.url, "--crawl-name", crawl]) == 0
        for process in workers:
            process.wait(timeout=60)
    finally:
        for process in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert [process.returncode for process in workers] == [11, 11], _log(world, world.tmp / "stopped-1")
    assert not status(world.redis.url, crawl)[1]


def test_status_shows_sites_and_live_workers(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    from crawler.cli import main
    from crawler.frontier import NewUrl

    with RedisFrontier.open(world.redis.url, "shown") as frontier:
        frontier.begin_run()
        frontier.add([NewUrl(url=f"http://h.example/{i}", site="kompas", kind=Kind.ARTICLE)
                      for i in range(3)])
        (claimed,) = frontier.claim(1, time.time())
        frontier.mark_done(claimed.id)
        assert main(["status", "--frontier", world.redis.url, "--crawl-name", "shown"]) == 0
    shown = capsys.readouterr().out
    assert "kompas" in shown and "live workers: 1" in shown
    (row,) = [line for line in shown.splitlines() if "kompas" in line]
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["kompas", "2", "0", "1", "0", "0"]


def test_merge_keeps_each_article_once_the_earliest(tmp_path: Path) -> None:
    def line(url: str, fetched: str, canonical: str | None = None) -> str:
        return json.dumps({"url": url, "canonical_url": canonical, "title": fetched,
                           "source": {"fetched": fetched}}) + "\n"

    (tmp_path / "w1").mkdir()
    (tmp_path / "w2").mkdir()
    (tmp_path / "w1" / "articles.jsonl").write_text(
        line("http://a/1", "2026-01-02T00:00:00Z") + line("http://a/2?amp", "2026-01-01T00:00:00Z", "http://a/2"))
    (tmp_path / "w2" / "articles.jsonl").write_text(
        line("http://a/1", "2026-01-01T00:00:00Z") + line("http://a/2", "2026-01-03T00:00:00Z", "http://a/2"))
    out = tmp_path / "merged.jsonl"
    summary = merge([tmp_path / "w1", tmp_path / "w2"], out)
    merged = [json.loads(text) for text in out.read_text().splitlines()]
    assert (summary.read, summary.written, summary.duplicates) == (4, 2, 2)
    assert sorted((a["url"], a["title"]) for a in merged) == [
        ("http://a/1", "2026-01-01T00:00:00Z"), ("http://a/2?amp", "2026-01-01T00:00:00Z")]
