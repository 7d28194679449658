"""Fault-matrix row R2 (docs/fault-matrix.md): a chaos portal, one loopback site where every
page carries a different malformed thing, crawled by the real ``crawler`` process twice.

The first run ends by itself with exit 3 and no traceback, every good article extracted and
every bad URL settled with a named reason; the second run (a new round) fetches no article
again, writes no article line and adds no frontier row.
"""

from __future__ import annotations

import gzip
import random
import subprocess
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.support import matrixkit as mk
from tests.support.portalserver import Fault, PortalServer, Response

HOST = "chaos.example"
MAX_DECODED = 1 << 20


def _url(path: str) -> str:
    return f"http://{HOST}{path}"


def _html(title: str, extra_head: str = "") -> bytes:
    return mk.article_html(title, extra_head=extra_head)


# path → (response, what the first run must leave in the frontier)
GOOD = {f"/read/good-{n}": Response(200, _html(f"Berita baik {n}")) for n in range(4)}
LATIN1 = ("<html><head><meta charset='iso-8859-1'>"
          "<meta property='article:published_time' content='2016-02-23T10:00:00+07:00'>"
          "<title>Caf\u00e9</title></head><body><h1>Caf\u00e9 di Jakarta</h1><div class='body'>"
          f"<p>{mk.PROSE} Caf\u00e9 \u00e0 la mode.</p><p>{mk.PROSE}</p></div></body></html>")
EXTRACTED = {
    **GOOD,
    # Latin-1 bytes that only the meta tag names (charset chaos, B8)
    "/read/charset": Response(200, LATIN1.encode("latin-1")),
    # an interim 103 Early Hints before the page (K7)
    "/read/early-hints": Response(200, _html("Early hints"), early_hints=("</a.css>; rel=preload",)),
    # 429 with a Retry-After in a non-ASCII digit, then the page (K5): set as a fault below
    "/read/retry-after": Response(200, _html("Retry-After")),
    # a feed entry whose date lands in year 10000 in UTC (K3)
    "/read/feed-date": Response(200, _html("Tanggal aneh")),
    # a sitemap entry next to a malformed <loc> (K1)
    "/read/from-sitemap": Response(200, _html("Dari sitemap")),
}
BAD: dict[str, tuple[Response | None, str]] = {
    "/read/redirect": (None, "failed:bad_redirect"),  # Location: http://[x]/ (K4), a fault below
    "/read/gzip-lies": (Response(200, _html("Bohong"), (
        ("Content-Type", "text/html"), ("Content-Encoding", "gzip"))), "failed:bad_encoding"),
    "/read/gzip-bomb": (Response(200, gzip.compress(b"\0" * (8 * MAX_DECODED)), (
        ("Content-Type", "text/html"), ("Content-Encoding", "gzip"))), "failed:decoded_too_large"),
    "/read/header-bomb": (Response(200, _html("Header"), (("Content-Type", "text/html"),
                                                          ("X-Junk", "j" * 200_000))), "failed:protocol"),
    "/read/empty": (Response(200, b""), "failed:extract_empty"),
    "/read/binary": (Response(200, b"\x89PNG\r\n\x1a\n" + random.Random(7).randbytes(4000)),
                     "done:non_article"),
    "/read/missing": (None, "done:http_404"),
    "/read/private/rahasia": (Response(200, _html("Rahasia")), "skipped:robots"),
}
# robots.txt quirks: CRLF line ends, comments, unknown directives, a rule for another agent
ROBOTS = (b"# chaos\r\nUser-agent: otherbot\r\nDisallow: /\r\n\r\nUser-agent: *\r\nFoo: bar\r\n"
          b"Disallow: /read/private # no\r\nAllow: /read/\r\nSitemap: http://[::1/x\r\n")
BAD_HOSTS = (f"xn--zz.{HOST}", f"a..{HOST}", f"{'a' * 64}.{HOST}")


