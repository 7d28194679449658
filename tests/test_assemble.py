"""``crawler.assemble``: one article from its pages, without I/O (the step crawl and replay share).

Pages are real fixture pages with a ``rel=next`` link added, fed by hand as a crawl or replay
feeds them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest

from crawler.assemble import Assembly, AssemblyRules, Outcome, parse_since
from crawler.config import builtin_sites
from crawler.errors import ConfigError
from crawler.extract import Extractor
from crawler.models import Page
from tests.support import warcfactory as wf

SUARA = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"
RULES = AssemblyRules(Extractor(builtin_sites()), 2048)


def _page(url: str, next_url: str | None) -> Page:
    body = (wf.SITES / "suara/synthetic-jsonld.html").read_bytes()
    if next_url is not None:
        body = body.replace(b"</head>", f'<link rel="next" href="{next_url}"></head>'.encode(), 1)
    return Page(url=url, body=body, status=200, headers=(("Content-Type", "text/html; charset=utf-8"),))


def test_a_page_two_linking_back_to_page_one_is_joined_once() -> None:
    assembly = Assembly(RULES, _page(SUARA, f"{SUARA}?page=2"))
    assert assembly.wanted == f"{SUARA}?page=2"
    assembly.feed(_page(f"{SUARA}?page=2", SUARA))
    assert assembly.wanted is None, "page 1 is not wanted again"
    done = assembly.finish()
    assert done.outcome is Outcome.ARTICLE
    assert done.article is not None and done.article.pages == 2


def test_max_pages_ends_a_chain_of_next_pages() -> None:
    assembly = Assembly(RULES, _page(SUARA, f"{SUARA}?page=2"))
    fed = 1
    while (url := assembly.wanted) is not None:
        fed += 1
        assembly.feed(_page(url, f"{SUARA}?page={fed + 1}"))
    site = RULES.extractor.site_for(SUARA)
    assert site is not None
    assert fed == site.multipage.max_pages
    article = assembly.finish().article
    assert article is not None and article.pages == site.multipage.max_pages


def test_a_missing_continuation_leaves_the_pages_had() -> None:
    assembly = Assembly(RULES, _page(SUARA, f"{SUARA}?page=2"))
    assembly.feed(None)
    assert assembly.wanted is None
    article = assembly.finish().article
    assert article is not None and article.pages == 1
    with pytest.raises(ValueError, match="complete"):
        assembly.feed(None)


def test_links_to_other_sites_and_bad_urls_are_not_followed() -> None:
    for link in ("http://nasional.kompas.com/read/2016/02/16/1/x", "http://[::1"):
        assert Assembly(RULES, _page(SUARA, link)).wanted is None


def test_continuation_urls_are_canonical() -> None:
    assembly = Assembly(RULES, _page(SUARA, f"{SUARA}?page=2&utm_source=x#top"))
    assert assembly.wanted == f"{SUARA}?page=2"


def test_since_drops_an_article_its_page_dates_before_it() -> None:
    page = _page(SUARA, None)
    kept = Assembly(RULES, page).finish()
    assert kept.kept is not None and kept.kept.published is not None
    published = date.fromisoformat(kept.kept.published[:10])
    later = AssemblyRules(RULES.extractor, 2048, since=date(published.year + 1, 1, 1))
    dropped = Assembly(later, page).finish()
    assert dropped.outcome is Outcome.BEFORE_SINCE and dropped.kept is None
    assert dropped.article == kept.article


def test_parse_since() -> None:
    assert parse_since("2020-01-02") == date(2020, 1, 2)
    with pytest.raises(ConfigError, match="--since"):
        parse_since("yesterday")


def test_one_extractor_serves_several_threads_at_once() -> None:
    """The Extractor keeps no per-page state (each page's parse travels in its ParsedPage),
    so pages assembled on many threads at once give what they give one by one."""
    pages = [page for page in wf.fixture_pages() if page.is_article][:12]
    as_pages = [Page(url=page.url, body=page.body, fetched=page.fetched) for page in pages]

    def assembled(page: Page) -> tuple[object, str]:
        done = Assembly(RULES, page).finish()
        return (done.article.to_dict() if done.article else None), done.generation

    alone = [assembled(page) for page in as_pages]
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(3):
            assert list(pool.map(assembled, as_pages)) == alone
