"""Replay and WARC-writing benchmark: ours against warcio + trafilatura, in the same run.

    python bench/replay.py [--pages 3000] [--files 8] [--peer-records 40] [--write-results]

1. Builds a corpus: the fixture article pages under ``tests/fixtures/sites/`` served as
   gzip-encoded responses (each body made unique, so no revisits), written by our
   ``WarcWriter`` into ``--files`` WARC files.
2. Replay: ``crawler.replay`` on 1 and 2 workers, each in a fresh process (start-up, extractor
   build and the output merge included): records/s, articles/s, peak RSS.
3. Peer: warcio's ``ArchiveIterator`` + ``trafilatura.extract`` (JSON with metadata) over the
   same files, on 1 and 2 processes; trafilatura is ~20 pages/s here, so it reads the first
   ``--peer-records`` responses of each file (rates are per record, so they compare).
4. Writing: the same exchanges through our writer at the chosen ``gzip_level`` (and levels 6
   and 9) against warcio's ``WARCWriter(gzip=True)`` (zlib level 9), records/s and MB/s.

``--write-results`` replaces the "Replay and WARC writing" section of ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.results import write_section  # noqa: E402 - after the path insert

SECTION = "## Replay and WARC writing"


# ---------------------------------------------------------------------- corpus


SPLIT_URL = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"


def split_article(content_encoding: str | None) -> tuple[Any, Any]:
    """Page 1 and page 2 of one article (``rel=next``), written first and last: in different files,
    so replay's cross-file step (and its capture index of every file) runs, as after any rotation."""
    from tests.support import warcfactory as wf

    first = (wf.SITES / "suara/synthetic-jsonld.html").read_bytes().replace(
        b"</head>", f'<link rel="next" href="{SPLIT_URL}?page=2"></head>'.encode(), 1)
    second = (wf.SITES / "suara/synthetic-amp-2017-06-21.html").read_bytes()
    return (wf.exchange(SPLIT_URL, first, content_encoding=content_encoding,
                        fetched=wf.DEFAULT_FETCHED - timedelta(seconds=1)),
            wf.exchange(f"{SPLIT_URL}?page=2", second, content_encoding=content_encoding,
                        fetched=wf.DEFAULT_FETCHED + timedelta(days=1)))


def build_exchanges(count: int, content_encoding: str | None = "gzip", *, split: bool = False) -> list[Any]:
    from tests.support import warcfactory as wf

    pages = [page for page in wf.fixture_pages() if page.is_article]
    exchanges = []
    for index in range(count):
        page = pages[index % len(pages)]
        joiner = "&" if "?" in page.url else "?"
        body = page.body + f"\n<!-- copy {index} -->\n".encode()
        moment = wf.DEFAULT_FETCHED + timedelta(seconds=index)
        url = f"{page.url}{joiner}copy={index}"
        exchanges.append(wf.exchange(url, body, content_encoding=content_encoding, fetched=moment))
    if split:
        first, last = split_article(content_encoding)
        exchanges = [first, *exchanges, last]
    return exchanges