def _routes() -> dict[str, Response]:
    links = [*EXTRACTED, *BAD]
    listing = "".join(f'<a class="item" href="{path}">x</a>' for path in links if path not in (
        "/read/feed-date", "/read/from-sitemap"))
    listing += "".join(f'<a class="item" href="http://{host}/read/good-0">x</a>' for host in BAD_HOSTS)
    listing += '<a class="item" href="http://[::1/x">x</a><a class="item" href="javascript:void(0)">x</a>'
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><link>{_url('/read/feed-date')}</link><pubDate>9999-12-31T23:59:00-05:00</pubDate></item>"
        "<item><link>http://[::1/x</link></item></channel></rss>"
    ).encode()
    sitemap = (
        '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{_url('/read/from-sitemap')}</loc><lastmod>0001-01-01T00:00:00+01:00</lastmod></url>"
        f"<url><loc>http://[::1/x</loc></url><url><loc>http://a..{HOST}/read/x</loc></url></urlset>"
    ).encode()
    routes = {
        _url("/indeks?page=1"): Response(200, f'<html><head><base href="http://[x]/"></head><body>{listing}'
                                              "</body></html>".encode()),
        _url("/indeks?page=2"): Response(200, b"<html><body><p>kosong</p></body></html>"),
        _url("/rss"): Response(200, feed, (("Content-Type", "application/rss+xml"),)),
        _url("/sitemap.xml"): Response(200, sitemap, (("Content-Type", "application/xml"),)),
        _url("/robots.txt"): Response(200, ROBOTS, (("Content-Type", "text/plain"),)),
    }
    routes.update({_url(path): response for path, response in EXTRACTED.items()})
    routes.update({_url(path): response for path, (response, _) in BAD.items() if response is not None})
    return routes


@dataclass(frozen=True)
class Chaos:
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    rows_first: dict[str, str]
    rows_second: dict[str, str]
    articles_first: bytes
    articles_second: bytes
    hits_first: list[str]
    hits_second: list[str]


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Chaos:
    tmp = tmp_path_factory.mktemp("chaos")
    archive = tmp / "archive"
    site = mk.site_yaml("chaos", [HOST], article_urls=[rf"^http://[^/]*{HOST}/read/"],
                        listings=[_url("/indeks?page={page}")], feeds=[_url("/rss")],
                        sitemaps=[_url("/sitemap.xml")])
    with PortalServer(_routes()) as server:
        server.fault(_url("/read/redirect"), Fault.redirect("http://[x]/"))
        server.fault(_url("/read/retry-after"), Fault(fail_first=1, fail_status=429, retry_after="\u00b2"))
        config = tmp / "config.yaml"
        config.write_text(mk.config_text(
            archive, site, allow=(f"{server.host}/32",), proxy=server.url, max_decoded_bytes=MAX_DECODED,
            timeouts_s={"connect": 5, "read": 5, "total": 10},
        ))
        first = mk.run_cli(mk.crawl_command(config, archive), timeout=120)
        rows_first = {url: mk.state(row) for url, row in mk.frontier_rows(archive).items()}
        articles_first = (archive / "articles.jsonl").read_bytes()
        hits_first = [hit.url for hit in server.log]
        second = mk.run_cli(mk.crawl_command(config, archive), timeout=120)
        hits_second = [hit.url for hit in server.log[len(hits_first):]]
    rows_second = {url: mk.state(row) for url, row in mk.frontier_rows(archive).items()}
    return Chaos(first, second, rows_first, rows_second, articles_first,
                 (archive / "articles.jsonl").read_bytes(), hits_first, hits_second)


def test_R2_chaos_portal_crawl_ends_by_itself_exit_3_without_a_traceback(chaos: Chaos) -> None:
    for run in (chaos.first, chaos.second):
        mk.assert_no_traceback(run.stderr)
    assert chaos.first.returncode == 3, chaos.first.stderr[-3000:]
    # exit 3 speaks of this run (README "Exit codes"): the second run met no new failure
    assert chaos.second.returncode == 0, chaos.second.stderr[-3000:]


def test_R2_chaos_portal_every_good_article_is_extracted_once(chaos: Chaos) -> None:
    lines = [mk.json.loads(line) for line in chaos.articles_first.decode().splitlines()]
    assert Counter(a["url"] for a in lines) == {_url(path): 1 for path in EXTRACTED}
    charset = next(a for a in lines if a["url"] == _url("/read/charset"))
    assert charset["title"] == "Caf\u00e9 di Jakarta"


def test_R2_chaos_portal_every_bad_url_has_a_named_reason(chaos: Chaos) -> None:
    rows = chaos.rows_first
    expected = {_url(path): want for path, (_, want) in BAD.items()}
    assert {url: rows.get(url) for url in expected} == expected
    assert all(state == "done" for url, state in rows.items() if url not in {_url(p) for p in BAD})
    assert all(url.startswith(f"http://{HOST}/") for url in rows)  # no malformed or IDNA-broken host
    assert chaos.hits_first.count(_url("/read/private/rahasia")) == 0
    assert "malformed entries dropped" in chaos.first.stderr


def test_R2_chaos_portal_second_run_does_nothing_new(chaos: Chaos) -> None:
    assert chaos.articles_second == chaos.articles_first
    assert chaos.rows_second == chaos.rows_first
    articles = {_url(path) for path in [*EXTRACTED, *BAD]}
    assert not articles & set(chaos.hits_second), sorted(articles & set(chaos.hits_second))
