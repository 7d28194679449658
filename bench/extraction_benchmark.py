"""Public article-extraction benchmark (not a test): our generic extractor beside the published
systems, scored by the benchmark's own scorer, and speed against trafilatura in the same run.

    python bench/extraction_benchmark.py [--benchmark DIR] [--worst N] [--bootstrap N]

Each of the benchmark's pages (``html/<key>.html.gz``) goes through ``extract(Page(url=...,
body=...))`` (these sites have no rules: the generic path); a page that gives no article or
raises scores an empty body. trafilatura (installed) runs on the same pages in the same process.
Both outputs are scored with the benchmark's ``evaluate.py`` (imported from its folder, not
copied) against ``ground-truth.json``, beside the published ``output/*.json``. Speed: pages per
CPU-second (``time.process_time`` summed over pages, best of ``--rounds`` rounds, after one
warm-up call that loads the built-in site profiles and lazy imports).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawler.errors import CrawlerError  # noqa: E402
from crawler.extract import extract  # noqa: E402
from crawler.models import Page  # noqa: E402

# ../shared beside the checkout (a clone one level deeper finds it one more level up)
DEFAULT_BENCHMARK = next(
    (path for base in (ROOT.parent, ROOT.parent.parent)
     if (path := base / "shared" / "benchmarks" / "article-extraction-benchmark").is_dir()),
    ROOT.parent / "shared" / "benchmarks" / "article-extraction-benchmark",
)


def load_scorer(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_evaluate", folder / "evaluate.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"{folder}/evaluate.py: cannot load the benchmark's scorer")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_pages(folder: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    truth: dict[str, Any] = json.loads((folder / "ground-truth.json").read_text("utf-8"))
    pages = {key: gzip.decompress((folder / "html" / f"{key}.html.gz").read_bytes()) for key in truth}
    return truth, pages


def ours(url: str, html: bytes) -> str:
    try:
        article = extract(Page(url=url, body=html))
    except CrawlerError:
        return ""
    return article.body if article is not None else ""


def trafilatura_body(url: str, html: bytes) -> str:
    import trafilatura

    return trafilatura.extract(html, url=url) or ""


def run(
    name: str, fn: Callable[[str, bytes], str], truth: dict[str, Any], pages: dict[str, bytes], rounds: int
) -> tuple[dict[str, str], float]:
    """Bodies per key and the best total CPU seconds over ``rounds`` rounds."""
    best = float("inf")
    bodies: dict[str, str] = {}
    first = next(iter(pages))
    fn(truth[first]["url"], pages[first])  # warm up: built-in site profiles, lazy imports
    for _ in range(rounds):
        total = 0.0
        for key, html in pages.items():
            start = time.process_time()
            bodies[key] = fn(truth[key]["url"], html)
            total += time.process_time() - start
        best = min(best, total)
    print(f"  {name}: {len(pages)} pages, {best:.2f} CPU s", file=sys.stderr)
    return bodies, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmark", type=Path, default=DEFAULT_BENCHMARK)
    parser.add_argument("--worst", type=int, default=0, help="also list our N lowest-F1 pages")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap rounds of the scorer")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best is kept)")
    parser.add_argument("--no-trafilatura", action="store_true", help="skip the trafilatura run")
    args = parser.parse_args()
    scorer = load_scorer(args.benchmark)
    truth, pages = load_pages(args.benchmark)
    ours_bodies, ours_cpu = run("ours", ours, truth, pages, args.rounds)
    rows: list[tuple[str, dict[str, Any]]] = []
    rows.append(("ours (generic)", score(scorer, truth, ours_bodies, args.bootstrap)))
    traf_cpu = None
    if not args.no_trafilatura:
        traf_bodies, traf_cpu = run("trafilatura", trafilatura_body, truth, pages, args.rounds)
        rows.append(("trafilatura (this run)", score(scorer, truth, traf_bodies, args.bootstrap)))
    for path in sorted((args.benchmark / "output").glob("*.json")):
        prediction, version = scorer.load_prediction(path)
        label = f"{path.stem} {version}".strip() + " (published)"
        rows.append((label, scorer.evaluate(truth, prediction, args.bootstrap)))
    print_table(rows)
    empty = sum(1 for body in ours_bodies.values() if not body)
    print(f"\nours: {empty} of {len(pages)} pages without an article body")
    ours_speed = len(pages) / ours_cpu
    if traf_cpu is not None:
        traf_speed = len(pages) / traf_cpu
        print(
            f"speed: ours {ours_speed:.1f} pages/CPU-s, trafilatura {traf_speed:.1f} pages/CPU-s "
            f"= {ours_speed / traf_speed:.1f}x"
        )
    else:
        print(f"speed: ours {ours_speed:.1f} pages/CPU-s")
    if args.worst:
        print_worst(scorer, truth, ours_bodies, args.worst)


def score(
    scorer: ModuleType, truth: dict[str, Any], bodies: dict[str, str], bootstrap: int
) -> dict[str, Any]:
    prediction = {key: {"articleBody": body} for key, body in bodies.items()}
    result: dict[str, Any] = scorer.evaluate(truth, prediction, bootstrap)
    return result


def print_table(rows: list[tuple[str, dict[str, Any]]]) -> None:
    rows = sorted(rows, key=lambda row: -float(row[1]["f1"]))
    print("| system | F1 | precision | recall | accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for name, m in rows:
        mark = "**" if name.startswith("ours") else ""
        print(
            f"| {mark}{name}{mark} | {m['f1']:.3f} ± {m['f1_std']:.3f} | {m['precision']:.3f} | "
            f"{m['recall']:.3f} | {m['accuracy']:.3f} |"
        )


def print_worst(scorer: ModuleType, truth: dict[str, Any], bodies: dict[str, str], count: int) -> None:
    scored = []
    for key, body in bodies.items():
        tp, fp, fn = scorer.string_shingle_matching(true=truth[key].get("articleBody", ""), pred=body)
        precision = scorer.precision_score(tp, fp, fn)
        recall = scorer.recall_score(tp, fp, fn)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scored.append((f1, precision, recall, key, truth[key]["url"]))
    print(f"\nour {count} lowest pages (F1, precision, recall, key, url):")
    for f1, precision, recall, key, url in sorted(scored)[:count]:
        print(f"  {f1:.3f} {precision:.3f} {recall:.3f} {key[:12]} {url}")


if __name__ == "__main__":
    main()
