"""Redis frontier benchmark (not a test), in one run:

1. The frontier alone: a worker's loop over ``--urls`` URLs on ``--url-hosts`` hosts (add in
   batches, claim 8 at a time, book a slot and finish each URL): client round trips per URL,
   and CPU ms per URL of the client and of redis-server (``INFO cpu``).
2. The crawl: pages/s and CPU ms/page of our crawl (fetch + WARC + extract + JSONL) on the
   SQLite frontier (one process) and on Redis with 1, 2 and 4 worker processes (each its own
   archive directory), on the same loopback portals (``bench/crawl.py``'s 50 kompas-like
   hosts), politeness off. CPU is that of every worker plus redis-server's.

    python bench/redis_frontier.py
    python bench/redis_frontier.py --hosts 50 --pages-per-host 40 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import crawl as crawl_bench  # noqa: E402  (bench/crawl.py: the portal server and the crawl child)

from tests.support.redisserver import RedisServer  # noqa: E402


def redis_cpu_s(client: Any) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# ---------------------------------------------------------------- 1. the frontier alone


def frontier_alone(server: RedisServer, urls: int, hosts: int) -> list[str]:
    from crawler.frontier import Kind, NewUrl
    from crawler.frontier_redis import RedisFrontier

    frontier = RedisFrontier.open(server.url, "alone")
    frontier.begin_run()
    calls = {"n": 0}
    client = frontier._r
    original = client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        calls["n"] += 1
        return original(*args, **options)

    client.execute_command = counted  # type: ignore[method-assign]
    new = [NewUrl(url=f"http://h{i % hosts}.example/a/{i}", site="s", kind=Kind.ARTICLE) for i in range(urls)]
    server_before, cpu_before, started = redis_cpu_s(client), time.process_time(), time.monotonic()
    for start in range(0, urls, 500):
        frontier.add(new[start:start + 500])
    done = 0
    while done < urls:
        claimed = frontier.claim(8, time.time(), per_host=1)
        for one in claimed:
            frontier.book(one.host, 0.0)
            frontier.mark_done(one.id)
        done += len(claimed)
    elapsed = time.monotonic() - started
    client_cpu = time.process_time() - cpu_before
    client.execute_command = original  # type: ignore[method-assign]
    server_cpu = redis_cpu_s(client) - server_before
    frontier.close()
    return [
        f"{urls} URLs on {hosts} hosts; add in batches of 500, claim 8 at a time, book + finish each:",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| client round trips per URL | {calls['n'] / urls:.2f} |",
        f"| URLs/s (one client) | {urls / elapsed:.0f} |",
        f"| CPU ms per URL, client | {1000 * client_cpu / urls:.3f} |",
        f"| CPU ms per URL, redis-server | {1000 * server_cpu / urls:.3f} |",
    ]


# ---------------------------------------------------------------- 2. the crawl


def _config(work: Path, name: str, portal: Any, args: argparse.Namespace, frontier: str | None) -> Path:
    config = json.loads(crawl_bench.our_config(
        work / name, portal, concurrency=args.concurrency, interval_s=0, per_host=args.concurrency,
        gzip_level=2,
    ))
    if frontier is not None:
        config["crawl"].update({"frontier": frontier, "name": name})
    path = work / f"{name}.json"
    path.write_text(json.dumps(config))
    return path


def _run_workers(work: Path, name: str, config: Path, count: int) -> dict[str, float]:
    """``count`` crawl processes at once, each with its own archive; pages, time and CPU."""
    processes = []
    for number in range(count):
        archive = work / f"{name}-{number}"
        shutil.rmtree(archive, ignore_errors=True)
        processes.append(subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "crawl.py"), "--ours-child", str(config), str(archive)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        ))
    pages, crawl_s, cpu_s = 0, 0.0, 0.0
    for process in processes:
        assert process.stdout is not None
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.stdout.close()
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 3):
            raise SystemExit(f"{name}: a worker exited with {code}:\n{output[-3000:]}")
        report = json.loads(output.strip().splitlines()[-1])
        pages += int(report["pages"])
        crawl_s = max(crawl_s, float(report["crawl_s"]))
        cpu_s += usage.ru_utime + usage.ru_stime
    return {"pages": pages, "crawl_s": crawl_s, "cpu_s": cpu_s}


def crawl(server: RedisServer, args: argparse.Namespace, work: Path) -> list[str]:
    import redis

    portal_process, portal = crawl_bench.start_server(args.hosts, args.pages_per_host, 100_000)
    client = redis.Redis.from_url(server.url)
    rows = []
    try:
        expected = len(portal.article_urls())
        sqlite = _run_workers(work, "sqlite", _config(work, "sqlite", portal, args, None), 1)
        rows.append(("SQLite, 1 process", sqlite, 0.0))
        for count in args.workers:
            name = f"redis{count}"
            before = redis_cpu_s(client)
            measured = _run_workers(work, name, _config(work, name, portal, args, server.url), count)
            label = f"Redis, {count} worker{'s' if count > 1 else ''}"
            rows.append((label, measured, redis_cpu_s(client) - before))
        for label, measured, _ in rows:
            assert measured["pages"] == expected, (label, measured, expected)
    finally:
        client.close()
        portal_process.terminate()
        portal_process.wait()
    lines = [
        f"{args.hosts} hosts × {args.pages_per_host} pages of 100 KB ({expected} articles), politeness off, "
        f"concurrency {args.concurrency} per process:",
        "",
        "| frontier | pages/s | CPU ms/page (workers) | CPU ms/page (+ redis-server) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, measured, server_cpu in rows:
        pages = measured["pages"]
        lines.append(
            f"| {label} | {pages / measured['crawl_s']:.0f} | {1000 * measured['cpu_s'] / pages:.2f} | "
            f"{1000 * (measured['cpu_s'] + server_cpu) / pages:.2f} |"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--urls", type=int, default=20_000)
    parser.add_argument("--url-hosts", type=int, default=200)
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--pages-per-host", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="redis-bench-") as tmp:
        work = Path(tmp)
        with RedisServer(work / "redis") as server:
            print("## Redis frontier alone\n")
            print("\n".join(frontier_alone(server, args.urls, args.url_hosts)), flush=True)
            print("\n## Crawl: SQLite and Redis frontiers\n")
            print("\n".join(crawl(server, args, work)), flush=True)


if __name__ == "__main__":
    main()
