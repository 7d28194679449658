"""okezone profile: URL patterns, listing links and layout detection checked on the real fixture
pages.

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

SITE = builtin_site("okezone")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "okezone"
LAYOUT = {"anpandu-okezone-singlepage": "2015", "anpandu-okezone-singlepage2": "2017"}
LISTING = "anpandu-okezone-mainpage"


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _page_url(stem: str) -> str:
    return str(json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["page"]["url"])


def _tree(stem: str) -> LexborHTMLParser:
    return LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    assert _is_article(_page_url(stem)), f"{stem}: its URL should match okezone article_urls"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = _tree(stem)
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


def test_listing_links_find_every_article_of_the_home_page() -> None:
    base = _page_url(LISTING)
    tree = _tree(LISTING)
    assert SITE.listing.links
    every = {urljoin(base, a.attributes.get("href") or "") for a in tree.css("a[href]")}
    chosen = {urljoin(base, a.attributes.get("href") or "") for a in tree.css(SITE.listing.links)}
    assert {u for u in every if _is_article(u)} == {u for u in chosen if _is_article(u)}
    assert len({u for u in chosen if _is_article(u)}) >= 20
    assert not _is_article(base)


@pytest.mark.parametrize(
    "url",
    [
        "http://www.okezone.com/",
        "http://lifestyle.okezone.com/health",
        "http://lifestyle.okezone.com/topic/1033/diabetes",
        "http://lifestyle.okezone.com/feedread/2015/11/05/481/1244264/sering-depresi-berat",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)
