"""One site index: the longest matching domain owns a URL, for scope, pacing, extraction and records.

A site on ``example.co.id`` is configured before a sub-site on ``news.example.co.id``; a
loopback crawl of the sub-site's pages paces them by the sub-site's ``interval_s`` and records
them with its id.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from crawler.config import load_config, parse_config
from crawler.extract import Extractor
from crawler.pipeline import Crawl, CrawlOptions
from crawler.scope import Scope
from crawler.sites_index import SiteIndex, covers, longest_domain
from tests.support.portalserver import PortalServer, Response, fixture_pages, interval_violations

HTML = (("Content-Type", "text/html; charset=utf-8"),)
CHILD_INTERVAL_S = 0.4
NESTED = """
sites:
  induk: {domains: [example.co.id], article_urls: ["/read/"], politeness: {pace_by: domain}}
  anak: {domains: [News.Example.co.id.], article_urls: ["/read/"], politeness: {pace_by: domain}}
"""


def test_the_longest_domain_wins_whatever_the_order() -> None:
    index = SiteIndex([("example.co.id", "induk"), ("news.example.co.id", "anak"), ("co.id", "negara")])
    assert index.for_url("http://a.news.example.co.id/x") == "anak"
    assert index.for_url("http://NEWS.example.co.id./x") == "anak"
    assert index.for_url("http://www.example.co.id/x") == "induk"
    assert index.for_url("http://other.co.id/x") == "negara"
    assert index.for_url("http://notexample.com/") is None
    assert index.for_url("http://[::1") is None
    assert covers("Example.co.id.", "www.example.co.id") and not covers("example.co.id", "xexample.co.id")
    nested = ["example.co.id", "news.example.co.id"]
    assert longest_domain("a.news.example.co.id", nested) == "news.example.co.id"


def test_scope_pacing_and_extraction_agree_on_nested_sites() -> None:
    config = parse_config(NESTED)
    scope = Scope.build(config.sites)
    extractor = Extractor(config.sites)
    url = "http://www.news.example.co.id/read/1"
    owner = scope.site_for(url)
    assert owner is not None and owner.id == "anak"
    site = extractor.site_for(url)
    assert site is not None and site.id == "anak"
    assert scope.pace_key(url, owner) == "news.example.co.id"
    parent = scope.site_for("http://www.example.co.id/read/2")
    assert parent is not None and parent.id == "induk"
    assert scope.pace_key("http://www.example.co.id/read/2", parent) == "example.co.id"


def test_a_sub_site_keeps_its_own_interval_and_extraction(tmp_path: Path) -> None:
    bodies = [page.body for page in fixture_pages(sites=["tempo"]) if page.article]
    urls = [f"http://news.example.co.id/read/2024/01/0{number}/berita-{number}" for number in range(1, 4)]
    routes = {url: Response(body=bodies[n % len(bodies)], headers=HTML) for n, url in enumerate(urls)}
    archive = tmp_path / "archive"
    with PortalServer(routes) as server:
        config = tmp_path / "config.yaml"
        config.write_text(json.dumps({
            "crawl": {"proxy": server.url, "interval_s": 0.01, "concurrency": 4,
                      "max_concurrency_per_host": 2,
                      "retry": {"attempts": 1}},
            "network": {"allow_private_addresses": [f"{server.host}/32"]},
            "archive": {"dir": str(archive)},
            "sites": {
                "induk": {"domains": ["example.co.id"], "article_urls": ["/read/"],
                          "politeness": {"interval_s": 0.01}},
                "anak": {"domains": ["news.example.co.id"], "article_urls": ["/read/"],
                         "politeness": {"interval_s": CHILD_INTERVAL_S}},
            },
        }), encoding="utf-8")
        summary = asyncio.run(Crawl(load_config(config), CrawlOptions(archive, seeds=tuple(urls))).run())
        hits = [hit for hit in server.hits(host="news.example.co.id") if "/read/" in hit.url]
    assert summary.articles_written == 3
    assert len(hits) == 3
    assert not interval_violations(hits, CHILD_INTERVAL_S), "the sub-site's interval_s paces its host"
    articles = [json.loads(line) for line in (archive / "articles.jsonl").read_text("utf-8").splitlines()]
    assert {article["site"] for article in articles} == {"anak"}
