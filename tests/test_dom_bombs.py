"""DOM bombs (fault matrix row K9): every page the crawler parses, articles in ``extract`` and
listing pages in ``discover``, is refused before parsing when the tree it would build is too
deep, and end tags that close nothing cannot hide the depth."""

from __future__ import annotations

import time

import pytest

from crawler.discover import discover
from crawler.errors import DocumentTooLarge
from crawler.extract import Extractor, dom
from crawler.models import Page

HEAD = "<html><head><title>Bom</title><meta property='og:type' content='article'></head><body>"
GENEROUS_S = 20.0  # a bomb that got through costs 25-30 s; a refusal well under a second


def _refused(call: object, *args: object) -> DocumentTooLarge:
    start = time.monotonic()
    with pytest.raises(DocumentTooLarge) as caught:
        call(*args)  # type: ignore[operator]
    assert time.monotonic() - start < GENEROUS_S
    return caught.value


@pytest.mark.parametrize(
    "bomb",
    [
        "<div></span>" * 100_000,  # end tags of elements never opened close nothing
        "<div><table><td></div>" * 3_000,  # an end tag does not reach out of a table cell
        "<section><b></i>" * 60_000,
    ],
    ids=["div-unmatched-span", "div-across-cell", "section-unmatched-inline"],
)
def test_K9_dom_bomb_with_unbalanced_end_tags_is_refused_in_extract(bomb: str) -> None:
    page = Page(url="https://hostile.example/unbalanced", body=(HEAD + bomb).encode())
    error = _refused(Extractor([]).extract, page)
    assert error.reason == "document_too_large"
    assert "nested" in str(error) and page.url in str(error)


def test_K9_dom_bomb_on_a_listing_page_is_refused_in_discover() -> None:
    page = Page(url="https://hostile.example/indeks", body=(HEAD + "<div>" * 100_000).encode())
    error = _refused(discover, page)
    assert error.reason == "document_too_large" and page.url in str(error)


def test_K9_listing_with_unbalanced_end_tags_is_refused_too() -> None:
    body = HEAD + "<div></span>" * 100_000 + "<a href='/read/1'>x</a>"
    error = _refused(discover, Page(url="https://hostile.example/indeks", body=body.encode()))
    assert error.reason == "document_too_large"


def test_K9_big_flat_pages_still_parse() -> None:
    # many unclosed cells, paragraphs and list items are siblings, not nesting
    rows = "<table>" + "<tr><td>a<td>b" * 5_000 + "</table>"
    flat = "<div><p>a<p>b<ul><li>c<li>d</ul></div>" * 2_000
    for html in (rows, flat, "<b><i></b></i>" * 5_000):
        dom.check_size(HEAD + html, "https://hostile.example/flat")
    links = "".join(f"<div><a href='/read/{i}'>Berita {i}</a></div>" for i in range(5_000))
    found = discover(Page(url="https://hostile.example/indeks", body=(HEAD + links).encode()))
    assert len(found.links) == 5_000
