"""Cluster replay benchmark: the one-machine replay (a multiprocessing pool) against the same
replay on a Dask LocalCluster, on the same WARC files, in one run.

    python bench/replay_cluster.py [--pages 6000] [--files 60] [--workers 2] [--rounds 2] [--write-results]

1. Builds a corpus as ``bench/replay.py`` does (fixture article pages, unique bodies, our
   writer) in ``--files`` WARC files.
2. Each round, in fresh processes: ``crawler.replay.replay`` on ``--workers`` pool processes
   (JSONL to a file), then ``crawler.cluster.replay_on_cluster`` on a LocalCluster of
   ``--workers`` single-threaded worker processes (started and closed in the timing) into a
   shard directory. Wall time from the call (imports excluded), CPU seconds of the process
   tree (the cluster's workers are the child's children), articles per CPU-second, and the
   Dask run's phases (files, cross-file merge, shards) and side-output size.
3. Checks that the shards hold the same records as the pool's output.

Overhead = (Dask wall - pool wall) / Dask wall, with and without the cluster's start-up
(a long-lived cluster pays it once). ``--write-results`` replaces the "Replay on a Dask
cluster" section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import write_section  # noqa: E402 - after the path insert

SECTION = "## Replay on a Dask cluster"


def _bench_replay() -> Any:
    """bench/replay.py, for its corpus builder (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_replay", REPO / "bench" / "replay.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpu_now() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def child_build(directory: str, pages: int, files: int) -> dict[str, Any]:
    corpus = _bench_replay()
    paths = corpus.write_corpus(Path(directory) / "corpus", corpus.build_exchanges(pages), files)
    return {"paths": [str(p) for p in paths], "bytes": sum(p.stat().st_size for p in paths)}


def child_pool(paths: list[str], workers: int, out: str) -> dict[str, Any]:
    from crawler.replay import ReplayOptions, replay

    started, cpu = time.perf_counter(), _cpu_now()
    with open(out, "w", encoding="utf-8") as handle:
        summary = replay(paths, handle, ReplayOptions(), workers=workers)
    return {"records": summary.records, "articles": summary.articles,
            "seconds": time.perf_counter() - started, "cpu_seconds": _cpu_now() - cpu}


def child_dask(paths: list[str], workers: int, out: str) -> dict[str, Any]:
    from distributed import Client

    from crawler.cluster import local_cluster, replay_on_cluster
    from crawler.replay import ReplayOptions

    started, cpu = time.perf_counter(), _cpu_now()
    cluster = local_cluster(workers)
    with cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        start_s = time.perf_counter() - started
        report = replay_on_cluster(paths, out, ReplayOptions(), client=client)
        run_s = time.perf_counter() - started - start_s
    seconds = time.perf_counter() - started
    sides = sum(p.stat().st_size for p in Path(out, "parts").glob("*.side.json"))
    return {"records": report.summary.records, "articles": report.summary.articles, "seconds": seconds,
            "cpu_seconds": _cpu_now() - cpu, "start_s": start_s, "run_s": run_s, "phases": report.seconds,
            "side_bytes": sides, "captures": report.summary.captures}


def run_child(kind: str, *args: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def same_records(pool_out: Path, shard_dir: Path) -> bool:
    expected = sorted(pool_out.read_text(encoding="utf-8").splitlines())
    got = sorted(line for shard in (shard_dir / "shards").glob("*.jsonl")
                 for line in shard.read_text(encoding="utf-8").splitlines())
    return expected == got


def report(args: argparse.Namespace, built: dict[str, Any], rounds: list[dict[str, Any]],
           load: tuple[float, float]) -> str:
    def median(kind: str, key: str) -> float:
        return statistics.median(r[kind][key] for r in rounds)

    pool_s, dask_s, start_s = median("pool", "seconds"), median("dask", "seconds"), median("dask", "start_s")
    articles = rounds[0]["pool"]["articles"]
    overhead = (dask_s - pool_s) / dask_s
    warm = (dask_s - start_s - pool_s) / (dask_s - start_s)
    phases = {name: statistics.median(r["dask"]["phases"][name] for r in rounds)
              for name in ("files", "merge", "shards")}
    side = rounds[0]["dask"]
    command = (f"python bench/replay_cluster.py --pages {args.pages} --files {args.files} "
               f"--workers {args.workers} --rounds {args.rounds}")
    lines = [
        SECTION, "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC; "
        f"{os.cpu_count()} cores, "
        f"load average {load[0]:.1f} at start and {load[1]:.1f} at end: other engineers' tests shared the "
        f"machine; Python {sys.version.split()[0]}, dask/distributed {_version('distributed')}).",
        "",
        f"Corpus: {args.pages} fixture article pages in {len(built['paths'])} WARC files "
        f"({built['bytes'] / 1e6:.0f} MB), written by our writer. Each round runs each replay in a fresh "
        "process; wall time from the call (imports excluded), CPU seconds of the whole process tree "
        f"(pool or cluster workers included). Medians of {args.rounds} rounds. The shards held the same "
        f"records as the pool's output in every round: {'yes' if all(r['equal'] for r in rounds) else 'NO'}.",
        "",
        "| run | articles | wall s | CPU s | articles/s | articles per CPU-s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = {"pool": f"multiprocessing pool, {args.workers} processes (`crawler replay`)",
             "dask": f"Dask LocalCluster, {args.workers} workers (`--cluster local:{args.workers}`)"}
    for kind, name in names.items():
        wall, cpu = median(kind, "seconds"), median(kind, "cpu_seconds")
        lines.append(f"| {name} | {articles} | {wall:.2f} | {cpu:.2f} | {articles / wall:.0f} | "
                     f"{articles / cpu:.0f} |")
    lines += [
        "",
        "| figure | value |", "| --- | ---: |",
        f"| Dask overhead, (Dask wall - pool wall) ÷ Dask wall, cluster start-up included | {overhead:.1%} |",
        f"| Dask overhead, cluster start-up excluded (a cluster already running) | {warm:.1%} |",
        f"| target ≤ 10 % | {_verdict(overhead, warm)} |",
        f"| LocalCluster start-up (workers ready) | {start_s:.2f} s |",
        f"| phases: files (replay, parts + side outputs) / cross-file merge / shards | "
        f"{phases['files']:.2f} / {phases['merge']:.2f} / {phases['shards']:.2f} s |",
        f"| side outputs: bytes per capture (of the WARC bytes) | "
        f"{side['side_bytes'] / side['captures']:.0f} "
        f"({side['side_bytes'] / built['bytes']:.1%}) |",
        "",
    ]
    return "\n".join(lines)


def _verdict(overhead: float, warm: float) -> str:
    if overhead <= 0.10:
        return "met"
    return "met once the cluster runs (not with its start-up)" if warm <= 0.10 else "NOT met"


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def write_results(section: str) -> None:
    write_section(SECTION, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=6000)
    parser.add_argument("--files", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write-results", action="store_true")
    parser.add_argument("--child", choices=["build", "pool", "dask"])
    parser.add_argument("--out", default="")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    if args.child == "build":
        print(json.dumps(child_build(args.paths[0], args.pages, args.files)))
        return
    if args.child is not None:
        child = child_pool if args.child == "pool" else child_dask
        print(json.dumps(child(args.paths, args.workers, args.out)))
        return
    start_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-replay-cluster-") as scratch:
        built = run_child("build", "--pages", str(args.pages), "--files", str(args.files), scratch)
        rounds = []
        for number in range(args.rounds):
            pool_out, shard_dir = Path(scratch, f"pool-{number}.jsonl"), Path(scratch, f"shards-{number}")
            common = ["--workers", str(args.workers), *built["paths"]]
            pool = run_child("pool", "--out", str(pool_out), *common)
            dask = run_child("dask", "--out", str(shard_dir), *common)
            rounds.append({"pool": pool, "dask": dask, "equal": same_records(pool_out, shard_dir)})
            print(f"round {number + 1}: pool {pool}\n  dask {dask}", file=sys.stderr)
    section = report(args, built, rounds, (start_load, os.getloadavg()[0]))
    print(section)
    if args.write_results:
        write_results(section)


if __name__ == "__main__":
    main()
