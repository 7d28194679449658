"""liputan6 profile: URL patterns, listing links and layout detection checked on the real
fixture pages.

Field values are checked by tests/test_fixtures.py against the expected JSON.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import builtin_site

SITE = builtin_site("liputan6")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "liputan6"
LAYOUT = {
    "anpandu-liputan6-singlepage": "2016",
    "anpandu-liputan6-singlepage2": "2016",
    "anpandu-liputan6-singlepage3": "2016",
}
LISTING = "anpandu-liputan6-mainpage"


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _page_url(stem: str) -> str:
    return str(json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["page"]["url"])


def _tree(stem: str) -> LexborHTMLParser:
    return LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    assert _is_article(_page_url(stem)), f"{stem}: its URL should match liputan6 article_urls"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = _tree(stem)
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


def test_listing_links_are_the_rows_of_the_index() -> None:
    base = _page_url(LISTING)
    assert SITE.listing.links
    rows = [urljoin(base, a.attributes.get("href") or "") for a in _tree(LISTING).css(SITE.listing.links)]
    assert len(rows) == len(_tree(LISTING).css("article.articles--rows--item"))
    # the rows that are not articles are video clips
    assert {urljoin(row, "/") for row in rows if not _is_article(row)} <= {"http://video.liputan6.com/"}
    assert sum(map(_is_article, rows)) >= len(rows) // 2
    assert not _is_article(base)


def test_next_listing_page_is_found() -> None:
    assert SITE.listing.next
    nxt = _tree(LISTING).css_first(SITE.listing.next)
    assert nxt is not None and nxt.attributes.get("href") == "http://www.liputan6.com/indeks?page=2"


@pytest.mark.parametrize(
    "url",
    [
        "http://www.liputan6.com/indeks/2016/02/16",
        "http://tekno.liputan6.com/kategori/telko",
        "http://www.liputan6.com/tag/media-visit",
        "http://photo.liputan6.com/bisnis/energi-dan-mineral",
        "http://video.liputan6.com/news/video-jembatan-ambruk-siswa-mamuju-harus-berenang-2437222",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)


def test_current_article_url_form_is_an_article() -> None:
    assert _is_article("https://www.liputan6.com/news/read/5123456/contoh-judul-berita")
