"""Memory under hostile bodies (RELIABILITY invariant 4, rows B3, B4, B6, H10): the crawler's
peak RSS stays under a baseline run's peak plus the configured cap × 1.2.

Each command runs as a subprocess (``crawler crawl`` against a ``FaultServer`` on loopback, run
in a thread; ``crawler verify`` / ``crawler replay`` on a WARC file) and its peak RSS is the
``ru_maxrss`` that ``os.wait4`` reports. The caps (``CAP`` bytes) are large against the
interpreter's own footprint, so a body kept past its cap, or held twice, fails the test. The
baseline is the same command on a harmless input, run at the same time.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import brotli
import pytest
import zstandard

from tests.support import matrixkit as mk
from tests.support.faultserver import FaultServer, Handler, respond
from tests.support.warcfactory import WARC_FIXTURES

pytestmark = pytest.mark.slow

MiB = 1024 * 1024
CAP = 48 * MiB  # max_decoded_bytes (and max_body_bytes) of the bomb crawls
BODY_CAP = 64 * MiB  # max_body_bytes of the endless-body crawl
# The fetch keeps at most the cap (measured 1.0x), but writing the truncated record costs ~0.2x more
# (and for an incompressible body the writer keeps the compressed member, ~2x): B6 is held to 1.5x,
# which a body kept twice still fails.
FACTOR = {"B3": 1.2, "B4": 1.2, "B6": 1.5}
BOMB = 3 * CAP  # what each bomb inflates to
HTML = (("Content-Type", "text/html; charset=utf-8"),)


def _zeros(compressor: Callable[[bytes], bytes], flush: Callable[[], bytes]) -> bytes:
    block = bytes(1024 * 1024)
    return b"".join(compressor(block) for _ in range(BOMB // len(block))) + flush()


def _gzip_bomb() -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return _zeros(packer.compress, packer.flush)


def _br_bomb() -> bytes:
    packer = brotli.Compressor(quality=1)
    return _zeros(packer.process, packer.finish)


def _zstd_bomb() -> bytes:
    packer = zstandard.ZstdCompressor(level=1).compressobj()
    return _zeros(packer.compress, packer.flush)


@dataclass(frozen=True)
class Run:
    code: int
    peak: int  # bytes
    stderr: str


def _wait(process: subprocess.Popen[str], timeout_s: float = 60) -> Run:
    """Wait for ``process`` with ``os.wait4`` (for its peak RSS); stderr is read meanwhile."""
    assert process.stderr is not None
    chunks: list[str] = []
    reader = threading.Thread(target=lambda: chunks.append(process.stderr.read() if process.stderr else ""))
    reader.start()
    timer = threading.Timer(timeout_s, process.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
        reader.join()
        process.stderr.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(process.returncode, usage.ru_maxrss * 1024, "".join(chunks))


def _start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, env=mk.cli_env(), cwd=mk.ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


@contextmanager
def _server_in_thread(routes: dict[str, Handler]) -> Iterator[FaultServer]:
    """A ``FaultServer`` on its own event loop thread, so the test can block in ``os.wait4``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = FaultServer()
    for path, handler in routes.items():
        server.route(path, handler)
    try:
        asyncio.run_coroutine_threadsafe(server.__aenter__(), loop).result(10)
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@dataclass(frozen=True)
class Crawls:
    runs: dict[str, Run]  # name → run; "baseline" fetched a small page
    states: dict[str, str]  # name → the frontier state of its URL


