"""Crawl and replay give the same articles, field by field, for the same archive.

Each scenario crawls a loopback portal into an archive, then replays that archive with the
``crawler replay`` command (a real process): once from the directory holding the crawl's
``config.yaml`` (no ``--config``), once from elsewhere with ``--config``. The crawl's
``articles.jsonl`` and each replay's output must hold the same records.

Scenarios: multi-page articles (a page 2 that links back to page 1, a chain of three pages, a
whole view ``instead``) with a tiny rollover so their pages land in different WARC files, a
redirect, two URLs with the same payload (the second archived as a revisit); ``--since`` with
undated listing links and dated feed links; two sites on nested domains.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from crawler.config import builtin_sites, load_config
from crawler.pipeline import Crawl, CrawlOptions, parse_since
from crawler.warc.reader import iter_records
from tests.support import warcfactory as wf
from tests.support.portalserver import Fault, PortalServer, Response, SiteShape, fixture_pages, listing_html

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
HTML = (("Content-Type", "text/html; charset=utf-8"),)
SUARA = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"
LOOP = "http://www.suara.com/news/2024/05/31/101010/halaman-dua-kembali-ke-halaman-satu"
MOVED = "http://www.suara.com/news/2024/06/01/090909/alamat-lama-berita-dipindah"
KOMPAS = ("http://nasional.kompas.com/read/2016/02/16/14382361/"
          "menteri-yuddy-ancam-pns-yang-rankingnya-terendah-akan-dipangkas")


@dataclass(frozen=True)
class Scenario:
    root: Path
    archive: Path
    config: Path
    since: str | None

    def crawled(self) -> list[dict[str, object]]:
        return _lines((self.archive / "articles.jsonl").read_text(encoding="utf-8"))


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _crawl(root: Path, routes: Mapping[str, Response], sites: Mapping[str, object], seeds: Sequence[str], *,
           rollover_bytes: int = 10_000_000, since: str | None = None,
           faults: Mapping[str, Fault] | None = None, later_runs: Sequence[Sequence[str]] = ()) -> Scenario:
    archive = root / "archive"
    with PortalServer(dict(routes)) as server:
        for url, fault in (faults or {}).items():
            server.fault(url, fault)
        config = root / "config.yaml"
        config.write_text(json.dumps({
            "crawl": {"proxy": server.url, "interval_s": 0.01, "concurrency": 4,
                      "max_concurrency_per_host": 1,
                      "timeouts_s": {"connect": 5, "read": 5, "total": 10},
                      "retry": {"attempts": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.05}},
            "network": {"allow_private_addresses": [f"{server.host}/32"]},
            "archive": {"dir": str(archive), "rollover_bytes": rollover_bytes},
            "sites": sites,
        }), encoding="utf-8")
        cutoff = parse_since(since) if since else None
        for run_seeds in (seeds, *later_runs):
            options = CrawlOptions(archive, seeds=tuple(run_seeds), since=cutoff)
            summary = asyncio.run(Crawl(load_config(config), options).run())
            assert summary.articles_written > 0
    return Scenario(root, archive, config, since)


def _replay_cli(scenario: Scenario, *, with_config: bool) -> list[dict[str, object]]:
    """``crawler replay`` in a process: beside config.yaml, or elsewhere with --config."""
    out = scenario.root / ("with-config.jsonl" if with_config else "in-cwd.jsonl")
    command = [sys.executable, "-m", "crawler.cli", "replay", str(scenario.archive), "-o", str(out),
               "--workers", "2"]
    if with_config:
        command += ["--config", str(scenario.config)]
    if scenario.since:
        command += ["--since", scenario.since]
    cwd = scenario.root / "elsewhere" if with_config else scenario.root
    cwd.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return _lines(out.read_text(encoding="utf-8"))


def assert_same_articles(crawled: list[dict[str, object]], replayed: list[dict[str, object]]) -> None:
    """The same records, compared field by field (the message names the fields that differ)."""
    by_url = {str(article["url"]): article for article in crawled}
    got = {str(article["url"]): article for article in replayed}
    assert len(by_url) == len(crawled) and len(got) == len(replayed), "one record per URL"
    assert sorted(got) == sorted(by_url), "replay and crawl wrote articles of different URLs"
    for url, want in by_url.items():
        differ = sorted(key for key in set(want) | set(got[url]) if want.get(key) != got[url].get(key))
        assert not differ, f"{url}: replay differs from the crawl in {differ}"


def _both_replays_match(scenario: Scenario) -> list[dict[str, object]]:
    crawled = scenario.crawled()
    for with_config in (False, True):
        assert_same_articles(crawled, _replay_cli(scenario, with_config=with_config))
    return crawled


# ---------------------------------------------------------------- multi-page, redirects, revisits


def _fixture(name: str) -> bytes:
    return (wf.SITES / f"{name}.html").read_bytes()


def _with_next(body: bytes, url: str) -> bytes:
    return body.replace(b"</head>", f'<link rel="next" href="{url}"></head>'.encode(), 1)


@pytest.fixture(scope="module")
def multipage(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    jsonld = _fixture("suara/synthetic-jsonld")
    amp = _fixture("suara/synthetic-amp-2017-06-21")
    detik = next(page for page in fixture_pages(sites=["detik"]) if page.article and page.url[:5] == "http:")
    twin = detik.url + "-salinan"
    routes = {
        SUARA: Response(body=_with_next(jsonld, f"{SUARA}?page=2"), headers=HTML),
        f"{SUARA}?page=2": Response(body=_with_next(jsonld, f"{SUARA}?page=3"), headers=HTML),
        f"{SUARA}?page=3": Response(body=amp, headers=HTML),
        LOOP: Response(body=_with_next(amp, f"{LOOP}?page=2"), headers=HTML),
        f"{LOOP}?page=2": Response(body=_with_next(jsonld, LOOP), headers=HTML),  # back to page 1
        KOMPAS: Response(body=_fixture("kompas/synthetic-current-paging-1"), headers=HTML),
        f"{KOMPAS}?page=all": Response(body=_fixture("kompas/synthetic-current-paging-2"), headers=HTML),
        detik.url: Response(body=detik.body, headers=HTML),
        twin: Response(body=detik.body, headers=HTML),  # the same payload: a revisit record
    }
    sites = {"suara": {"enabled": True}, "kompas": {"enabled": True}, "detik": {"enabled": True}}
    seeds = (SUARA, LOOP, MOVED, KOMPAS, detik.url, twin)
    return _crawl(tmp_path_factory.mktemp("differential-multipage"), routes, sites, seeds,
                  rollover_bytes=15_000, faults={MOVED: Fault.redirect(SUARA + "?page=3")})


def test_multipage_redirect_and_revisit_archives_replay_as_crawled(multipage: Scenario) -> None:
    warcs = sorted(multipage.archive.rglob("*.warc.gz"))
    assert len(warcs) >= 3, "the tiny rollover spreads the pages over several files"
    types = [record.rec_type for path in warcs for record in iter_records(str(path))]
    assert "revisit" in types, "the second URL with the same payload is archived as a revisit"
    crawled = _both_replays_match(multipage)
    pages = {article["url"]: article["pages"] for article in crawled}
    assert pages[SUARA] == 3
    assert pages[LOOP] == 2, "page 2 links back to page 1: joined once, not looped"
    assert f"{KOMPAS}?page=all" in pages
    assert f"{SUARA}?page=3" in pages, "the redirect's target is an article of its own"


# ---------------------------------------------------------------- revisits across runs


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    page = next(page for page in fixture_pages(sites=["kompas"]) if page.article and page.url[:5] == "http:")
    twin = page.url + "-ulang"
    routes = {page.url: Response(body=page.body, headers=HTML), twin: Response(body=page.body, headers=HTML)}
    return _crawl(tmp_path_factory.mktemp("differential-runs"), routes, {"kompas": {"enabled": True}},
                  (page.url,), later_runs=[(twin,)])


def test_a_payload_of_an_earlier_run_is_a_revisit_and_replays_as_crawled(two_runs: Scenario) -> None:
    warcs = sorted(two_runs.archive.rglob("*.warc.gz"))
    records = [record for path in warcs for record in iter_records(str(path))]
    revisits = [record for record in records if record.rec_type == "revisit"]
    assert [record.target_uri for record in revisits] == [str(two_runs.crawled()[1]["url"])], (
        "the second run knew the first run's payload (from its CDXJ index)")
    crawled = _both_replays_match(two_runs)
    assert len(crawled) == 2 and crawled[0]["body"] == crawled[1]["body"]


# ---------------------------------------------------------------- --since


def _rss(items: Sequence[tuple[str, datetime]]) -> bytes:
    entries = "".join(
        f"<item><title>t</title><link>{url}</link><pubDate>{format_datetime(when)}</pubDate></item>"
        for url, when in items
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>f</title>'
            f"<link>http://www.kompas.com/</link><description>d</description>{entries}</channel></rss>").encode()


@pytest.fixture(scope="module")
def since(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    pages = {page.slug: page for page in fixture_pages() if page.url.startswith("http://")}
    # antaranews URLs carry no date: the listing's links are undated; the feed's items are dated
    old, new = pages["anpandu-antara-singlepage"], pages["anpandu-antara-singlepage2"]  # 2015, 2016
    old_dated, new_dated = pages["anpandu-kompas-singlepage"], pages["anpandu-kompas-singlepage2"]
    listing = "http://www.antaranews.com/_portal/indeks"
    feed = "http://www.kompas.com/_portal/rss.xml"
    antara = next(site for site in builtin_sites() if site.id == "antaranews")
    shape = SiteShape("antaranews", antara.domains, antara.listing.links, antara.listing.next)
    routes = {page.url: Response(body=page.body, headers=HTML) for page in (old, new, old_dated, new_dated)}
    routes[listing] = Response(body=listing_html(shape, [old.url, new.url], None), headers=HTML)
    routes[feed] = Response(body=_rss([(old_dated.url, datetime(2015, 11, 4, tzinfo=UTC)),
                                       (new_dated.url, datetime(2016, 2, 16, tzinfo=UTC))]),
                            headers=(("Content-Type", "application/rss+xml"),))
    sites = {"kompas": {"enabled": True}, "antaranews": {"enabled": True}}
    scenario = _crawl(tmp_path_factory.mktemp("differential-since"), routes, sites, (listing, feed),
                      since="2016-01-01")
    warcs = scenario.archive.rglob("*.warc.gz")
    fetched = {record.target_uri for path in warcs for record in iter_records(str(path))}
    assert old.url in fetched, "an undated link is fetched: its page says when it was published"
    assert old_dated.url not in fetched, "a link dated before --since is not fetched"
    return scenario


def test_since_with_dated_and_undated_links_replays_as_crawled(since: Scenario) -> None:
    crawled = _both_replays_match(since)
    assert crawled and all(str(article["published"]) >= "2016-01-01" for article in crawled)
    assert len(crawled) == 2, "the 2016 pages of the listing and the feed"


# ---------------------------------------------------------------- nested domains


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    bodies = [page.body for page in fixture_pages(sites=["tempo"]) if page.article][:2]
    parent = "http://www.example.co.id/read/2024/01/02/berita-induk"
    child = "http://news.example.co.id/read/2024/01/03/berita-anak"
    routes = {parent: Response(body=bodies[0], headers=HTML), child: Response(body=bodies[1], headers=HTML)}
    sites = {
        "induk": {"domains": ["example.co.id"], "article_urls": ["/read/"]},
        "anak": {"domains": ["news.example.co.id"], "article_urls": ["/read/"],
                 "politeness": {"interval_s": 0.05}},
    }
    return _crawl(tmp_path_factory.mktemp("differential-nested"), routes, sites, (parent, child))


def test_nested_domain_sites_replay_as_crawled(nested: Scenario) -> None:
    crawled = _both_replays_match(nested)
    assert {str(article["url"]).split("/")[2]: article["site"] for article in crawled} == {
        "www.example.co.id": "induk", "news.example.co.id": "anak"}
