"""detik profile: URL patterns and layout detection checked on the real fixture pages.

Field values are checked by tests/test_fixtures.py against the expected JSON; this file checks
what the crawl relies on (which URLs are articles) and which generation each page gets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import feedparser
import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import builtin_site
from crawler.extract import Extractor
from crawler.models import Page

SITE = builtin_site("detik")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "detik"
# which layout each saved article page was written in (by reading its markup)
LAYOUT = {"anpandu-detik-singlepage": "2015", "anpandu-detik-singlepage2": "2015"}


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _page_url(stem: str) -> str:
    return str(json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))["page"]["url"])


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    assert _is_article(_page_url(stem)), f"{stem}: its URL should match detik article_urls"


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


def test_every_item_of_the_2015_feed_is_an_article() -> None:
    # the "mainpage" fixture is the news.detik RSS feed; its <link>s are feedsportal
    # redirects, the article URLs are the <guid>s
    feed = feedparser.parse((FIXTURES / "anpandu-detik-mainpage.html").read_bytes())
    guids = [entry.id for entry in feed.entries]
    assert len(guids) == 20
    assert [guid for guid in guids if not _is_article(guid)] == []
    assert not any(_is_article(entry.link) for entry in feed.entries)
    assert not _is_article(_page_url("anpandu-detik-mainpage"))


@pytest.mark.parametrize(
    "url",
    [
        "http://news.detik.com/",
        "http://inet.detik.com/kanal/1010/news?",
        "http://inet.detik.com/indeksfokus/4821/galaxy-note-5-amp-s6-edge--lepas-landas",
        "http://inet.detik.com/read///////",
        "https://news.detik.com/indeks?page=2",
        "https://www.detik.com/tag/pilkada",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://sport.detik.com/sepakbola/read/2015/11/05/095513/3062618/1033/roma-menang-dramatis",
        "https://news.detik.com/berita/d-7123456/contoh-judul-berita",
        "https://www.detik.com/jatim/berita/d-7123456/contoh-judul",
    ],
)
def test_other_article_url_forms_are_articles(url: str) -> None:
    assert _is_article(url)


def test_the_full_view_is_asked_with_single_1() -> None:
    assert SITE.multipage.all_pages_query == {"single": "1"}


def test_pubdate_meta_is_read_as_jakarta_time_when_no_date_is_shown() -> None:
    url = "http://inet.detik.com/read/2015/11/05/100026/3062623/323/judul"
    html = (
        '<html><head><meta name="pubdate" content="2015-11-05 T10:08:58Z"></head><body>'
        '<h1 class="l_blue2_detik">Judul</h1><div class="author"><strong>Penulis</strong> - detikinet</div>'
        "<div class=\"text_detail\"><strong>Jakarta</strong> - <p>Isi berita.</p></div></body></html>"
    )
    article = Extractor().extract(Page.from_file_bytes(url, html.encode()))
    assert article is not None
    assert article.published == "2015-11-05T10:08:58+07:00"
    assert article.body == "Jakarta - Isi berita."
