"""tempo profile: URL patterns, listing links and layout detection, checked on the real fixture
pages (tempo.co and Tempo English, en.tempo.co).

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

SITE = builtin_site("tempo")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "tempo"
LAYOUT = {"anpandu-tempo-singlepage": "2015", "anpandu-tempoen-singlepage": "en-2015"}
LISTINGS = ("anpandu-tempo-mainpage", "anpandu-tempoen-mainpage")


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _page_url(stem: str) -> str:
    return str(json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["page"]["url"])


def _tree(stem: str) -> LexborHTMLParser:
    return LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    assert _is_article(_page_url(stem)), f"{stem}: its URL should match tempo article_urls"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = _tree(stem)
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


@pytest.mark.parametrize("stem", LISTINGS)
def test_listing_links_find_the_news_articles_of_the_home_page(stem: str) -> None:
    base = _page_url(stem)
    assert SITE.listing.links
    links = {urljoin(base, a.attributes.get("href") or "") for a in _tree(stem).css(SITE.listing.links)}
    articles = {link for link in links if _is_article(link)}
    # every /read/news/ link of the page is a news article except the advertorials
    # (/inforial/read/news/); the other links are channels, columns, graphics, photos, outside sites
    news = {link for link in links if "/read/news/" in link and "/inforial/" not in link}
    assert articles == news
    assert len(articles) >= 40
    assert not _is_article(base)


@pytest.mark.parametrize(
    "url",
    [
        "http://www.tempo.co/indeks",
        "http://en.tempo.co/national",
        "http://grafis.tempo.co/read/flashgrafis/2015/11/04/732/bansos-melilit-gatot",
        "http://www.tempo.co/topik/masalah/2680/info-kesehatan",
        "http://en.tempo.co/read/beritafoto/35758/The-Tibetan-Sky-Burials",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://nasional.tempo.co/read/1234567/contoh-judul",
        "https://www.tempo.co/politik/contoh-judul-berita-2099723",
    ],
)
def test_later_article_url_forms_are_articles(url: str) -> None:
    assert _is_article(url)
