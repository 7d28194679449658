"""Discovery: listing pages (site selectors, next link, {page} pagination and --since), RSS/Atom,
sitemaps / news sitemaps / indexes / gzip, and hostile XML (RELIABILITY I3, I4)."""

from __future__ import annotations

import gzip
import re
from datetime import date
from pathlib import Path

import pytest

from crawler.config import builtin_site
from crawler.discover import (
    Discovered,
    Limits,
    Link,
    date_from_url,
    discover,
    from_feed,
    from_listing,
    from_sitemap,
    listing_url,
    should_paginate,
    sniff,
)
from crawler.errors import DecodedTooLarge, DecodeError
from crawler.models import Page
from tests.support.portalserver import Portal, SiteShape, build_portal, fixture_pages, listing_html

FIXTURES = Path(__file__).parent / "fixtures" / "sites"


def _page(url: str, body: bytes) -> Page:
    return Page(url=url, body=body)


def test_real_kompas_index_page_yields_its_article_links() -> None:
    site = builtin_site("kompas")
    (listing,) = [p for p in fixture_pages(sites=["kompas"]) if p.article is None]
    found = from_listing(_page(listing.url, listing.body), links_css=site.listing.links)
    assert len(found.links) >= 5
    assert all(any(re.search(p, link.url) for p in site.article_urls) for link in found.links)
    assert all(link.published is not None for link in found.links)  # /YYYY/MM/DD/ in the URL


def test_links_are_absolute_canonical_and_unique() -> None:
    html = b"""<html><head><base href="http://www.example.co.id/berita/"></head><body>
      <a href="satu?utm_source=x#top">1</a> <a href="/dua">2</a> <a href="satu">1 again</a>
      <a href="javascript:void(0)">js</a> <a href="mailto:a@b.c">mail</a>
      <a class="next" href="?page=2">next</a></body></html>"""
    found = from_listing(_page("http://www.example.co.id/", html), next_css="a.next")
    assert [link.url for link in found.links] == [
        "http://www.example.co.id/berita/satu", "http://www.example.co.id/dua",
        "http://www.example.co.id/berita/?page=2",
    ]
    assert found.dropped == 2
    assert found.next_page == "http://www.example.co.id/berita/?page=2"


def test_generated_listing_matches_every_builtin_selector() -> None:
    for site_id in ("kompas", "viva", "antaranews", "republika", "detik"):
        site = builtin_site(site_id)
        shape = SiteShape(site.id, site.domains, site.listing.links, site.listing.next)
        html = listing_html(shape, ["http://a.example/read/1", "http://a.example/read/2"], None)
        found = from_listing(_page("http://a.example/", html), links_css=site.listing.links)
        assert [link.url for link in found.links] == ["http://a.example/read/1", "http://a.example/read/2"]


def test_listing_template_and_pagination_rules() -> None:
    assert listing_url("http://x/indeks?page={page}", 3) == "http://x/indeks?page=3"
    recent = Discovered("html", links=(Link("http://x/a", date(2016, 2, 23)),))
    old = Discovered("html", links=(Link("http://x/a", date(2015, 1, 1)),))
    undated = Discovered("html", links=(Link("http://x/a"),))
    assert should_paginate(recent, 1, 5, None)
    assert not should_paginate(recent, 5, 5, None)  # max_listing_pages
    assert not should_paginate(Discovered("html"), 1, 5, None)  # an empty page ends it
    assert should_paginate(recent, 1, 5, date(2016, 1, 1))
    assert not should_paginate(old, 1, 5, date(2016, 1, 1))  # --since reached
    assert should_paginate(undated, 1, 5, date(2016, 1, 1))


def test_date_from_url() -> None:
    assert date_from_url("http://nasional.kompas.com/read/2016/02/16/14382361/x") == date(2016, 2, 16)
    assert date_from_url("http://x/read/2016/13/40/x") is None
    assert date_from_url("http://x/berita/527615/slug") is None


def _portal_documents() -> tuple[dict[str, bytes], Portal]:
    site = builtin_site("kompas")
    portal = build_portal([SiteShape(site.id, site.domains, site.listing.links, site.listing.next)])
    return {url: response.body for url, response in portal.routes.items()}, portal


def test_rss_feed_entries_with_dates() -> None:
    routes, portal = _portal_documents()
    feed_url = portal.sites["kompas"].feed
    page = _page(feed_url, routes[feed_url])
    assert sniff(page) == "feed"
    found = discover(page)
    expected = [url for url, via in portal.sites["kompas"].found_via.items() if via == "feed"]
    assert [link.url for link in found.links] == expected
    assert all(link.published is not None for link in found.links)


def test_atom_feed() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
    <feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
      <entry><title>a</title><link href="http://www.example.co.id/read/1"/>
        <updated>2016-02-23T10:00:00+07:00</updated></entry></feed>"""
    found = from_feed(_page("http://www.example.co.id/atom.xml", atom))
    assert found.links == (Link("http://www.example.co.id/read/1", date(2016, 2, 23)),)


def test_sitemap_index_then_gzip_news_sitemap() -> None:
    routes, portal = _portal_documents()
    index_url = portal.sites["kompas"].sitemap_index
    index = discover(_page(index_url, routes[index_url]))
    assert index.kind == "sitemap" and index.links == ()
    (child,) = index.sitemaps
    assert routes[child][:2] == b"\x1f\x8b"
    news = discover(_page(child, routes[child]))
    expected = [url for url, via in portal.sites["kompas"].found_via.items() if via == "sitemap"]
    assert [link.url for link in news.links] == expected
    assert news.links[0].published == date(2016, 2, 16)  # news:publication_date


def test_I4_plain_sitemap_lastmod_and_count_cap() -> None:
    urls = "".join(
        f"<url><loc>http://www.example.co.id/p/{n}</loc><lastmod>2016-02-0{1 + n % 9}</lastmod></url>"
        for n in range(30)
    )
    body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()
    found = from_sitemap(_page("http://www.example.co.id/sitemap.xml", body), Limits(max_sitemap_urls=10))
    assert len(found.links) == 10
    assert found.dropped == 20 and found.notes
    assert found.links[1].published == date(2016, 2, 2)


def test_I4_gzip_sitemap_bomb_is_refused() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * (60 * 1024 * 1024) + b"</urlset>")
    assert len(bomb) < 200_000
    with pytest.raises(DecodedTooLarge, match="gzip bomb"):
        from_sitemap(_page("http://www.example.co.id/s.xml.gz", bomb))


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>&lol2;</loc></url></urlset>',
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<rss version="2.0"><channel><item><link>&xxe;</link></item></channel></rss>',
    ],
)
def test_I3_entity_declarations_are_refused(body: bytes) -> None:
    with pytest.raises(DecodeError) as caught:
        discover(_page("http://www.example.co.id/x.xml", body))
    assert caught.value.reason in ("bad_feed", "bad_sitemap")
    assert "entities" in str(caught.value)


def test_broken_sitemap_is_a_decode_error_naming_the_url() -> None:
    with pytest.raises(DecodeError, match=r"http://www\.example\.co\.id/s\.xml: not a readable sitemap"):
        from_sitemap(_page("http://www.example.co.id/s.xml", b"<urlset><url><loc>x</url>"))


def test_sniff_html_is_default() -> None:
    assert sniff(_page("http://x/", b"<!doctype html><html><body>rss</body></html>")) == "html"
    assert sniff(_page("http://x/", b"\xef\xbb\xbf<?xml version='1.0'?>\n<rss version='2.0'>")) == "feed"
