"""mediaindonesia profile: URL patterns, listing links and layout detection on the real pages.

Field values are checked by tests/test_fixtures.py against the expected JSON; this file checks
what the crawl relies on (which URLs are articles, which links a listing yields) and which
generation each page gets.
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
SITE = builtin_site("mediaindonesia")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "mediaindonesia"
# which layout each saved article page was written in (by reading its markup)
LAYOUT = {
    "fundus-MediaIndonesia_2025_10_22": "2024",
    "fundus-MediaIndonesia_2026_01_08": "2024",
}


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _page_url(stem: str) -> str:
    return str(json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["page"]["url"])


def _tree(stem: str) -> LexborHTMLParser:
    return LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    assert _is_article(_page_url(stem)), f"{stem}: its URL should match mediaindonesia article_urls"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = _tree(stem)
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


CAPTURES = [None, datetime(2016, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)]


@pytest.mark.parametrize("stem", sorted(LAYOUT))
@pytest.mark.parametrize("fetched", CAPTURES)
def test_the_engine_reads_the_page_with_that_generation(stem: str, fetched: datetime | None) -> None:
    page = Page(url=_page_url(stem), body=(FIXTURES / f"{stem}.html").read_bytes(), fetched=fetched)
    assert EXTRACTOR.generation(page) == f"mediaindonesia/{LAYOUT[stem]}"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_listing_selector_yields_only_article_links(stem: str) -> None:
    # no listing page was saved; the home page's ul.list-3 lists also sit on every article page
    page = Page(url="https://mediaindonesia.com/", body=(FIXTURES / f"{stem}.html").read_bytes())
    found = discover(page, links_css=SITE.listing.links)
    assert found.kind == "html"
    assert len(found.links) >= 5, f"{stem}: {SITE.listing.links!r} found {len(found.links)} links"
    assert [link.url for link in found.links if not _is_article(link.url)] == []


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
