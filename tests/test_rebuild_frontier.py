"""A damaged frontier has a way out: ``crawler recover --rebuild-frontier ARCHIVE``.

A real crawl of loopback portals (listings, feeds, sitemaps, a three-page article), then its
``state/frontier.sqlite`` is overwritten with garbage: the next crawl refuses to start and names
the command; the command (a real process) rebuilds the frontier from the WARC files' CDXJ
indexes, their metadata records and ``articles.jsonl``; the crawl after it fetches the seeds
again but no article, and writes no article twice.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.config import builtin_sites, load_config
from crawler.errors import FrontierCorrupt
from crawler.frontier import Frontier, Kind, Status, database_path
from crawler.pipeline import Crawl, CrawlOptions
from tests.support import warcfactory as wf
from tests.support.portalserver import PortalServer, Response, SiteShape, build_portal, portal_config

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
SUARA = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"
HTML = (("Content-Type", "text/html; charset=utf-8"),)


def _with_next(body: bytes, url: str) -> bytes:
    return body.replace(b"</head>", f'<link rel="next" href="{url}"></head>'.encode(), 1)


def _done(archive: Path) -> dict[str, set[str]]:
    with Frontier.open(archive) as frontier:
        rows = list(frontier.rows(Status.DONE))
    return {kind.value: {row.url for row in rows if row.kind is kind} for kind in Kind}


def test_a_damaged_frontier_is_rebuilt_from_the_archive(tmp_path: Path) -> None:
    shapes = [SiteShape(s.id, s.domains, s.listing.links, s.listing.next)
              for s in builtin_sites() if s.id in ("suara", "detik")]
    portal = build_portal(shapes, extra_listing_links={"suara": [SUARA]})
    jsonld = (wf.SITES / "suara/synthetic-jsonld.html").read_bytes()
    portal.routes[SUARA] = Response(body=_with_next(jsonld, f"{SUARA}?page=2"), headers=HTML)
    portal.routes[f"{SUARA}?page=2"] = Response(body=_with_next(jsonld, f"{SUARA}?page=3"), headers=HTML)
    portal.routes[f"{SUARA}?page=3"] = Response(
        body=(wf.SITES / "suara/synthetic-amp-2017-06-21.html").read_bytes(), headers=HTML)
    archive = tmp_path / "archive"
    config_path = tmp_path / "config.yaml"
    with PortalServer(portal.routes) as server:
        config_path.write_text(portal_config(portal, server, archive, interval_s=0.01, rollover_bytes=40_000),
                               encoding="utf-8")
        config = load_config(config_path)
        first = asyncio.run(Crawl(config, CrawlOptions(archive)).run())
        assert first.exit_code == 0 and first.articles_written >= 3
        before = _done(archive)
        assert f"{SUARA}?page=3" in before["continuation"]
        lines = (archive / "articles.jsonl").read_text(encoding="utf-8")

        database = database_path(archive)
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        database.write_bytes(b"not a database at all\n" * 200)
        with pytest.raises(FrontierCorrupt) as refused:
            asyncio.run(Crawl(config, CrawlOptions(archive)).run())
        command = f"crawler recover --rebuild-frontier {archive}"
        assert command in str(refused.value), "the message names the way out"

        rebuilt = subprocess.run(
            [sys.executable, "-m", "crawler.cli", "recover", "--rebuild-frontier", str(archive),
             "--config", str(config_path)],
            capture_output=True, text=True, timeout=120, check=False,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert "frontier rebuilt" in rebuilt.stdout
        assert list(archive.joinpath("state").glob("frontier.sqlite.*.old")), "the damaged file is kept aside"
        after = _done(archive)
        # a continuation the crawl could not have (a 404) is done as an article page: done all the same
        assert after["article"] | after["continuation"] == before["article"] | before["continuation"]
        assert {f"{SUARA}?page=2", f"{SUARA}?page=3"} <= after["continuation"]

        hits_before = len(server.log)
        again = asyncio.run(Crawl(config, CrawlOptions(archive)).run())
        fetched = [hit.url for hit in server.log[hits_before:]]
    assert again.exit_code == 0
    assert not set(fetched) & (before["article"] | before["continuation"]), "no done article is fetched again"
    feeds = [site.feed for site in portal.sites.values()]
    assert any(url in fetched for url in feeds), "a new round: the seeds are fetched again"
    assert (archive / "articles.jsonl").read_text(encoding="utf-8") == lines, "no article written twice"