CRAWL_PATHS = {
    "baseline": "/page/ok",
    "B3_gzip_bomb": "/B3_gzip_bomb",
    "B4_br_bomb": "/B4_br_bomb",
    "B4_zstd_bomb": "/B4_zstd_bomb",
    "B6_endless_body": "/infinite",
}


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> Crawls:
    tmp = tmp_path_factory.mktemp("memory")
    routes: dict[str, Handler] = {
        "/B3_gzip_bomb": respond(200, _gzip_bomb(), (*HTML, ("Content-Encoding", "gzip"))),
        "/B4_br_bomb": respond(200, _br_bomb(), (*HTML, ("Content-Encoding", "br"))),
        "/B4_zstd_bomb": respond(200, _zstd_bomb(), (*HTML, ("Content-Encoding", "zstd"))),
    }
    with _server_in_thread(routes) as server:
        processes = {}
        for name, path in CRAWL_PATHS.items():
            archive = tmp / name
            config = tmp / f"{name}.yaml"
            config.write_text(mk.config_text(
                archive, mk.site_yaml("t", ["127.0.0.1"]), max_body_bytes=_cap(name), max_decoded_bytes=CAP,
                timeouts_s={"connect": 5, "read": 10, "total": 30}, concurrency=1,
                retry={"attempts": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.02, "retry_after_max_s": 5},
            ))
            processes[name] = _start(mk.crawl_command(config, archive, "--seed", server.url(path)))
        runs = {name: _wait(process) for name, process in processes.items()}
    states = {name: mk.state(mk.frontier_rows(tmp / name)[server.url(path)])
              for name, path in CRAWL_PATHS.items()}
    return Crawls(runs, states)


def _cap(name: str) -> int:
    return BODY_CAP if name.startswith("B6") else CAP


def _growth(runs: dict[str, Run], name: str) -> int:
    return runs[name].peak - runs["baseline"].peak


def _report(runs: dict[str, Run]) -> str:
    return ", ".join(f"{name} {run.peak / 2**20:.1f} MiB" for name, run in runs.items())


def test_memory_baseline_crawl_is_done(crawls: Crawls) -> None:
    assert crawls.runs["baseline"].code == 0, crawls.runs["baseline"].stderr[-3000:]
    assert crawls.states["baseline"] == "done"


@pytest.mark.parametrize(("name", "state"), [
    ("B3_gzip_bomb", "failed:decoded_too_large"),
    ("B4_br_bomb", "failed:decoded_too_large"),
    ("B4_zstd_bomb", "failed:decoded_too_large"),
    ("B6_endless_body", "failed:too_large"),
])
def test_B3_B4_B6_peak_rss_stays_under_baseline_plus_cap_and_a_fifth(crawls: Crawls, name: str,
                                                                   state: str) -> None:
    run = crawls.runs[name]
    assert run.code == 3, run.stderr[-3000:]  # some URLs failed
    mk.assert_no_traceback(run.stderr)
    assert crawls.states[name] == state
    growth = _growth(crawls.runs, name)
    bound = _cap(name) * FACTOR[name[:2]]
    assert growth < bound, f"{name}: RSS grew {growth / MiB:.1f} MiB; {_report(crawls.runs)}"


# ---------------------------------------------------------------- H10: replay and verify


H10_FILES = {"baseline": "good.warc.gz", "H10_gz": "huge-declared-length.warc.gz",
             "H10_plain": "huge-declared-length.warc"}
H10_BOUND = 16 * MiB  # the files are a few KB: the 10 GB declared length must never be allocated


@pytest.fixture(scope="module")
def readers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    tmp = tmp_path_factory.mktemp("h10")
    commands = {}
    for name, file in H10_FILES.items():
        path = str(WARC_FIXTURES / file)
        commands[f"verify_{name}"] = [sys.executable, "-m", "crawler.cli", "verify", path]
        commands[f"replay_{name}"] = [sys.executable, "-m", "crawler.cli", "replay", "--workers", "1",
                                      "-o", str(tmp / f"{name}.jsonl"), path]
    processes = {name: _start(command) for name, command in commands.items()}
    return {name: _wait(process) for name, process in processes.items()}


@pytest.mark.parametrize("verb", ["verify", "replay"])
@pytest.mark.parametrize("name", ["H10_gz", "H10_plain"])
def test_H10_huge_declared_length_is_corrupt_with_bounded_memory(readers: dict[str, Run], verb: str,
                                                                 name: str) -> None:
    baseline, run = readers[f"{verb}_baseline"], readers[f"{verb}_{name}"]
    assert baseline.code == 0, baseline.stderr[-3000:]
    assert run.code == 7, run.stderr[-3000:]  # damaged input
    mk.assert_no_traceback(run.stderr)
    growth = run.peak - baseline.peak
    assert growth < H10_BOUND, f"{verb} {name}: RSS grew {growth / MiB:.1f} MiB"
