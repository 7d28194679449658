"""viva profile: URL patterns, listing links and layout generation, checked on the real 2016
fixture pages.

Field values are checked by tests/test_fixtures.py against the expected JSON; this file checks
what the crawl relies on and the parts of the 2016 body that must stay out.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import builtin_site
from crawler.extract import Extractor
from crawler.models import Page

SITE = builtin_site("viva")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "viva"
LAYOUT = {"anpandu-viva-singlepage": "2016"}


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _fixture(stem: str) -> tuple[Page, dict[str, object] | None]:
    expected = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
    page = Page.from_file_bytes(expected["page"]["url"], (FIXTURES / f"{stem}.html").read_bytes())
    return page, expected["article"]


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    page, _ = _fixture(stem)
    assert _is_article(page.url), f"{stem}: {page.url} should match viva article_urls"


def test_listing_page_url_is_not_an_article() -> None:
    page, expected = _fixture("anpandu-viva-mainpage")
    assert expected is None
    assert not _is_article(page.url)


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"
    page, _ = _fixture(stem)
    assert Extractor([SITE]).generation(page) == f"viva/{LAYOUT[stem]}"


def test_listing_links_are_the_twenty_articles_of_the_index() -> None:
    page, _ = _fixture("anpandu-viva-mainpage")
    tree = LexborHTMLParser(page.body)
    assert SITE.listing.links
    links = [urljoin(page.url, node.attributes.get("href") or "") for node in tree.css(SITE.listing.links)]
    assert len(links) == len(set(links)) == 20
    assert [link for link in links if not _is_article(link)] == []
    # the "terpopuler" sidebar links are articles too, but not the index's own list
    sidebar = {
        urljoin(page.url, node.attributes.get("href") or "") for node in tree.css("a[href]")
    } - set(links)
    assert any(_is_article(link) for link in sidebar)


@pytest.mark.parametrize(
    "url",
    [
        "http://www.viva.co.id/indeks",
        "https://www.viva.co.id/indeks?page=2",
        "http://www.viva.co.id/indeks/life/showbiz/2016/02/16",
        "https://www.viva.co.id/tag/joey-alexander",
        "http://ads.viva.co.id/ads/www/delivery/ck.php?n=a8e50f2b&cb=1455602302",
        "http://life.viva.co.id/showbiz",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://metro.news.viva.co.id/news/read/736455-sebut-sarang-perjudian-anton-medan",
        "http://www.viva.co.id/news/read/736046-manfaat-tidur-telanjang-bagi-pria",
        "https://www.viva.co.id/berita/nasional/1780845-contoh-judul-berita",
        "https://www.viva.co.id/showbiz/gosip/1780000-contoh-judul",
    ],
)
def test_other_article_url_forms_are_articles(url: str) -> None:
    assert _is_article(url)


def test_captions_and_the_embedded_tweet_stay_out_of_the_body() -> None:
    page, _ = _fixture("anpandu-viva-singlepage")
    article = Extractor([SITE]).extract(page)
    assert article is not None
    html = page.body.decode("utf-8")
    outsiders = ("Foto: Grammy", "@TheGRAMMYs", "A standing ovation for 12-year-old", "KOMENTARI ARTIKEL INI")
    for outside in outsiders:
        assert outside in html
        assert outside not in article.body, f"{outside!r} reached the body"
    assert article.body.startswith("VIVA.co.id - Pianis cilik Indonesia")
    assert article.body.endswith('kata Portnow.')
