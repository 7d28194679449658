"""A loopback crawl's WARCs: standard tools read them, and replay gives exactly the crawl's articles.

One module-scoped crawl of the fixture portals (small rollover, so an article and its
continuation or revisit original can sit in different files), then:

* every WARC passes ``crawler verify``, ``warcio check`` and ``cdxj-indexer``;
* ``replay`` (1 and 2 workers) writes the same article records as the crawl's ``articles.jsonl``;
* pywb, from its own virtualenv, serves an archived article on loopback (see ``_pywb_python``).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from crawler.config import builtin_sites, load_config
from crawler.pipeline import Crawl, CrawlOptions
from crawler.replay import ReplayOptions, replay
from crawler.warc.index import write_index
from crawler.warc.verify import verify_file
from tests.support.portalserver import PortalServer, SiteShape, build_portal, portal_config

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Crawled:
    archive: Path
    config: Path
    warcs: list[Path]

    def articles(self) -> list[dict[str, object]]:
        text = (self.archive / "articles.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    root = tmp_path_factory.mktemp("replay-crawl")
    archive = root / "archive"
    shapes = [SiteShape(s.id, s.domains, s.listing.links, s.listing.next) for s in builtin_sites()]
    portal = build_portal(shapes)
    with PortalServer(portal.routes) as server:
        config = root / "config.yaml"
        config.write_text(portal_config(portal, server, archive, interval_s=0.02, rollover_bytes=250_000),
                          encoding="utf-8")
        asyncio.run(Crawl(load_config(config), CrawlOptions(archive)).run())
    warcs = sorted(archive.rglob("*.warc.gz"))
    assert len(warcs) >= 2, "the small rollover should give several files"
    return Crawled(archive, config, warcs)


def _replayed(crawled: Crawled, workers: int, **options: object) -> tuple[list[dict[str, object]], int]:
    out = io.StringIO()
    damage: list[str] = []
    chosen = ReplayOptions(config_path=str(crawled.config), **options)  # type: ignore[arg-type]
    summary = replay([crawled.archive], out, chosen, workers=workers, on_damage=damage.append)
    assert not damage, damage
    return [json.loads(line) for line in out.getvalue().splitlines()], summary.records


def _as_multiset(articles: list[dict[str, object]]) -> Counter[str]:
    return Counter(json.dumps(article, sort_keys=True, ensure_ascii=False) for article in articles)


def test_crawl_warcs_pass_verify_warcio_check_and_cdxj_indexer(crawled: Crawled) -> None:
    for path in crawled.warcs:
        report = verify_file(path)
        assert report.ok, report.lines()
        assert report.first_type == "warcinfo"
        check = subprocess.run(["warcio", "check", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    done = subprocess.run(["crawler", "verify", str(crawled.archive)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    index = io.StringIO()
    write_index(crawled.warcs, index)
    lines = index.getvalue().splitlines()
    assert lines and lines == sorted(lines)
    assert all(json.loads(line.split(" ", 2)[2])["filename"].endswith(".warc.gz") for line in lines)


def test_each_closed_file_has_the_cdxj_indexer_index_beside_it(crawled: Crawled) -> None:
    """The crawl indexes records as it writes them: the result is what cdxj-indexer makes of
    the finished file, line for line."""
    for path in crawled.warcs:
        index = path.with_name(path.name + ".cdxj")
        assert index.exists(), f"{index} missing"
        expected = io.StringIO()
        write_index([path], expected)
        assert expected.getvalue().strip(), f"{path} has no indexable record"
        assert index.read_text(encoding="utf-8") == expected.getvalue(), f"{index}: not cdxj-indexer's"
    assert not list(crawled.archive.glob("*.cdxj.open")), "index spools are removed when files close"


def test_replay_gives_exactly_the_crawls_articles(crawled: Crawled) -> None:
    expected = crawled.articles()
    assert len(expected) >= 15
    got, records = _replayed(crawled, workers=2)
    assert records > len(expected)
    missing = _as_multiset(expected) - _as_multiset(got)
    extra = _as_multiset(got) - _as_multiset(expected)
    assert not missing and not extra, (
        f"replay differs from the crawl: missing {[json.loads(m)['url'] for m in missing]}, "
        f"extra {[json.loads(e)['url'] for e in extra]}"
    )


def test_one_worker_and_two_give_the_same_output(crawled: Crawled) -> None:
    one, _ = _replayed(crawled, workers=1)
    two, _ = _replayed(crawled, workers=2)
    assert _as_multiset(one) == _as_multiset(two)


def test_sites_filter_keeps_only_those_sites(crawled: Crawled) -> None:
    got, _ = _replayed(crawled, workers=1, sites=frozenset({"kompas"}))
    expected = [a for a in crawled.articles() if a["site"] == "kompas"]
    assert got and _as_multiset(got) == _as_multiset(expected)


def test_replay_cli_writes_the_same_records(crawled: Crawled, tmp_path: Path) -> None:
    out = tmp_path / "articles.jsonl"
    done = subprocess.run(["crawler", "replay", str(crawled.archive), "-o", str(out), "--workers", "2",
                           "--config", str(crawled.config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "0 damaged" in done.stderr
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert _as_multiset(got) == _as_multiset(crawled.articles())


# ---------------------------------------------------------------------- pywb


def _pywb_python() -> Path | None:
    """pywb lives in its own virtualenv: it requires ``brotlipy``, whose ``brotli`` module
    replaces Google's ``brotli`` that the crawler decodes ``br`` with, so it cannot share the
    test environment. Set ``CRAWLER_PYWB_PYTHON`` or create ``.pywb-venv`` at the repo root:
    ``python -m venv .pywb-venv && .pywb-venv/bin/pip install pywb``."""
    configured = os.environ.get("CRAWLER_PYWB_PYTHON")
    candidates = [Path(configured)] if configured else [REPO / ".pywb-venv" / "bin" / "python"]
    for candidate in candidates:
        if candidate.exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(url: str, process: subprocess.Popen[bytes], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pywb exited with {process.returncode}")
        try:
            with httpx.Client(timeout=1) as client:
                client.get(url)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"pywb did not answer at {url} within {timeout_s} s")


def test_pywb_replays_an_archived_article_on_loopback(crawled: Crawled, tmp_path: Path) -> None:
    python = _pywb_python()
    if python is None:
        if os.environ.get("CRAWLER_REQUIRE_PYWB"):  # CI installs it: a missing pywb is a failure there
            pytest.fail(f"CRAWLER_REQUIRE_PYWB is set but no pywb was found. {_pywb_python.__doc__}")
        pytest.skip(_pywb_python.__doc__ or "pywb not installed")
    collection = tmp_path / "collections" / "crawl"
    (collection / "archive").mkdir(parents=True)
    (collection / "indexes").mkdir()
    for path in crawled.warcs:
        os.link(path, collection / "archive" / path.name)
    with open(collection / "indexes" / "index.cdxj", "w", encoding="utf-8") as index:
        write_index(sorted((collection / "archive").iterdir()), index)
    article = next(a for a in crawled.articles() if a["body"] and a["pages"] == 1)
    source = article["source"]
    assert isinstance(source, dict)
    stamp = str(source["fetched"]).replace("-", "").replace(":", "").replace("T", "").rstrip("Z")
    port = _free_port()
    wayback = Path(python).parent / "wayback"
    process = subprocess.Popen([str(wayback), "-p", str(port), "-b", "127.0.0.1", "-d", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/", process)
        with httpx.Client(timeout=10) as client:
            response = client.get(f"http://127.0.0.1:{port}/crawl/{stamp}id_/{article['url']}")
        assert response.status_code == 200, response.text[:300]
        words = [w for w in str(article["body"]).split() if w.isalpha() and len(w) >= 7][:5]
        assert words and all(word in response.text for word in words), words
    finally:
        process.terminate()
        process.wait(timeout=10)
