"""Crawl benchmark (not a test): our crawl against Scrapy on the loopback portals.

A portal server process (``tests/support/portalserver.py``, reached as an HTTP proxy) serves
50 kompas-like hosts of unique ~100 KB article pages, each host with a sitemap and robots.txt.

1. Politeness off: our crawl (fetch + WARC + extract + articles.jsonl, started from the 50
   sitemaps) on one process and on ``--processes`` (``crawl.processes``), and Scrapy (fetch
   only, the same article URLs, robots.txt obeyed) in the same run, one after the other, the
   same concurrency per process. Pages/s over the crawl, CPU ms per page and peak RSS of each
   run (``os.wait4``: the largest process), and the ratios.
2. Politeness on: 50 hosts at 5 requests/s (``interval_s: 0.2``): interval violations in the
   server's log and the rate reached against the allowed one.
3. Memory: a crawl whose frontier holds 100,000 URLs (50 sitemaps × 2,000 small pages).

    python bench/crawl.py                      # all three
    python bench/crawl.py --only speed --pages-per-host 60 --concurrency 32
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.portalserver import CONTROL_LOG_URL, BenchPortal  # noqa: E402


@dataclass(frozen=True)
class Measure:
    name: str
    pages: int
    crawl_s: float  # the crawl itself, as the process timed it (no interpreter start-up)
    wall_s: float  # the whole process
    cpu_s: float  # user + sys of the whole process
    max_rss_mb: float

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.crawl_s

    @property
    def cpu_ms_per_page(self) -> float:
        return 1000 * self.cpu_s / self.pages


# ---------------------------------------------------------------- processes


def start_server(
    hosts: int, pages_per_host: int, page_bytes: int
) -> tuple[subprocess.Popen[str], BenchPortal]:
    """The portal server process with one listener per host; the portal it serves."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.portalserver", "--bench-hosts", str(hosts), "--direct",
         "--pages-per-host", str(pages_per_host), "--page-bytes", str(page_bytes)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    started = json.loads(process.stdout.readline())
    return process, BenchPortal(tuple(started["hosts"]), pages_per_host, page_bytes)