def write_corpus(directory: Path, exchanges: list[Any], files: int) -> list[Path]:
    from crawler.config import ArchiveSettings
    from crawler.warc.writer import WarcWriter

    total = sum(len(item.body) for item in exchanges)
    settings = ArchiveSettings(prefix="bench", rollover_bytes=max(total // files, 100_000))
    with WarcWriter(directory, settings, warcinfo={"operator": "bench"}, host="bench", index=True) as writer:
        for item in exchanges:
            writer.write_exchange(item)
        return writer.close()


# ---------------------------------------------------------------------- children (fresh processes)


def _hwm_kb() -> int:
    """This process's peak RSS (VmHWM resets on exec, unlike ru_maxrss which a child inherits)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _usage(started_wall: float, started_cpu: float) -> dict[str, Any]:
    return {"seconds": time.perf_counter() - started_wall,
            "cpu_seconds": _cpu_now() - started_cpu,
            "self_kb": _hwm_kb(), "children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}


def _cpu_now() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def child_ours(paths: list[str], workers: int) -> dict[str, Any]:
    from crawler.replay import ReplayOptions, replay

    started, cpu = time.perf_counter(), _cpu_now()
    out = io.StringIO()
    summary = replay(paths, out, ReplayOptions(), workers=workers)
    return {"records": summary.records, "articles": summary.articles, **_usage(started, cpu)}


def child_index(paths: list[str]) -> dict[str, Any]:
    """CPU seconds of replay's cross-file capture index of ``paths``, three ways (one process):
    every file read whole (what replay did before it used the CDXJ indexes), from the ``.cdxj``
    beside each file, and with no index and ``write_indexes``: in a directory that cannot be written
    (read whole, as without ``write_indexes``) and in one that can (indexed, written beside)."""
    import importlib
    import shutil

    replay_module = importlib.import_module("crawler.replay")  # the module; crawler.replay is the function

    def timed(function: Any) -> float:
        started = time.process_time()
        function()
        return time.process_time() - started

    whole = timed(lambda: replay_module.merge_indexes(map(replay_module._index_file, paths)))
    from_cdxj = timed(lambda: replay_module._index_all(paths, 1))
    with tempfile.TemporaryDirectory(prefix="bench-index-") as bare:
        copies = [shutil.copy(path, bare) for path in paths]  # no indexes
        for copy in copies:  # the index's temporary name taken: not writable, even as root
            os.mkdir(copy + ".cdxj.tmp")
        read_only = timed(lambda: replay_module._index_all(copies, 1, True))
        for copy in copies:
            os.rmdir(copy + ".cdxj.tmp")
        built = timed(lambda: replay_module._index_all(copies, 1, True))
    return {"whole": whole, "cdxj": from_cdxj, "read_only": read_only, "built": built}


def _peer_file(task: tuple[str, int]) -> tuple[int, int]:
    import trafilatura
    from warcio.archiveiterator import ArchiveIterator

    path, limit = task
    records = articles = 0
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            if records >= limit:
                break
            records += 1
            html = record.content_stream().read()
            url = record.rec_headers.get_header("WARC-Target-URI")
            if trafilatura.extract(html, url=url, output_format="json", with_metadata=True):
                articles += 1
    return records, articles


def child_peer(paths: list[str], workers: int, limit: int) -> dict[str, Any]:
    started, cpu = time.perf_counter(), _cpu_now()
    tasks = [(path, limit) for path in paths]
    if workers == 1:
        results = [_peer_file(task) for task in tasks]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            results = pool.map(_peer_file, tasks, chunksize=1)
    return {"records": sum(r for r, _ in results), "articles": sum(a for _, a in results),
            **_usage(started, cpu)}


def run_child(kind: str, paths: list[str], *, workers: int = 1, limit: int = 0, pages: int = 0,
              files: int = 0) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", kind, "--workers", str(workers), "--peer-records",
               str(limit), "--pages", str(pages), "--files", str(files), *paths]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------- writing


def bench_ours_write(directory: Path, exchanges: list[Any], level: int, *, fsync: bool) -> dict[str, float]:
    from crawler.config import ArchiveSettings
    from crawler.warc import writer as writer_module

    settings = ArchiveSettings(prefix=f"w{level}", gzip_level=level, rollover_bytes=10**12)
    real_fsync = writer_module.os.fsync
    if not fsync:  # measure the record building and gzip alone, as warcio's writer does no fsync
        writer_module.os.fsync = lambda fd: None  # type: ignore[assignment]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        info = {"operator": "bench"}
        with writer_module.WarcWriter(directory, settings, warcinfo=info, host="bench") as writer:
            for item in exchanges:
                writer.write_exchange(item)
            files = writer.close()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    finally:
        writer_module.os.fsync = real_fsync  # type: ignore[assignment]
    return _write_stats(exchanges, seconds, cpu_seconds, sum(f.stat().st_size for f in files))


def bench_warcio_write(directory: Path, exchanges: list[Any], *, fsync: bool) -> dict[str, float]:
    """warcio's own writer (zlib level 9) on the same records; optionally fsync per exchange like ours."""
    from warcio.warcwriter import WARCWriter

    from crawler.warc import records

    target = directory / f"warcio-default-{fsync}.warc.gz"
    started, cpu = time.perf_counter(), time.process_time()
    with open(target, "wb") as stream:
        writer = WARCWriter(stream, gzip=True, warc_version="1.1")
        for item in exchanges:
            digest = records.payload_digest(item.body)
            response = records.response_record(item, digest)
            request = records.request_record(item, records.record_id(response))
            writer.write_record(response)
            writer.write_record(request)
            if fsync:
                os.fsync(stream.fileno())
        stream.flush()
        os.fsync(stream.fileno())
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    return _write_stats(exchanges, seconds, cpu_seconds, target.stat().st_size)


def _write_stats(exchanges: list[Any], seconds: float, cpu_seconds: float, size: int) -> dict[str, float]:
    raw = sum(len(item.body) for item in exchanges)
    count = 2 * len(exchanges)
    return {"records_per_s": count / seconds, "records_per_cpu_s": count / cpu_seconds,
            "mb_per_cpu_s": raw / cpu_seconds / 1e6, "ratio": size / raw, "seconds": seconds}


def child_build(directory: str, pages: int, files: int) -> dict[str, Any]:
    """Write the corpus into ``directory`` and run the writing benchmarks (one process, like a crawl)."""
    from crawler.config import ArchiveSettings

    root = Path(directory)
    exchanges = build_exchanges(pages, split=True)
    paths = write_corpus(root / "corpus", exchanges, files)
    default_level = ArchiveSettings().gzip_level
    writes: dict[str, dict[str, float]] = {}
    exchanges = build_exchanges(pages, content_encoding=None)  # plain HTML: the case where gzip costs
    for fsync in (True, False):
        policy = "fsync per exchange" if fsync else "no per-record fsync"
        writes[f"warcio WARCWriter (zlib 9), {policy}"] = bench_warcio_write(root, exchanges, fsync=fsync)
        levels = (default_level,) if fsync else tuple(sorted({default_level, 1, 3, 6, 9}))
        for level in levels:
            name = f"ours, gzip_level {level}{' (default)' if level == default_level else ''}, {policy}"
            writes[name] = bench_ours_write(root / f"level{level}-{fsync}", exchanges, level, fsync=fsync)
    return {"paths": [str(p) for p in paths], "writes": writes, "default_level": default_level}


# ---------------------------------------------------------------------- report


def _row(name: str, result: dict[str, Any]) -> str:
    seconds, cpu = result["seconds"], result["cpu_seconds"]
    return (f"| {name} | {result['records']} | {result['articles']} | {seconds:.2f} | {cpu:.2f} | "
            f"{result['records'] / seconds:.0f} | {result['articles'] / seconds:.0f} | "
            f"{result['articles'] / cpu:.0f} | {result['self_kb'] / 1024:.0f} / "
            f"{result['children_kb'] / 1024:.0f} |")


def report(args: argparse.Namespace, replays: dict[str, dict[str, Any]], built: dict[str, Any],
           load: tuple[float, float], index: dict[str, float]) -> str:
    rate = {k: v["articles"] / v["seconds"] for k, v in replays.items()}
    per_cpu = {k: v["articles"] / v["cpu_seconds"] for k, v in replays.items()}
    command = (f"python bench/replay.py --pages {args.pages} --files {args.files} "
               f"--peer-records {args.peer_records}")
    lines = [
        SECTION, "",
        f"Command: `{command}` ({os.cpu_count()} cores; load average {load[0]:.1f} at start, "
        f"{load[1]:.1f} at end, other work shared the machine; Python {sys.version.split()[0]}).",
        "",
        f"Corpus: {args.pages} fixture article pages (gzip-encoded responses, unique bodies) in {args.files} "
        "WARC files written by our writer with their CDXJ indexes, as the crawl writes them, and one "
        "two-page article whose pages are in the first and the last file (so replay's cross-file step "
        "runs, as after any rotation). Records: WARC records read (warcinfo, request, response); the "
        "peer counts the responses it processed. Wall times include process start, extractor build and "
        "output; CPU seconds are the whole process tree's (user + system), so articles per CPU-second is the "
        "per-core rate even when the machine is busy.",
        "",
        "| run | records | articles | wall s | CPU s | records/s | articles/s | articles per CPU-s "
        "| peak RSS MiB main / largest worker |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        _row("ours, 1 worker", replays["ours-1"]), _row("ours, 2 workers", replays["ours-2"]),
        _row("warcio + trafilatura, 1 process", replays["peer-1"]),
        _row("warcio + trafilatura, 2 processes", replays["peer-2"]),
        "",
        "| ratio | value |", "| --- | ---: |",
        f"| ours ÷ peer, articles per CPU-second | {per_cpu['ours-1'] / per_cpu['peer-1']:.0f}× |",
        f"| ours ÷ peer, articles/s wall (1 worker) | {rate['ours-1'] / rate['peer-1']:.0f}× |",
        f"| ours ÷ peer, articles/s wall (2 workers) | {rate['ours-2'] / rate['peer-2']:.0f}× |",
        f"| ours 2 workers ÷ 1 worker, articles/s wall (this run, busy machine) | "
        f"{rate['ours-2'] / rate['ours-1']:.2f}× |",
        f"| ours 2 workers ÷ 1 worker on 2 idle cores, estimated: 2 × CPU s (1 worker) ÷ CPU s (2) | "
        f"{2 * replays['ours-1']['cpu_seconds'] / replays['ours-2']['cpu_seconds']:.2f}× |",
        f"| target ≥ 250 articles/s per core (articles per CPU-s, 1 worker) | "
        f"{'met' if per_cpu['ours-1'] >= 250 else 'NOT met'} ({per_cpu['ours-1']:.0f}) |",
        "",
        "Replay's cross-file capture index of the corpus (one process, CPU seconds; `child_index`): "
        "every file read whole (replay before it used the CDXJ indexes), from the `.cdxj` beside each "
        "file, and for files with no index: read whole (the default; `--write-indexes` in a directory "
        "that cannot be written) and, with `--write-indexes`, indexed with the crawl's indexer and "
        "written beside them (once).",
        "",
        "| capture index | CPU s | ÷ read whole |", "| --- | ---: | ---: |",
        f"| every file read whole | {index['whole']:.2f} | 1.00 |",
        f"| from the CDXJ indexes | {index['cdxj']:.2f} | {index['cdxj'] / index['whole']:.3f} |",
        f"| no indexes: read whole | {index['read_only']:.2f} | "
        f"{index['read_only'] / index['whole']:.2f} |",
        f"| no indexes, --write-indexes: built, written beside (once) | {index['built']:.2f} | "
        f"{index['built'] / index['whole']:.2f} |",
        "",
        f"WARC writing: the same {args.pages} pages served without Content-Encoding (plain HTML, where "
        f"gzip costs most): {2 * args.pages} response + request records. \"fsync per exchange\" is what the "
        "crawl needs (no false done); \"no per-record fsync\" isolates record building and gzip (fsync "
        "patched out for ours).",
        "",
        "| writer | records/s wall | records per CPU-s | MB of bodies per CPU-s | file ÷ bodies |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, stats in built["writes"].items():
        lines.append(f"| {name} | {stats['records_per_s']:.0f} | {stats['records_per_cpu_s']:.0f} | "
                     f"{stats['mb_per_cpu_s']:.1f} | {stats['ratio']:.3f} |")
    default = built["default_level"]
    lines += ["", f"Default `archive.gzip_level` = {default} (ISA-L; crawler/warc/compress.py).", ""]
    return "\n".join(lines)


def write_results(section: str) -> None:
    write_section(SECTION, section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=3000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--peer-records", type=int, default=40)
    parser.add_argument("--write-results", action="store_true")
    parser.add_argument("--child", choices=["build", "ours", "peer", "index"])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args()
    if args.child is not None:
        if args.child == "build":
            result = child_build(args.paths[0], args.pages, args.files)
        elif args.child == "ours":
            result = child_ours(args.paths, args.workers)
        elif args.child == "index":
            result = child_index(args.paths)
        else:
            result = child_peer(args.paths, args.workers, args.peer_records)
        print(json.dumps(result))
        return
    start_load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as scratch:
        built = run_child("build", [scratch], pages=args.pages, files=args.files)
        replays = {}
        for kind, workers in (("ours", 1), ("ours", 2), ("peer", 1), ("peer", 2)):
            name = f"{kind}-{workers}"
            replays[name] = run_child(kind, built["paths"], workers=workers, limit=args.peer_records)
            print(name, replays[name], file=sys.stderr)
        index = run_child("index", built["paths"])
        print("index", index, file=sys.stderr)
    section = report(args, replays, built, (start_load, os.getloadavg()[0]), index)
    print(section)
    if args.write_results:
        write_results(section)


if __name__ == "__main__":
    main()
