"""antaranews profile: URL patterns and layout detection checked on the real fixture pages.

Field values are checked by tests/test_fixtures.py against the expected JSON; this file checks
what the crawl relies on (which URLs are articles) and which generation each page gets.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import builtin_site
from crawler.discover import discover
from crawler.extract import Extractor
from crawler.models import Page

EXTRACTOR = Extractor()
SITE = builtin_site("antaranews")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "antaranews"
# which layout each saved article page was written in (by reading its markup)
LAYOUT = {
    "anpandu-antara-singlepage": "2015",
    "anpandu-antara-singlepage2": "2015",
    "anpandu-antara-singlepage3": "2015",
    "anpandu-antara-singlepage4": "2015-otomotif",
    "anpandu-antara-singlepage5": "2015",
}


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _page_url(stem: str) -> str:
    return str(json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["page"]["url"])


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    assert _is_article(_page_url(stem)), f"{stem}: its URL should match antaranews article_urls"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


CAPTURES = [None, datetime(2016, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)]


@pytest.mark.parametrize("stem", sorted(LAYOUT))
@pytest.mark.parametrize("fetched", CAPTURES)
def test_the_engine_reads_the_page_with_that_generation(stem: str, fetched: datetime | None) -> None:
    page = Page(url=_page_url(stem), body=(FIXTURES / f"{stem}.html").read_bytes(), fetched=fetched)
    assert EXTRACTOR.generation(page) == f"antaranews/{LAYOUT[stem]}"


def test_every_link_of_the_listing_feed_is_an_article() -> None:
    stem = "anpandu-antara-mainpage"
    page = Page(url=_page_url(stem), body=(FIXTURES / f"{stem}.html").read_bytes())
    found = discover(page, links_css=SITE.listing.links)
    assert found.kind == "feed"
    assert len(found.links) == 20
    assert [link.url for link in found.links if not _is_article(link.url)] == []
    assert not _is_article(page.url)


@pytest.mark.parametrize(
    "url",
    [
        "http://www.antaranews.com/",
        "http://www.antaranews.com/nasional/umum",
        "http://www.antaranews.com/tag/78/letusan-barujari",
        "http://www.antaranews.com/berita//?utm_source=fly",
        "https://www.facebook.com/sharer.php?u=https://www.antaranews.com/berita/527615/x",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)


def test_current_layout_urls_are_articles() -> None:
    assert _is_article("https://www.antaranews.com/berita/4123456/contoh-judul-berita")
    assert _is_article("https://jatim.antaranews.com/berita/812345/contoh-judul")