def run_measured(
    name: str, command: list[str], env: dict[str, str] | None = None
) -> tuple[Measure, dict[str, float]]:
    """Run ``command``; its last stdout line is JSON with ``pages`` and ``crawl_s``."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, **(env or {})})
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.stdout.close()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 3):
        raise SystemExit(f"{name} exited with {process.returncode}:\n{output[-3000:]}")
    report = json.loads(output.strip().splitlines()[-1])
    measure = Measure(name, int(report["pages"]), float(report["crawl_s"]), wall,
                      usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    return measure, report


def fetch_server_log(portal: BenchPortal) -> list[tuple[float, str, str, int]]:
    import httpx

    with httpx.Client(proxy=f"http://{portal.hosts[0]}", timeout=60, trust_env=False) as client:
        return [tuple(row) for row in client.get(CONTROL_LOG_URL).json()]  # type: ignore[misc]


# ---------------------------------------------------------------- our crawl (child)


def our_config(
    archive: Path, portal: BenchPortal, *, concurrency: int, interval_s: float, per_host: int,
    gzip_level: int, processes: int = 1,
) -> str:
    """The built-in kompas site (its extraction rules) moved onto the loopback listeners."""
    config = {
        "crawl": {
            "interval_s": interval_s, "concurrency": concurrency,
            "max_concurrency_per_host": per_host,
            "timeouts_s": {"connect": 10, "read": 30, "total": 60},
            "retry": {"attempts": 2, "backoff_base_s": 0.1, "backoff_max_s": 1},
            "processes": processes,
        },
        "network": {"allow_private_addresses": ["127.0.0.1/32"]},
        "archive": {"dir": str(archive), "gzip_level": gzip_level},
        "sites": {"kompas": {
            "enabled": True, "domains": ["127.0.0.1"],
            "article_urls": [r"^http://127\.0\.0\.1:\d+/read/\d{4}/\d{2}/\d{2}/\d+"],
            "seeds": {"listings": [], "sitemaps": portal.sitemaps()},
        }},
    }
    return json.dumps(config, indent=1)


def ours_child(config_path: str, archive: str) -> None:
    import asyncio
    import logging

    from crawler.config import load_config
    from crawler.frontier import Status
    from crawler.pipeline import Crawl, CrawlOptions

    logging.basicConfig(level=logging.ERROR)
    config = load_config(config_path)
    summary = asyncio.run(Crawl(config, CrawlOptions(Path(archive))).run())
    print(json.dumps({"pages": summary.articles_written, "crawl_s": summary.elapsed_s,
                      "done": summary.total(Status.DONE), "articles": summary.articles_written,
                      "failed": summary.total(Status.FAILED)}))


# ---------------------------------------------------------------- scrapy (child)


SCRAPY_SPIDER = '''
import json, sys, time
import scrapy
from scrapy.crawler import CrawlerProcess

urls = json.load(open(sys.argv[1]))
concurrency = int(sys.argv[2])
seen = {"pages": 0}

class Bench(scrapy.Spider):
    name = "bench"
    custom_settings = {
        "CONCURRENT_REQUESTS": concurrency, "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
        "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": True, "LOG_LEVEL": "ERROR", "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False, "RETRY_ENABLED": True, "HTTPCACHE_ENABLED": False,
        "DOWNLOAD_MAXSIZE": 20_000_000, "REACTOR_THREADPOOL_MAXSIZE": 4,
    }

    async def start(self):  # Scrapy >= 2.13 (start_requests before)
        for url in urls:
            yield scrapy.Request(url, callback=self.parse, dont_filter=True)

    def parse(self, response):
        seen["pages"] += response.status == 200

process = CrawlerProcess()
crawler = process.create_crawler(Bench)
process.crawl(crawler)
process.start()
stats = crawler.stats.get_stats()
print(json.dumps({"pages": seen["pages"], "crawl_s": stats["elapsed_time_seconds"]}))
'''


# ---------------------------------------------------------------- scenarios


def speed(args: argparse.Namespace, work: Path) -> list[str]:
    server, portal = start_server(args.hosts, args.pages_per_host, args.page_bytes)
    try:
        urls = work / "urls.json"
        urls.write_text(json.dumps(portal.article_urls()))
        spider = work / "spider.py"
        spider.write_text(SCRAPY_SPIDER)
        direct = {"http_proxy": "", "HTTP_PROXY": "", "no_proxy": "*"}
        runs: list[tuple[str, list[str], dict[str, str] | None, Path | None]] = []
        for processes in sorted({1, args.processes}):
            archive = work / f"speed-{processes}"
            config = work / f"speed-{processes}.json"
            config.write_text(our_config(archive, portal, concurrency=args.concurrency, interval_s=0,
                                         per_host=args.concurrency, gzip_level=args.gzip_level,
                                         processes=processes))
            name = f"ours, {processes} process{'es' if processes > 1 else ''} (fetch+WARC+extract+JSONL)"
            command = [sys.executable, __file__, "--ours-child", str(config), str(archive)]
            runs.append((name, command, None, archive))
        scrapy_command = [sys.executable, str(spider), str(urls), str(args.concurrency)]
        runs.append(("Scrapy 2.x (fetch only)", scrapy_command, direct, None))
        measured: dict[str, list[Measure]] = {name: [] for name, *_ in runs}
        for _ in range(args.repeat):
            for name, command, env, archive in runs:
                if archive is not None:
                    shutil.rmtree(archive, ignore_errors=True)
                measure, _ = run_measured(name, command, env=env)
                assert measure.pages == len(portal.article_urls()), (name, measure)
                measured[name].append(measure)
    finally:
        server.terminate()
        server.wait()
    lines = [
        f"{args.hosts} hosts × {args.pages_per_host} pages of {args.page_bytes // 1000} KB, "
        f"concurrency {args.concurrency} per process, politeness off, {args.repeat} rounds (median):",
        "",
        "| crawler | pages | pages/s | CPU ms/page | peak RSS MB (largest process) | process wall s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, picked in measured.items():
        lines.append(
            f"| {name} | {picked[0].pages} | {statistics.median(m.pages_per_s for m in picked):.0f} | "
            f"{statistics.median(m.cpu_ms_per_page for m in picked):.2f} | "
            f"{statistics.median(m.max_rss_mb for m in picked):.0f} | "
            f"{statistics.median(m.wall_s for m in picked):.1f} |"
        )
    scrapy = measured[runs[-1][0]]
    lines.append("")
    for name, *_ in runs[:-1]:
        pairs = list(zip(measured[name], scrapy, strict=True))
        ratio = statistics.median(o.pages_per_s / t.pages_per_s for o, t in pairs)
        cpu = statistics.median(t.cpu_ms_per_page / o.cpu_ms_per_page for o, t in pairs)
        lines.append(f"- {name} ÷ Scrapy: pages/s **{ratio:.2f}×** (per round, median); "
                     f"CPU per page, Scrapy ÷ ours: {cpu:.2f}×")
    return lines


def politeness(args: argparse.Namespace, work: Path) -> list[str]:
    pages_per_host = args.polite_pages
    server, portal = start_server(args.hosts, pages_per_host, args.page_bytes)
    interval = 1 / args.rate
    try:
        archive = work / "polite"
        config = work / "polite.json"
        config.write_text(our_config(archive, portal, concurrency=max(args.concurrency, 2 * args.hosts),
                                     interval_s=interval, per_host=2, gzip_level=args.gzip_level))
        ours, _ = run_measured("ours", [sys.executable, __file__, "--ours-child", str(config), str(archive)])
        log = fetch_server_log(portal)
    finally:
        server.terminate()
        server.wait()
    by_host: dict[str, list[float]] = {}
    for at, host, _, _ in log:
        by_host.setdefault(host, []).append(at)
    gaps = [b - a for times in by_host.values() for a, b in itertools.pairwise(sorted(times))]
    violations = [gap for gap in gaps if gap < interval]
    rates = [(len(t) - 1) / (max(t) - min(t)) for t in by_host.values() if len(t) > 1]
    span = max(at for at, *_ in log) - min(at for at, *_ in log)
    allowed = args.hosts * args.rate
    return [
        f"{args.hosts} hosts at {args.rate:g} requests/s each (interval_s {interval:g}), "
        f"{pages_per_host} pages per host + sitemap + robots.txt, {len(log)} requests:",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| interval violations (server log, gap < {interval:g} s) | {len(violations)} |",
        f"| smallest gap between two requests to one host | {min(gaps):.4f} s |",
        f"| per-host rate, median / min (allowed {args.rate:g}/s) | "
        f"{statistics.median(rates):.3f} / {min(rates):.3f} "
        f"({100 * min(rates) / args.rate:.1f} % of allowed) |",
        f"| aggregate rate over the crawl (allowed {allowed:g}/s) | {len(log) / span:.1f}/s "
        f"({100 * len(log) / span / allowed:.1f} %) |",
        f"| our process: CPU ms/page, peak RSS | {ours.cpu_ms_per_page:.2f} ms, {ours.max_rss_mb:.0f} MB |",
    ]


def memory(args: argparse.Namespace, work: Path) -> list[str]:
    hosts, per_host = 50, args.memory_urls // 50
    server, portal = start_server(hosts, per_host, 20_000)  # an 18.8 KB fixture article, unpadded
    try:
        archive = work / "memory"
        config = work / "memory.json"
        config.write_text(our_config(archive, portal, concurrency=args.concurrency, interval_s=0,
                                     per_host=args.concurrency, gzip_level=args.gzip_level))
        ours, report = run_measured("ours", [sys.executable, __file__, "--ours-child", str(config),
                                             str(archive)])
    finally:
        server.terminate()
        server.wait()
    size = sum(path.stat().st_size for path in archive.glob("*.warc.gz")) / 1e6
    return [
        f"{hosts} sitemaps × {per_host} pages = {hosts * per_host} article URLs in the frontier "
        f"(pages of {len(portal.base()) // 1000} KB), politeness off, concurrency {args.concurrency}:",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| URLs done | {ours.pages} (articles {report['articles']}) |",
        f"| peak RSS | {ours.max_rss_mb:.0f} MB |",
        f"| pages/s, CPU ms/page | {ours.pages_per_s:.0f}, {ours.cpu_ms_per_page:.2f} |",
        f"| WARC written | {size:.0f} MB |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["speed", "politeness", "memory"])
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--pages-per-host", type=int, default=100)
    parser.add_argument("--page-bytes", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--processes", type=int, default=2, help="crawl.processes of our second speed run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rate", type=float, default=5.0, help="requests/s per host with politeness on")
    parser.add_argument("--polite-pages", type=int, default=40)
    parser.add_argument("--memory-urls", type=int, default=100_000)
    parser.add_argument("--gzip-level", type=int, default=2, help="archive.gzip_level of our crawl")
    parser.add_argument("--ours-child", nargs=2, metavar=("CONFIG", "ARCHIVE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ours_child:
        ours_child(*args.ours_child)
        return
    with tempfile.TemporaryDirectory(prefix="crawl-bench-") as tmp:
        work = Path(tmp)
        for name, scenario in (("speed", speed), ("politeness", politeness), ("memory", memory)):
            if args.only in (None, name):
                print(f"## {name}\n")
                print("\n".join(scenario(args, work)), flush=True)
                print()


if __name__ == "__main__":
    main()
