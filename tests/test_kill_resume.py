"""``kill -9`` at several points of a real ``crawler crawl`` subprocess, then the same command
again (RELIABILITY F2, F3, F4, G1, G2): the done set equals an uninterrupted crawl's, no URL
done before the kill is fetched again (server log), every WARC verifies, no ``.open`` is left,
and articles.jsonl holds each article once."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.config import builtin_sites
from crawler.frontier import Frontier, Status
from crawler.warc.index import write_index
from crawler.warc.verify import verify_file
from tests.support.portalserver import Portal, PortalServer, SiteShape, build_portal, portal_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class World:
    portal: Portal
    server: PortalServer
    tmp: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    shapes = [SiteShape(s.id, s.domains, s.listing.links, s.listing.next) for s in builtin_sites()]
    portal = build_portal(shapes)
    with PortalServer(portal.routes) as server:
        yield World(portal, server, tmp_path_factory.mktemp("kill"))


def _command(world: World, archive: Path, processes: int = 1) -> list[str]:
    config = archive.parent / f"{archive.name}.yaml"
    if not config.exists():
        text = portal_config(world.portal, world.server, archive, interval_s=0.05, concurrency=6,
                             rollover_bytes=120_000,  # several files, so kills land around rotations
                             extra_crawl={"processes": processes})
        config.write_text(text)
    return [sys.executable, "-m", "crawler.cli", "crawl", "--config", str(config), "--archive", str(archive)]


def _run(world: World, archive: Path, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "CRAWLER_FAULT"}
    if fault:
        env["CRAWLER_FAULT"] = fault
    return subprocess.run(_command(world, archive), env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def _done(archive: Path) -> set[str]:
    with Frontier.open(archive) as frontier:
        return {row.url for row in frontier.rows(Status.DONE)}


def _states(archive: Path) -> dict[str, tuple[Status, str | None]]:
    with Frontier.open(archive) as frontier:
        return {row.url: (row.status, row.reason) for row in frontier.rows()}


@pytest.fixture(scope="module")
def baseline(world: World) -> dict[str, tuple[Status, str | None]]:
    archive = world.tmp / "baseline"
    result = _run(world, archive)
    assert result.returncode == 0, result.stderr[-3000:]
    states = _states(archive)
    assert len([s for s, _ in states.values() if s is Status.DONE]) >= 40
    return states


def _check_resumed(world: World, archive: Path, baseline: dict[str, tuple[Status, str | None]],
                   done_at_kill: set[str], log_start: int) -> None:
    assert _states(archive) == baseline
    refetched = {hit.url for hit in world.server.log[log_start:]} & done_at_kill
    assert not refetched, f"done before the kill, fetched again: {sorted(refetched)}"
    assert not list(archive.glob("*.open"))
    warcs = sorted(archive.glob("*.warc.gz"))
    assert warcs
    for path in warcs:
        report = verify_file(path)
        assert report.ok, report.lines()
        expected = io.StringIO()
        write_index([path], expected)
        index = path.with_name(path.name + ".cdxj")
        assert index.read_text(encoding="utf-8") == expected.getvalue(), f"{index}: not cdxj-indexer's"
    lines = (archive / "articles.jsonl").read_text(encoding="utf-8").splitlines()
    urls = [json.loads(line)["url"] for line in lines]
    assert len(urls) == len(set(urls)), "an article was written twice"
    expected = {page.url for page in world.portal.articles()}
    assert set(urls) == expected


@pytest.mark.parametrize(
    "fault",
    ["after_member_write:9", "mid_member_write:14", "before_frontier_commit:6", "during_rotation:1"],
)
def test_kill_at_a_fault_point_then_resume(
    world: World, baseline: dict[str, tuple[Status, str | None]], fault: str
) -> None:
    archive = world.tmp / fault.replace(":", "-")
    killed = _run(world, archive, fault)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    done_at_kill = _done(archive)
    assert done_at_kill < {url for url, (status, _) in baseline.items() if status is Status.DONE}
    assert list(archive.glob("*.warc.gz.open")), "the kill should leave a WARC open"
    log_start = len(world.server.log)
    resumed = _run(world, archive)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "recovered" in resumed.stderr
    _check_resumed(world, archive, baseline, done_at_kill, log_start)


def test_kill_between_closing_a_warc_and_writing_its_index_then_resume(
    world: World, baseline: dict[str, tuple[Status, str | None]]
) -> None:
    """A rotation closed a WARC file but the kill came before its CDXJ index was sorted out of
    the spool: the next run indexes the file by reading it back and drops the spool."""
    archive = world.tmp / "before-index"
    killed = _run(world, archive, "before_index:1")
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    spools = list(archive.glob("*.cdxj.open"))
    assert spools, "the kill should leave the index spool of the closed file"
    closed = [spool.with_name(spool.name.removesuffix(".cdxj.open")) for spool in spools]
    assert any(path.is_file() and not path.with_name(path.name + ".cdxj").exists() for path in closed)
    _resume_and_check(world, archive, baseline, _done(archive))


def test_kill_mid_member_then_recover_cli_repairs_the_open_file_and_verify_passes(
    world: World, baseline: dict[str, tuple[Status, str | None]]
) -> None:
    """The operator's way (issue 4): ``crawler recover`` on the ``.open`` file a kill during a
    write left, then ``crawler verify`` on what it closed, then the crawl resumes."""
    archive = world.tmp / "recover-by-hand"
    killed = _run(world, archive, "mid_member_write:14")
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    done_at_kill = _done(archive)
    opened = sorted(archive.glob("*.warc.gz.open"))
    assert opened, "the kill should leave a WARC open"
    assert not all(verify_file(path).ok for path in opened), "the kill should tear a record"
    for path in opened:
        recovered = _cli("recover", str(path))
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        closed = path.with_name(path.name.removesuffix(".open"))
        assert not path.exists() and closed.exists()
        checked = _cli("verify", str(closed))
        assert checked.returncode == 0, checked.stdout
    _resume_and_check(world, archive, baseline, done_at_kill)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crawler.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_at_a_random_moment_then_resume(
    world: World, baseline: dict[str, tuple[Status, str | None]], seed: int
) -> None:
    archive = world.tmp / f"random-{seed}"
    total = len(world.server.log)  # requests so far; a whole crawl is about as many as the baseline's
    crawl_requests = len(baseline) + 10
    after = random.Random(seed).randint(5, crawl_requests - 10)
    process = subprocess.Popen(_command(world, archive), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(world.server.log) - total < after and process.poll() is None:
            assert time.monotonic() < deadline, "the crawl did not get going"
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    done_at_kill = _done(archive)
    assert done_at_kill < {url for url, (status, _) in baseline.items() if status is Status.DONE}
    _resume_and_check(world, archive, baseline, done_at_kill)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text()
        found.update(int(child) for child in text.split())
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _resume_and_check(world: World, archive: Path, baseline: dict[str, tuple[Status, str | None]],
                      done_before: set[str]) -> None:
    """The same command again: it completes, and the invariants hold (``_check_resumed``)."""
    log_start = len(world.server.log)
    resumed = _run(world, archive)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _check_resumed(world, archive, baseline, done_before, log_start)


def _start_two_processes_midway(
    world: World, archive: Path, baseline: dict[str, tuple[Status, str | None]]
) -> tuple[subprocess.Popen[str], set[int]]:
    """A two-process crawl, once about half of a whole crawl's requests have reached the
    server; the crawler process and its children."""
    total = len(world.server.log)
    process = subprocess.Popen(_command(world, archive, processes=2), cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(world.server.log) - total < len(baseline) // 2 and process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("the crawl did not get going")
        time.sleep(0.002)
    peers = _children(process.pid)
    assert peers, "a two-process crawl should have started a peer"
    return process, peers


def _wait_gone(pids: set[int]) -> None:
    """The crawler's child processes (its peer, multiprocessing's helper) end with it."""
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids):
        assert time.monotonic() < deadline, "a child process outlived the crawler"
        time.sleep(0.05)


def test_kill_a_two_process_crawl_mid_run_then_resume(
    world: World, baseline: dict[str, tuple[Status, str | None]]
) -> None:
    """``crawl.processes: 2``: a kill -9 of the crawler takes its peer process with it (nothing
    keeps fetching or writing), and the same command resumes with the invariants intact."""
    archive = world.tmp / "two-processes"
    process, peers = _start_two_processes_midway(world, archive, baseline)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    _wait_gone(peers)
    done_at_kill = _done(archive)
    assert done_at_kill < {url for url, (status, _) in baseline.items() if status is Status.DONE}
    _resume_and_check(world, archive, baseline, done_at_kill)


def test_sigint_stops_a_two_process_crawl_then_resume(
    world: World, baseline: dict[str, tuple[Status, str | None]]
) -> None:
    """SIGINT to the crawler reaches its peer: both finish what is in flight, close their WARC
    files, the crawler exits 11 (interrupted), and the same command completes the crawl."""
    archive = world.tmp / "two-processes-sigint"
    process, peers = _start_two_processes_midway(world, archive, baseline)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 11, stderr[-3000:]
    _wait_gone(peers)
    assert not list(archive.glob("*.open")), "every process closed its WARC files"
    done_at_stop = _done(archive)
    _resume_and_check(world, archive, baseline, done_at_stop)


def test_max_pages_ends_a_two_process_crawl_then_resume(
    world: World, baseline: dict[str, tuple[Status, str | None]]
) -> None:
    """``--max-pages`` is split between the processes; the first to spend its share winds the
    others down (their hosts' URLs would wait for it in vain), and the next run completes."""
    archive = world.tmp / "two-processes-max-pages"
    command = [*_command(world, archive, processes=2), "--max-pages", "12"]
    cut = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert cut.returncode == 0, cut.stderr[-3000:]
    done_at_cut = _done(archive)
    assert 0 < len(done_at_cut) <= 12
    _resume_and_check(world, archive, baseline, done_at_cut)
