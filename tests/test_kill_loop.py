"""Fault matrix M4 and R3 (docs/fault-matrix.md): ``kill -9`` of a real ``crawler crawl``,
however early, leaves no process behind, and twenty of them in a row lose nothing.

Every crawler subprocess gets a unique environment variable; its peers (and multiprocessing's
helpers) inherit it, so ``/proc/<pid>/environ`` finds any process a crawl left behind, whatever
its command line says (a spawned peer's reads ``python -c from multiprocessing.spawn ...``).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.frontier import Status
from tests.support import matrixkit as mk
from tests.support.portalserver import PortalServer

pytestmark = pytest.mark.slow

TAG = "CRAWLER_TEST_RUN"
PORTALS = (mk.NewsPortal(16, host="satu.example", site_id="satu", per_listing_page=4),
           mk.NewsPortal(16, host="dua.example", site_id="dua", per_listing_page=4))


@dataclass(frozen=True)
class World:
    server: PortalServer
    tmp: Path

    def config(self, archive: Path, processes: int) -> Path:
        path = archive.parent / f"{archive.name}.p{processes}.yaml"
        if not path.exists():
            sites = {key: value for portal in PORTALS for key, value in portal.site().items()}
            path.write_text(PORTALS[0].config(self.server, archive, sites=sites, interval_s=0.03,
                                              concurrency=4, processes=processes))
        return path

    def run(self, archive: Path, processes: int, *, kill_after: float | None = None,
            fault: str | None = None) -> tuple[int, str, str]:
        """One crawl, SIGKILLed ``kill_after`` seconds after its start if still going:
        its exit code, stderr and tag."""
        tag = uuid.uuid4().hex
        env = {**mk.cli_env(fault), TAG: tag}
        log = archive.parent / f"{archive.name}.stderr"
        with log.open("w+", encoding="utf-8") as stderr:
            process = subprocess.Popen(mk.crawl_command(self.config(archive, processes), archive), env=env,
                                       cwd=mk.ROOT, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
            try:
                process.wait(timeout=kill_after if kill_after is not None else 120)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)
            stderr.seek(0)
            return process.returncode, stderr.read(), tag


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    routes = {url: response for portal in PORTALS for url, response in portal.routes().items()}
    with PortalServer(routes) as server:
        yield World(server, tmp_path_factory.mktemp("kill-loop"))


def _tagged(tag: str) -> list[str]:
    """Live processes (not zombies) carrying ``TAG=tag``: pid and command line."""
    marker = f"{TAG}={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # ended meanwhile, or not ours to read
            continue
        if state != "Z":
            found.append(f"{entry.name}: {command[:160]}")
    return found


def _assert_none_left(tag: str, what: str) -> None:
    deadline = time.monotonic() + 15  # generous: a peer is SIGKILLed at once, helpers end on EOF
    while (alive := _tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive, f"{what}: processes outlived the crawler: {alive}"


def test_M4_a_peer_whose_crawler_died_before_it_armed_its_death_signal_ends_itself(world: World) -> None:
    """The crawler is killed right after launching its peer (``peers_started``): the peer is
    still starting its interpreter, before ``PR_SET_PDEATHSIG`` is armed."""
    archive = world.tmp / "m4"
    code, stderr, tag = world.run(archive, 2, fault="peers_started:1")
    assert code == -signal.SIGKILL, stderr[-3000:]
    _assert_none_left(tag, "killed while its peer started")
    code, stderr, tag = world.run(archive, 2)
    assert code == 0, stderr[-3000:]  # frontier.sqlite and articles.jsonl were left free
    _assert_none_left(tag, "a finished crawl")


def test_R3_twenty_kills_at_random_moments_then_resume_lose_nothing(world: World) -> None:
    archive = world.tmp / "r3"
    rng = random.Random(10)
    kills: list[tuple[int, float]] = []  # (processes, seconds after start) of each kill
    runs = 0
    while len(kills) < 20:  # a run that ended before its moment came is no kill: run again
        assert runs < 40, f"only {len(kills)} of {runs} runs were still going when their kill came"
        processes = 1 + runs % 2
        # half the kills in the first second (start-up: recovery, frontier, spawning the peer)
        delay = rng.uniform(0, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, 2.5)
        code, stderr, tag = world.run(archive, processes, kill_after=delay)
        runs += 1
        assert code in (0, -signal.SIGKILL), stderr[-3000:]
        if code == -signal.SIGKILL:
            kills.append((processes, delay))
        mk.assert_no_traceback(stderr)
        _assert_none_left(tag, f"run {runs} ({processes} processes, killed {delay:.2f} s after start)")
    assert {processes for processes, _ in kills} == {1, 2}
    assert sum(delay < 1.0 for _, delay in kills) >= 5, kills
    print(f"R3: {len(kills)} kills in {runs} runs, {sum(d < 1.0 for _, d in kills)} in the first second, "
          f"{sum(p == 2 for p, _ in kills)} of two processes")

    code, stderr, tag = world.run(archive, 2)
    assert code == 0, stderr[-3000:]
    mk.assert_no_traceback(stderr)
    _assert_none_left(tag, "the last run")

    assert not list(archive.glob("*.open")), "a WARC file left open"
    warcs = sorted(str(path) for path in archive.glob("*.warc.gz"))
    verified = subprocess.run([sys.executable, "-m", "crawler.cli", "verify", *warcs], env=mk.cli_env(),
                              cwd=mk.ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]

    written = [article["url"] for article in mk.articles(archive)]
    expected = {url for portal in PORTALS for url in portal.article_urls()}
    assert len(written) == len(set(written)), "an article was written twice"
    assert set(written) == expected, f"articles lost: {sorted(expected - set(written))}"
    rows = mk.frontier_rows(archive)
    assert expected <= set(rows)
    unsettled = {url: mk.state(row) for url, row in rows.items() if row.status is not Status.DONE}
    assert not unsettled, f"URLs not done after the last run: {unsettled}"
