"""The fault matrix (shared/RELIABILITY.md) for bad files and documents through the crawl and
replay: B8 charset chaos, I3 XML entity attacks, I4 sitemap loops, fan-out and bombs (one
in-process crawl of a hostile ``FaultServer``, with the canary on 127.0.0.2 that must never be
contacted), I5 broken JSON-LD and the declarative fallback order, I7 extractor generations
picked by capture date in ``replay``.

Other tests of these rows live beside the code they exercise (each named by its row id):
``test_hostile.py`` (I1, I2), ``test_discover.py`` (I3, I4 on one document), ``test_dates.py``
(I6), ``test_extract_api.py`` (B8 decoding order, I7 on one page), ``test_warc_bad.py`` (H).
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.config import Site
from crawler.extract import Extractor
from crawler.extract.charset import choose_encoding
from crawler.frontier import Status
from crawler.models import Page
from crawler.replay import ReplayOptions, replay
from crawler.warc.verify import verify_file
from tests.support import matrixkit as mk
from tests.support import warcfactory as wf
from tests.support.faultserver import FaultServer, respond

HOSTILE = Path(__file__).parent / "fixtures" / "hostile"
XML = (("Content-Type", "application/xml"),)
HTML = (("Content-Type", "text/html; charset=utf-8"),)
MAX_SITEMAP_URLS = 20
MAX_SITEMAP_BYTES = 8_000_000  # the 100 000-URL fan-out fits, the bomb does not
MAX_SITEMAP_DEPTH = 2
FAN_OUT = 100_000

# B8: each charset fixture and the rule of the documented order (BOM > header > meta > sniff)
# that must decide its encoding
CHARSET_CASES = {
    "bom-beats-meta": "bom",
    "utf16le-bom": "bom",
    "charset-header-utf8-body-latin1": "header",
    "nul-bytes": "header",
    "meta-windows-1252": "meta",
    "invalid-utf8-no-declaration": "sniff",
}


def _spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = json.loads((HOSTILE / f"{name}.json").read_text(encoding="utf-8"))
    return spec


def _fixture_path(name: str) -> str:
    url: str = _spec(name)["page"]["url"]
    return "/" + url.split("/", 3)[3]


# ---------------------------------------------------------------- I3: XML entity attacks


def _rss(doctype: str, link: str = "http://127.0.0.1/berita/none") -> bytes:
    return (f'<?xml version="1.0"?>{doctype}<rss version="2.0"><channel><title>t</title>'
            f"<item><title>x</title><link>{link}</link></item></channel></rss>").encode()


def _urlset(doctype: str, loc: str = "http://127.0.0.1/berita/none") -> bytes:
    return (f'<?xml version="1.0"?>{doctype}<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"<url><loc>{loc}</loc></url></urlset>").encode()


LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "' + "&lol;" * 10 + '">'
          + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(2, 10)) + "]>")


def _entity_documents(marker: Path, canary: str) -> dict[str, bytes]:
    """path → a feed or sitemap that tries an entity attack (all must be refused as bad_feed)."""
    return {
        "/I3/feed-laughs.xml": _rss(LAUGHS, "&lol9;"),
        "/I3/feed-passwd.xml": _rss('<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
        "/I3/feed-marker.xml": _rss(f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{marker}">]>', "&xxe;"),
        "/I3/feed-canary-entity.xml": _rss(f'<!DOCTYPE x [<!ENTITY e SYSTEM "{canary}/entity">]>', "&e;"),
        "/I3/feed-canary-parameter.xml": _rss(f'<!DOCTYPE x [<!ENTITY % p SYSTEM "{canary}/param"> %p;]>'),
        "/I3/sitemap-laughs.xml": _urlset(LAUGHS, "&lol9;"),
        "/I3/sitemap-marker.xml": _urlset(f'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{marker}">]>', "&xxe;"),
    }


def _external_dtd_documents(canary: str) -> dict[str, bytes]:
    """path → a feed or sitemap naming an external DTD on the canary (no entity declared)."""
    return {
        "/I3/feed-canary-dtd.xml": _rss(f'<!DOCTYPE rss SYSTEM "{canary}/feed.dtd">'),
        "/I3/sitemap-canary-dtd.xml": _urlset(f'<!DOCTYPE urlset SYSTEM "{canary}/sitemap.dtd">'),
    }


# ---------------------------------------------------------------- I4: sitemap loops, fan-out, bombs


def _index(origin: str, children: list[str]) -> bytes:
    items = "".join(f"<sitemap><loc>{origin}{child}</loc></sitemap>" for child in children)
    return (f'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{items}</sitemapindex>").encode()


def _sitemap_documents(origin: str) -> dict[str, bytes]:
    fan = "".join(f"<url><loc>{origin}/berita/fan/{n}</loc></url>" for n in range(FAN_OUT))
    documents = {
        "/I4/loop.xml": _index(origin, ["/I4/loop.xml", "/I4/depth-1.xml"]),  # lists itself
        "/I4/fan-out.xml": (f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{fan}'
                            "</urlset>").encode(),
        "/I4/bomb.xml.gz": gzip.compress(b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                                         + b" " * (8 * MAX_SITEMAP_BYTES) + b"</urlset>", mtime=0),
    }
    for depth in range(1, 5):  # an index chain deeper than max_sitemap_depth
        documents[f"/I4/depth-{depth}.xml"] = _index(origin, [f"/I4/depth-{depth + 1}.xml"])
    return documents


# ---------------------------------------------------------------- the crawl


@dataclass(frozen=True)
class Files:
    out: mk.CrawlOutcome
    server: FaultServer
    canary: FaultServer
    marker: Path
    marker_atime: float  # before the crawl (pushed behind the mtime, so any read moves it)
    atime_works: bool  # whether this filesystem records reads at all
    entity_paths: list[str]
    dtd_paths: list[str]

    def state(self, path: str) -> str:
        return self.out.state(self.server.url(path))

    def hits(self, path: str) -> int:
        return len(self.server.hits_for(path))


def _age_atime(path: Path) -> float:
    """Set the atime an hour behind the mtime: a read then moves it (relatime and strictatime)."""
    mtime = path.stat().st_mtime
    os.utime(path, (mtime - 3600, mtime))
    return path.stat().st_atime


def _atime_works(tmp: Path) -> bool:
    probe = tmp / "atime-probe"
    probe.write_text("probe")
    before = _age_atime(probe)
    probe.read_text()
    return probe.stat().st_atime != before


async def _files_scenario(tmp: Path) -> Files:
    archive = tmp / "files"
    marker = tmp / "marker.txt"
    marker.write_text("I3-MARKER-the-crawler-must-never-read-this\n")
    atime_works = _atime_works(tmp)
    marker_atime = _age_atime(marker)
    async with FaultServer() as server, FaultServer(host="127.0.0.2") as canary:
        for name in CHARSET_CASES:
            ctype = _spec(name)["page"]["content_type"]
            server.route(_fixture_path(name), respond(200, (HOSTILE / f"{name}.html").read_bytes(),
                                                      (("Content-Type", ctype),) if ctype else ()))
        server.route("/B8/listing", respond(200, mk.listing_html(server.url(_fixture_path(name))
                                                                 for name in CHARSET_CASES), HTML))
        entity = _entity_documents(marker, canary.origin)
        dtd = _external_dtd_documents(canary.origin)
        sitemaps = _sitemap_documents(server.origin)
        for path, body in {**entity, **dtd, **sitemaps}.items():
            server.route(path, respond(200, body, XML))
        feeds = [server.url(path) for path in [*entity, *dtd] if "/feed-" in path]
        maps = [server.url(path) for path in [*entity, *dtd] if "/sitemap-" in path]
        maps += [server.url(path) for path in ("/I4/loop.xml", "/I4/fan-out.xml", "/I4/bomb.xml.gz")]
        site = mk.site_yaml("t", ["127.0.0.1"], article_urls=[r"^http://127\.0\.0\.1:\d+/berita/"],
                            listings=[server.url("/B8/listing")], feeds=feeds, sitemaps=maps,
                            generations=[])
        config = mk.config_text(archive, site, max_sitemap_urls=MAX_SITEMAP_URLS,
                                max_sitemap_bytes=MAX_SITEMAP_BYTES, max_sitemap_depth=MAX_SITEMAP_DEPTH)
        out = await mk.crawl_in_process(config, archive)
    return Files(out, server, canary, marker, marker_atime, atime_works, list(entity), list(dtd))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    return asyncio.run(_files_scenario(tmp_path_factory.mktemp("files")))


def test_files_crawl_settles_every_url_and_its_warcs_verify(files: Files) -> None:
    unsettled = {url: mk.state(row) for url, row in files.out.rows.items()
                 if row.status not in (Status.DONE, Status.FAILED, Status.SKIPPED)}
    assert unsettled == {}
    assert files.out.summary.warcs and not list(files.out.archive.glob("*.open"))
    assert all(verify_file(path).ok for path in files.out.summary.warcs)


# ---------------------------------------------------------------- B8


@pytest.mark.parametrize("name", list(CHARSET_CASES))
def test_B8_charset_chaos_through_the_crawl_gives_the_expected_json(files: Files, name: str) -> None:
    spec = _spec(name)
    url = files.server.url(_fixture_path(name))
    assert files.out.state(url) == "done"
    (record,) = [r for r in files.out.captures(url) if r.type == "response"]
    choice = choose_encoding(record.payload, record.http_headers.get("Content-Type"))
    assert choice.source == CHARSET_CASES[name], f"{name}: decided by {choice.source} ({choice.encoding})"
    article = files.out.article(url)
    assert article is not None, f"{name}: no article"
    for key, value in spec["article"].items():
        assert article[key] == value, f"{name}: {key}: expected {value!r}, got {article[key]!r}"
    for text in spec.get("body_contains", []):
        assert text in article["body"]
    assert "\x00" not in article["body"] and "\x00" not in article["title"]


# ---------------------------------------------------------------- I3


def test_I3_entity_attacks_fail_bad_feed_without_expansion_file_read_or_canary_hit(files: Files) -> None:
    for path in files.entity_paths:
        assert files.state(path) == "failed:bad_feed", path
        assert any(path in line and "declares XML entities" in line for line in files.out.log), path
    assert files.canary.connections == 0
    assert not [url for url in files.out.rows if "lol" in url or "I3-MARKER" in url or "root:" in url]
    ours = [r for r in files.out.records if r.type in ("metadata", "resource")]
    written = [json.dumps(files.out.articles), *files.out.log, *(r.payload.decode("latin-1") for r in ours)]
    assert not [text for text in written if "I3-MARKER" in text or "root:x:0:0" in text]
    if files.atime_works:  # the marker file was never opened (its atime would have moved)
        assert files.marker.stat().st_atime == files.marker_atime


def test_I3_an_external_dtd_on_the_canary_is_never_fetched(files: Files) -> None:
    for path in files.dtd_paths:
        assert files.state(path) == "done", path  # no entity declared: the document is read, the DTD not
    assert files.canary.connections == 0 and files.canary.hits == []


# ---------------------------------------------------------------- I4


def test_I4_a_sitemap_index_listing_itself_is_fetched_once(files: Files) -> None:
    assert files.state("/I4/loop.xml") == "done"
    assert files.hits("/I4/loop.xml") == 1


def test_I4_index_chains_stop_at_max_sitemap_depth_and_say_so(files: Files) -> None:
    for depth in range(1, MAX_SITEMAP_DEPTH + 1):
        assert files.hits(f"/I4/depth-{depth}.xml") == 1
    assert files.hits(f"/I4/depth-{MAX_SITEMAP_DEPTH + 1}.xml") == 0
    last = files.server.url(f"/I4/depth-{MAX_SITEMAP_DEPTH}.xml")
    assert any(last in line and f"beyond max_sitemap_depth={MAX_SITEMAP_DEPTH}" in line
               for line in files.out.log)


def test_I4_fan_out_is_cut_at_max_sitemap_urls_and_logged(files: Files) -> None:
    assert files.state("/I4/fan-out.xml") == "done"
    fanned = [url for url in files.out.rows if "/berita/fan/" in url]
    assert len(fanned) == MAX_SITEMAP_URLS
    assert len(files.server.hits_for("/berita/fan/*")) == MAX_SITEMAP_URLS
    note = f"{FAN_OUT - MAX_SITEMAP_URLS} entries above max_sitemap_urls={MAX_SITEMAP_URLS} ignored"
    assert any(note in line for line in files.out.log)


def test_I4_gzip_sitemap_bomb_is_refused_at_the_byte_cap(files: Files) -> None:
    assert files.state("/I4/bomb.xml.gz") == "failed:decoded_too_large"
    bomb = files.server.url("/I4/bomb.xml.gz")
    assert any(bomb in line and f"inflates past {MAX_SITEMAP_BYTES} bytes" in line for line in files.out.log)
    (record,) = [r for r in files.out.captures(bomb) if r.type == "response"]
    assert len(record.payload) < MAX_SITEMAP_BYTES // 50  # the small compressed bytes are the capture


# ---------------------------------------------------------------- I5: broken JSON-LD, fallback order

FALLBACK_SITE = Site.model_validate({
    "id": "urut", "name": "Urut", "domains": ["urut.example"], "article_urls": [r"^https://urut\.example/b/"],
    "generations": [{
        "id": "v1", "body": ["css:div.isi"],
        "title": ["jsonld:headline", "meta:og:title", "css:h1"],
        "authors": ["jsonld:author.name", "meta:author", "css:.penulis"],
        "published": ["jsonld:datePublished", "meta:article:published_time", "css:time@datetime"],
    }],
})
META = ("<meta property='og:title' content='Judul Meta'><meta name='author' content='Budi Santoso'>"
        "<meta property='article:published_time' content='2024-05-30T08:00:00+07:00'>")
CSS = ("<h1>Judul CSS</h1><span class='penulis'>Rina Wulandari</span>"
       "<time datetime='2024-05-30T09:00:00+07:00'>30 Mei</time>")
GOOD_LD = ('{"@type": "NewsArticle", "headline": "Judul LD", "author": {"name": "Dinda Rachmawati"}, '
           '"datePublished": "2024-05-30T07:00:00+07:00"}')
FROM_LD = {"title": "Judul LD", "authors": ["Dinda Rachmawati"], "published": "2024-05-30T07:00:00+07:00"}
FROM_META = {"title": "Judul Meta", "authors": ["Budi Santoso"], "published": "2024-05-30T08:00:00+07:00"}
FROM_CSS = {"title": "Judul CSS", "authors": ["Rina Wulandari"], "published": "2024-05-30T09:00:00+07:00"}
# case → (JSON-LD blocks, has meta, expected fields)
FALLBACK_CASES: dict[str, tuple[list[str], bool, dict[str, Any]]] = {
    "valid-jsonld-wins": ([GOOD_LD], True, FROM_LD),
    "invalid-json-falls-to-meta": (['{"@type": "NewsArticle", "headline": "Judul LD", "author": '], True,
                                   FROM_META),
    "graph-array-is-searched": (['{"@context": "https://schema.org", "@graph": [[{"@type": "WebPage"}], '
                                 + GOOD_LD + "]}"], True, FROM_LD),
    "wrong-types-fall-to-meta": (['{"@type": "NewsArticle", "headline": {"x": 1}, "author": 7, '
                                  '"datePublished": [null, {"a": 1}]}'], True, FROM_META),
    "top-level-array-of-junk": (['[1, "x", null, {"@type": 5}]', GOOD_LD], True, FROM_LD),
    "no-jsonld-no-meta-falls-to-css": (['{"@type": "NewsArticle", "headline": '], False, FROM_CSS),
}


@pytest.mark.parametrize("case", list(FALLBACK_CASES))
def test_I5_broken_json_ld_falls_back_jsonld_then_meta_then_css(case: str) -> None:
    blocks, with_meta, expected = FALLBACK_CASES[case]
    scripts = "".join(f"<script type='application/ld+json'>{block}</script>" for block in blocks)
    html = (f"<html><head><title>T</title>{scripts}{META if with_meta else ''}</head><body>{CSS}"
            f"<div class='isi'><p>{mk.PROSE}</p></div></body></html>")
    page = Page(url="https://urut.example/b/1", body=html.encode())
    article = Extractor([FALLBACK_SITE]).extract(page)
    assert article is not None
    got = article.to_dict()
    assert {key: got[key] for key in expected} == expected


# ---------------------------------------------------------------- I7: generations by capture date in replay


def test_I7_replay_picks_the_generation_valid_at_the_capture_date(tmp_path: Path) -> None:
    both = (f"<html><body><h1 class='lama'>Judul Lama</h1><div class='lama'><p>{mk.PROSE}</p></div>"
            f"<h1 class='baru'>Judul Baru</h1><div class='baru'><p>{mk.PROSE}</p><p>{{n}}</p></div>"
            "</body></html>")
    generations = [
        {"id": "old", "valid_until": "2019-01-01", "title": ["css:h1.lama"], "body": ["css:div.lama"]},
        {"id": "new", "title": ["css:h1.baru"], "body": ["css:div.baru"]},
    ]
    site = mk.site_yaml("contoh", ["contoh.example"], article_urls=[r"^https://contoh\.example/b/"],
                        generations=generations)
    config = tmp_path / "config.yaml"
    config.write_text(mk.config_text(tmp_path / "unused", site))
    moments = {  # capture date → the generation that must read it
        datetime(2018, 12, 31, 23, 59, tzinfo=UTC): "old",
        datetime(2019, 1, 1, 0, 0, 1, tzinfo=UTC): "new",
        datetime(2024, 5, 30, tzinfo=UTC): "new",
    }
    exchanges = [wf.exchange(f"https://contoh.example/b/{n}", both.replace("{n}", f"Nomor {n}.").encode(),
                             fetched=moment) for n, moment in enumerate(moments)]
    warcs, _ = wf.write_warcs(tmp_path, exchanges)
    out = io.StringIO()
    summary = replay(warcs, out, ReplayOptions(config_path=str(config)), workers=1)
    articles = {a["url"]: a for a in map(json.loads, out.getvalue().splitlines())}
    assert summary.articles == len(moments)
    for n, generation in enumerate(moments.values()):
        article = articles[f"https://contoh.example/b/{n}"]
        old = generation == "old"
        assert article["title"] == ("Judul Lama" if old else "Judul Baru"), (n, generation)
        assert (f"Nomor {n}." in article["body"]) is not old  # only the new layout's body has it
