"""kompas profile: URL patterns, listing links, layout generations and multi-page joining,
checked on the real 2015-16 fixture pages and the hand-written current-layout pages.

Field values of every fixture are checked by tests/test_fixtures.py against the expected JSON;
this file checks what the crawl relies on and what one page cannot show (joining two pages).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.config import builtin_site
from crawler.extract import Extractor
from crawler.models import Page

SITE = builtin_site("kompas")
FIXTURES = Path(__file__).parent / "fixtures" / "sites" / "kompas"
# which layout each article page is written in (by reading its markup)
LAYOUT = {
    "anpandu-kompas-singlepage": "2015",
    "anpandu-kompas-singlepage2": "2015",
    "anpandu-kompas-singlepage3": "2015",
    "anpandu-kompas-singlepage4": "2015",
    "anpandu-kompas-singlepage5": "2016-baca",
    "synthetic-current-2016-09-19": "current",
    "synthetic-current-paging-1": "current",
    "synthetic-current-paging-2": "current",
}
PAGING = ("synthetic-current-paging-1", "synthetic-current-paging-2")


def _is_article(url: str) -> bool:
    return any(re.search(pattern, url) for pattern in SITE.article_urls)


def _fixture(stem: str) -> tuple[Page, dict[str, object] | None]:
    expected = json.loads((FIXTURES / f"{stem}.json").read_text(encoding="utf-8"))
    page = Page.from_file_bytes(expected["page"]["url"], (FIXTURES / f"{stem}.html").read_bytes())
    return page, expected["article"]


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor([SITE])


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_article_page_url_is_an_article(stem: str) -> None:
    page, _ = _fixture(stem)
    assert _is_article(page.url), f"{stem}: {page.url} should match kompas article_urls"


def test_listing_page_url_is_not_an_article() -> None:
    page, expected = _fixture("anpandu-kompas-mainpage")
    assert expected is None
    assert not _is_article(page.url)


@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_exactly_the_expected_generation_detects_the_page(stem: str) -> None:
    tree = LexborHTMLParser((FIXTURES / f"{stem}.html").read_bytes())
    detected = [g.id for g in SITE.generations if g.detect and tree.css_first(g.detect) is not None]
    assert detected == [LAYOUT[stem]], f"{stem}: detect selectors matched {detected}"


CAPTURES = (None, datetime(2016, 3, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("fetched", CAPTURES)
@pytest.mark.parametrize("stem", sorted(LAYOUT))
def test_the_engine_reads_each_page_with_its_generation_whatever_the_capture_date(
    extractor: Extractor, stem: str, fetched: datetime | None
) -> None:
    page, _ = _fixture(stem)
    dated = Page(url=page.url, body=page.body, fetched=fetched)
    assert extractor.generation(dated) == f"kompas/{LAYOUT[stem]}"


def test_listing_links_are_the_articles_of_the_legacy_index() -> None:
    page, _ = _fixture("anpandu-kompas-mainpage")
    tree = LexborHTMLParser(page.body)
    assert SITE.listing.links
    links = [node.attributes.get("href") or "" for node in tree.css(SITE.listing.links)]
    assert len(links) == 10
    assert [link for link in links if not _is_article(link)] == []
    every_article_link = {
        href for node in tree.css("a[href]") if _is_article(href := node.attributes.get("href") or "")
    }
    assert every_article_link == set(links)


@pytest.mark.parametrize(
    "url",
    [
        "http://indeks.kompas.com/",
        "https://indeks.kompas.com/?page=2",
        "https://nasional.kompas.com/",
        "https://www.kompas.com/tag/terorisme",
        "https://video.kompas.com/read/2024/05/30/10000001/contoh-video",
        "https://www.kompas.tv/read/2024/05/30/10000001/contoh",
        "http://regional.kompas.com/Sso_personalisasi/login/?next=http%3A%2F%2Fregional.kompas.com%2Fread",
    ],
)
def test_non_article_urls_are_not_articles(url: str) -> None:
    assert not _is_article(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://nasional.kompas.com/read/2020/12/03/07190041/contoh-judul",
        "https://www.kompas.com/tren/read/2024/05/30/090000065/contoh-judul",
        "https://nasional.kompas.com/read/2016/09/19/23400011/contoh?page=all",
        "http://bisniskeuangan.kompas.com/read/xml/2016/02/23/145448826/OJK.Pelemahan.Saham",
    ],
)
def test_other_article_url_forms_are_articles(url: str) -> None:
    assert _is_article(url)


def test_current_layout_keeps_every_widget_of_the_page_out_of_the_body(extractor: Extractor) -> None:
    # the synthetic page carries the inserts and widgets a reader sees on kompas.com today
    page, _ = _fixture("synthetic-current-2016-09-19")
    article = extractor.extract(page)
    assert article is not None
    html = page.body.decode("utf-8")
    for boilerplate in (
        "Baca juga", "Baca berita tanpa iklan", "WhatsApp", "kmp.im", "Download aplikasi",
        "Rekomendasi untuk anda", "Advertisement", "Terkini Lainnya", "Video rekomendasi",
        "Close Ads", "Bagikan artikel ini melalui", "Login untuk memaksimalkan",
    ):
        assert boilerplate in html, f"the page should show {boilerplate!r}"
        assert boilerplate not in article.body, f"{boilerplate!r} reached the body"
    assert article.body.startswith("JAKARTA, KOMPAS.com - Menteri Koordinator")
    assert article.body.count("\n\n") == 13


def test_two_page_article_asks_for_the_whole_view(extractor: Extractor) -> None:
    first, _ = _fixture(PAGING[0])
    last, _ = _fixture(PAGING[1])
    wanted = first.url + "?page=all"
    assert extractor.continuation(first).instead == wanted
    assert extractor.continuation(first).also == ()
    # the whole view itself and the last page (no next link) need nothing more
    assert extractor.continuation(Page(url=wanted, body=first.body)) == extractor.continuation(last)
    assert extractor.continuation(last).instead is None
    assert extractor.continuation(last).also == ()


def test_two_page_article_follows_the_next_link_without_the_whole_view() -> None:
    links_only = SITE.multipage.model_copy(update={"all_pages_query": {}})
    by_links = SITE.model_copy(update={"multipage": links_only})
    first, _ = _fixture(PAGING[0])
    last, _ = _fixture(PAGING[1])
    extractor = Extractor([by_links])
    assert extractor.continuation(first).also == (last.url,)
    assert extractor.continuation(last).also == ()


def test_two_pages_join_into_the_whole_article(extractor: Extractor) -> None:
    pages = [_fixture(stem)[0] for stem in PAGING]
    parts = [_fixture(stem)[1] for stem in PAGING]
    joined = extractor.extract_joined(pages)
    assert joined is not None
    assert joined.pages == 2
    assert joined.body == "\n\n".join(str(part["body"]) for part in parts if part)
    # the two halves are the real text of a 2016 page: together they are that page's body
    _, whole = _fixture("anpandu-kompas-singlepage2")
    assert whole is not None
    assert joined.body == whole["body"]
    assert joined.title == whole["title"]
    assert joined.url == pages[0].url
    assert joined.updated == "2016-02-16T15:10:00+07:00"
