"""Replay on Dask (``crawler.cluster``): the shards hold exactly the one-machine replay's records.

One module archive with everything that needs more than one file: revisits whose original is
in another file, multi-page articles whose pages sit in different files (``instead`` and
``also``), the same capture again in another file (a duplicate), and a damaged member. One
LocalCluster serves the library-level tests; a real ``dask scheduler`` with two ``dask worker``
processes on loopback serves the CLI tests, one of them with a worker that SIGKILLs itself
mid-job (the ``after_part_write`` fault point: after writing a part, before its side output).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from crawler.cluster import QUIET_DASK, expand_inputs, local_cluster, replay_on_cluster
from crawler.config import ArchiveSettings
from crawler.errors import ArchiveError, ConfigError
from crawler.models import Exchange
from crawler.replay import ReplayOptions, ReplaySummary, replay, replay_file_indexed
from crawler.shards import Side, parquet_schema, read_shard
from crawler.warc.writer import WarcWriter
from tests.support import warcfactory as wf

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
KOMPAS = ("http://nasional.kompas.com/read/2016/02/16/14382361/"
          "menteri-yuddy-ancam-pns-yang-rankingnya-terendah-akan-dipangkas")
SUARA = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"


# ---------------------------------------------------------------------- the archive


def _write(directory: Path, items: list[Exchange], host: str, rollover: int,
           known: Any = None) -> Any:
    settings = ArchiveSettings(prefix="t", gzip_level=2, rollover_bytes=rollover)
    with WarcWriter(directory, settings, warcinfo={}, host=host, known_payloads=known) as writer:
        for item in items:
            writer.write_exchange(item)
        return writer.known_payloads()


def _continuations() -> list[Exchange]:
    later = wf.DEFAULT_FETCHED + timedelta(minutes=5)
    first = (wf.SITES / "kompas/synthetic-current-paging-1.html").read_bytes()
    whole = (wf.SITES / "kompas/synthetic-current-paging-2.html").read_bytes()
    one = (wf.SITES / "suara/synthetic-jsonld.html").read_bytes().replace(
        b"</head>", f'<link rel="next" href="{SUARA}?page=2"></head>'.encode(), 1)
    two = (wf.SITES / "suara/synthetic-amp-2017-06-21.html").read_bytes()
    return [wf.exchange(KOMPAS, first, fetched=later),
            wf.exchange(f"{KOMPAS}?page=all", whole, fetched=later + timedelta(seconds=1)),
            wf.exchange(SUARA, one, fetched=later + timedelta(seconds=2)),
            wf.exchange(f"{SUARA}?page=2", two, fetched=later + timedelta(seconds=3))]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cluster-archive")
    pages = [page for page in wf.fixture_pages() if page.is_article]
    items = wf.fixture_exchanges(pages)
    known = _write(root, items, "a", rollover=60_000)
    _write(root, _continuations(), "m", rollover=5_000)  # one exchange per file
    again = [wf.exchange(i.url, _plain(i), fetched=i.fetched + timedelta(hours=1)) for i in items[:6:2]]
    _write(root, again, "b", rollover=10**9, known=known)  # revisits of originals in a's files
    _write(root, items[1:4:2], "c", rollover=10**9)  # the same captures again: duplicates
    damaged = sorted(root.glob("t-*-a.warc.gz"))[1]
    damaged.write_bytes(wf.flip_byte(damaged.read_bytes()))
    return root


def _plain(item: Exchange) -> bytes:
    import gzip

    return gzip.decompress(item.body) if item.header("content-encoding") == "gzip" else item.body


@dataclass(frozen=True)
class Expected:
    records: list[dict[str, Any]]
    summary: ReplaySummary
    damage: list[str]


@pytest.fixture(scope="module")
def expected(archive: Path) -> Expected:
    out = io.StringIO()
    damage: list[str] = []
    summary = replay([archive], out, ReplayOptions(), workers=1, on_damage=damage.append)
    return Expected([json.loads(line) for line in out.getvalue().splitlines()], summary, damage)


def test_the_archive_needs_every_cross_file_step(archive: Path, expected: Expected) -> None:
    by_url = {record["url"]: record for record in expected.records}
    assert len(list(archive.glob("*.warc.gz"))) >= 8
    assert expected.damage and expected.summary.damaged >= 1
    assert expected.summary.duplicates >= 3, "revisits and recaptures of articles in other files"
    assert by_url[SUARA]["pages"] == 2 and f"{KOMPAS}?page=all" in by_url
    assert KOMPAS not in by_url and f"{SUARA}?page=2" not in by_url


def test_side_outputs_round_trip_and_are_small(archive: Path) -> None:
    files = [str(path) for path in sorted(archive.glob("*.warc.gz"))]
    for index, path in enumerate(files):
        result, found = replay_file_indexed((index, path, ReplayOptions()))
        side = Side.of(result, found)
        data = side.to_bytes()
        assert Side.from_bytes(data) == side and Side.from_bytes(data).to_bytes() == data
        assert len(data) < 2_000 * max(result.captures, 1) + 1_000, "side outputs stay small"


# ---------------------------------------------------------------------- on a LocalCluster


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with local_cluster(2) as cluster, distributed.Client(cluster) as dask:
        yield dask


def _shard_records(out: Path) -> list[dict[str, Any]]:
    return [record for shard in sorted((out / "shards").iterdir()) for record in read_shard(shard)]


def _multiset(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(json.dumps(record, sort_keys=True, ensure_ascii=False) for record in records)


def _tree_digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_local_cluster_equals_the_one_machine_replay(archive: Path, expected: Expected, client: Any,
                                                     tmp_path: Path) -> None:
    damage: list[str] = []
    report = replay_on_cluster([archive], tmp_path, ReplayOptions(), client=client, on_damage=damage.append)
    got = _shard_records(tmp_path)
    assert _multiset(got) == _multiset(expected.records)
    assert report.summary == expected.summary
    assert sorted(damage) == sorted(expected.damage)
    assert all("offset" in message for message in damage)
    files = sorted(archive.glob("*.warc.gz"))
    assert len(list((tmp_path / "shards").iterdir())) == len(files)
    order = {json.dumps(r, sort_keys=True): n for n, r in enumerate(expected.records)}
    for shard in (tmp_path / "shards").iterdir():  # each shard in the one-machine replay's order
        positions = [order[json.dumps(r, sort_keys=True)] for r in read_shard(shard)]
        assert positions == sorted(positions)


def test_a_rerun_does_no_work_and_gives_the_same_bytes(archive: Path, client: Any, tmp_path: Path) -> None:
    first = replay_on_cluster([archive], tmp_path, ReplayOptions(), client=client)
    before = _tree_digest(tmp_path)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = replay_on_cluster([archive], tmp_path, ReplayOptions(), client=client)
    assert again.parts_skipped == first.summary.files and again.shards_written == 0
    assert again.summary == first.summary
    assert _tree_digest(tmp_path) == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, "nothing rewritten"
    # A shard lost (or never finished) is made again, byte for byte, from its part.
    lost = sorted((tmp_path / "shards").iterdir())[3]
    lost.unlink()
    assert replay_on_cluster([archive], tmp_path, ReplayOptions(), client=client).shards_written == 1
    assert _tree_digest(tmp_path) == before


def test_other_options_are_refused_unless_forced(archive: Path, client: Any, tmp_path: Path) -> None:
    replay_on_cluster([archive], tmp_path, ReplayOptions(), client=client)
    suara = ReplayOptions(sites=frozenset({"suara"}))
    with pytest.raises(ConfigError, match="--force") as refused:
        replay_on_cluster([archive], tmp_path, suara, client=client)
    assert "sites" in str(refused.value)
    replay_on_cluster([archive], tmp_path, suara, client=client, force=True)
    got = _shard_records(tmp_path)
    assert got and {record["site"] for record in got} == {"suara"}
    out = io.StringIO()
    replay([archive], out, suara, workers=1)
    assert _multiset(got) == _multiset([json.loads(line) for line in out.getvalue().splitlines()])


def test_parquet_shards_load_in_pyarrow_and_pandas(archive: Path, expected: Expected, client: Any,
                                                   tmp_path: Path) -> None:
    import pandas
    import pyarrow as pa
    import pyarrow.parquet as pq

    replay_on_cluster([archive], tmp_path, ReplayOptions(), client=client, fmt="parquet")
    shards = sorted((tmp_path / "shards").glob("*.parquet"))
    tables = [pq.read_table(path) for path in shards]
    assert all(table.schema.equals(parquet_schema()) for table in tables)
    assert pa.types.is_struct(tables[0].schema.field("source").type)
    assert pa.types.is_list(tables[0].schema.field("authors").type)
    assert _multiset(_shard_records(tmp_path)) == _multiset(expected.records)
    frame = pandas.read_parquet(tmp_path / "shards")
    assert len(frame) == len(expected.records) == sum(table.num_rows for table in tables)
    assert sorted(frame["url"]) == sorted(record["url"] for record in expected.records)
    assert set(frame["source"].iloc[0]) == {"warc", "offset", "record_id", "fetched"}


def test_strict_stops_at_the_first_damaged_record(archive: Path, client: Any, tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="offset"):
        replay_on_cluster([archive], tmp_path, ReplayOptions(strict=True), client=client)


def test_list_files_of_paths_as_common_crawl_publishes(archive: Path, tmp_path: Path) -> None:
    files = sorted(archive.glob("*.warc.gz"))
    listing = archive / "warc.paths"
    listing.write_text("# a comment\n" + "".join(f"{p.name}\n" for p in files[::-1]) + "\n", encoding="utf-8")
    try:
        assert expand_inputs([listing]) == [str(p) for p in files[::-1]]
    finally:
        listing.unlink()


# ---------------------------------------------------------------------- a real scheduler and two workers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _dask(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    quiet = {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)  # as README says
             for key, value in QUIET_DASK.items()}
    environment = {**os.environ, "PYTHONPATH": str(REPO), **quiet, **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
                            env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@dataclass
class Scheduler:
    address: str
    processes: list[subprocess.Popen[bytes]]

    def worker(self, **env: str) -> subprocess.Popen[bytes]:
        process = _dask("worker", self.address, "--nthreads", "1", "--no-dashboard", "--no-nanny",
                        "--host", "127.0.0.1", env=env)
        self.processes.append(process)
        return process

    def wait_for_workers(self, count: int) -> None:
        with distributed.Client(self.address, timeout="30s") as dask:
            dask.wait_for_workers(count, timeout=90)


@pytest.fixture(scope="module")
def scheduler() -> Iterator[Scheduler]:
    port = _free_port()
    started = Scheduler(f"tcp://127.0.0.1:{port}", [])
    started.processes.append(_dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                                   "--dashboard-address", "127.0.0.1:0"))
    try:
        started.worker()
        started.worker()
        started.wait_for_workers(2)
        yield started
    finally:
        for process in [*started.processes[1:], started.processes[0]]:  # by PID: workers, then the scheduler
            _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "crawler.cli", "replay", *args], capture_output=True,
                          text=True, env=environment, timeout=300, check=False)


def test_real_scheduler_and_two_workers_equal_the_one_machine_replay(
    archive: Path, expected: Expected, scheduler: Scheduler, tmp_path: Path
) -> None:
    done = _cli(str(archive), "--cluster", scheduler.address, "-o", str(tmp_path))
    assert done.returncode == 7, done.stderr  # as replay: a damaged record → 7
    assert _multiset(_shard_records(tmp_path)) == _multiset(expected.records)
    for message in expected.damage:
        assert message in done.stderr
    assert expected.summary.describe() in done.stderr


def test_a_worker_killed_mid_job_changes_nothing(
    archive: Path, expected: Expected, scheduler: Scheduler, tmp_path: Path
) -> None:
    doomed = scheduler.worker(CRAWLER_FAULT="after_part_write:1")  # SIGKILLs itself after its first part
    scheduler.wait_for_workers(3)
    done = _cli(str(archive), "--cluster", scheduler.address, "-o", str(tmp_path / "killed"))
    assert done.returncode == 7, done.stderr
    deadline = time.monotonic() + 30
    while doomed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert doomed.returncode == -signal.SIGKILL, "the worker died mid-job"
    assert _multiset(_shard_records(tmp_path / "killed")) == _multiset(expected.records)
    assert not list((tmp_path / "killed").rglob(".*.tmp"))


def test_cli_list_file_sites_and_parquet(archive: Path, scheduler: Scheduler, tmp_path: Path) -> None:
    damaged = sorted(archive.glob("t-*-a.warc.gz"))[1]
    kept = [path for path in sorted(archive.glob("*.warc.gz")) if path != damaged]
    listing = tmp_path / "warc.paths"
    listing.write_text("".join(f"{os.path.relpath(path, tmp_path)}\n" for path in kept), encoding="utf-8")
    out = tmp_path / "out"
    done = _cli(str(listing), "--sites", "suara,kompas", "--format", "parquet",
                "--cluster", scheduler.address, "-o", str(out))
    assert done.returncode == 0, done.stderr
    one_machine = io.StringIO()
    replay(kept, one_machine, ReplayOptions(sites=frozenset({"suara", "kompas"})), workers=1)
    want = [json.loads(line) for line in one_machine.getvalue().splitlines()]
    assert want and _multiset(_shard_records(out)) == _multiset(want)
    assert all(path.suffix == ".parquet" for path in (out / "shards").iterdir())
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["options"]["sites"] == ["kompas", "suara"] and len(manifest["inputs"]) == len(kept)
