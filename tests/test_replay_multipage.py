"""Multi-page articles: a loopback crawl fetches the rest of each article (``instead`` a whole
view, or ``also`` the next pages); replay finds the same pages in the archive and writes the
same records, also when a tiny rollover puts an article's pages in different WARC files.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections import Counter
from pathlib import Path

import pytest

from crawler.config import load_config
from crawler.pipeline import Crawl, CrawlOptions
from crawler.replay import ReplayOptions, replay
from crawler.warc.verify import verify_file
from tests.support import warcfactory as wf
from tests.support.portalserver import PortalServer, Response

pytestmark = pytest.mark.slow

SUARA = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"
KOMPAS = ("http://nasional.kompas.com/read/2016/02/16/14382361/"
          "menteri-yuddy-ancam-pns-yang-rankingnya-terendah-akan-dipangkas")
HTML = (("Content-Type", "text/html; charset=utf-8"),)


def _page(name: str) -> bytes:
    return (wf.SITES / f"{name}.html").read_bytes()


def _routes() -> dict[str, Response]:
    first = _page("suara/synthetic-jsonld").replace(
        b"</head>", f'<link rel="next" href="{SUARA}?page=2"></head>'.encode(), 1)
    second = _page("suara/synthetic-jsonld").replace(
        b"</head>", f'<link rel="next" href="{SUARA}?page=3"></head>'.encode(), 1)
    third = _page("suara/synthetic-amp-2017-06-21")
    detik = next(p for p in wf.fixture_pages(["detik"]) if p.is_article)
    return {
        SUARA: Response(body=first, headers=HTML),
        f"{SUARA}?page=2": Response(body=second, headers=HTML),
        f"{SUARA}?page=3": Response(body=third, headers=HTML),
        KOMPAS: Response(body=_page("kompas/synthetic-current-paging-1"), headers=HTML),
        f"{KOMPAS}?page=all": Response(body=_page("kompas/synthetic-current-paging-2"), headers=HTML),
        detik.url: Response(body=detik.body, headers=HTML),  # its ?single=1 view is a 404: the page alone
    }


def _config(server: PortalServer, archive: Path, rollover_bytes: int) -> str:
    return json.dumps({
        "crawl": {"proxy": server.url, "interval_s": 0.01, "concurrency": 2, "max_concurrency_per_host": 1,
                  "timeouts_s": {"connect": 5, "read": 5, "total": 10},
                  "retry": {"attempts": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.05}},
        "network": {"allow_private_addresses": [f"{server.host}/32"]},
        "archive": {"dir": str(archive), "rollover_bytes": rollover_bytes},
        "sites": {"suara": {"enabled": True}, "kompas": {"enabled": True}, "detik": {"enabled": True}},
    })


@pytest.fixture(scope="module", params=[10_000_000, 15_000], ids=["one-file", "split-files"])
def crawl(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The crawl's archive and config; with the tiny rollover an article's pages tend to land in
    different files (test_replay.py pins the cross-file cases down exactly)."""
    root = tmp_path_factory.mktemp("multipage")
    archive = root / "archive"
    routes = _routes()
    with PortalServer(routes) as server:
        config = root / "config.yaml"
        config.write_text(_config(server, archive, request.param), encoding="utf-8")
        seeds = (SUARA, KOMPAS, next(url for url in routes if "detik" in url))
        asyncio.run(Crawl(load_config(config), CrawlOptions(archive, seeds=seeds)).run())
    return archive, config


def test_replay_joins_multi_page_articles_like_the_crawl(crawl: tuple[Path, Path]) -> None:
    archive, config = crawl
    expected = [json.loads(line) for line in (archive / "articles.jsonl").read_text("utf-8").splitlines()]
    by_url = {article["url"]: article for article in expected}
    assert by_url[SUARA]["pages"] == 3, "the crawl joined the next pages"
    assert f"{KOMPAS}?page=all" in by_url, "the crawl took the whole view instead"
    assert len(expected) == 3
    warcs = sorted(archive.rglob("*.warc.gz"))
    assert all(verify_file(path).ok for path in warcs)
    out = io.StringIO()
    damage: list[str] = []
    replay([archive], out, ReplayOptions(config_path=str(config)), workers=2, on_damage=damage.append)
    got = [json.loads(line) for line in out.getvalue().splitlines()]
    assert not damage
    as_text = [json.dumps(a, sort_keys=True, ensure_ascii=False) for a in got]
    want_text = [json.dumps(a, sort_keys=True, ensure_ascii=False) for a in expected]
    assert Counter(as_text) == Counter(want_text), (sorted(a["url"] for a in got), sorted(by_url))
