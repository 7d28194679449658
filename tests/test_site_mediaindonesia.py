"""mediaindonesia profile: URL patterns, listing links and layout detection on the real pages.

Field values are checked by tests/test_fixtures.py against the expected JSON; this file checks
what the crawl relies on (which URLs are articles, which links a listing yields) and which
generation each page gets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import builtin_site

SITE = builtin_site("mediaindonesia")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "mediaindonesia"
# which layout each saved article page was written in (by reading its markup)
LAYOUT = {
    "fundus-MediaIndonesia_2025_10_22": "2024",
    "fundus-MediaIndonesia_2026_01_08": "2024",
}


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _tree(stem: str) -> LexborHTMLParser:
    return LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    page = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["page"]
    assert _is_article(page["url"]), f"{stem}: its URL should match mediaindonesia article_urls"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = _tree(stem)
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_listing_selector_yields_only_article_links(stem: str) -> None:
    assert SITE.listing.links is not None
    hrefs = [node.attributes.get("href") or "" for node in _tree(stem).css(SITE.listing.links)]
    assert len(hrefs) >= 5, f"{stem}: {SITE.listing.links!r} found {len(hrefs)} links"
    assert [href for href in hrefs if not _is_article(href)] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://mediaindonesia.com/",
        "https://mediaindonesia.com/ekonomi",
        "https://mediaindonesia.com/tag/kpk",
        "https://mediaindonesia.com/author/151/andhika",
        "https://api.whatsapp.com/send?text=https://mediaindonesia.com/ekonomi/822959/kpk-tak",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)
