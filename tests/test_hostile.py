"""Hostile input to the extractor (RELIABILITY rows B8, B9, C6, I1, I2, I5): a field or a clear
ExtractionError, never a traceback, and never a long parse.

Committed cases are ``tests/fixtures/hostile/<name>.html`` with ``<name>.json``::

    {"page": {"url": ..., "content_type": ... or null},
     "article": {field: expected, ...} (a subset of Article keys) or null (not an article),
     "error": "<ExtractionError reason>" (optional: extraction must raise it),
     "body_contains": [...], "body_excludes": [...] (optional)}

Big inputs (DOM bombs, attribute bombs, huge attributes) are generated here, not committed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from crawler.errors import DocumentTooLarge, ExtractionError
from crawler.extract import Extractor
from crawler.models import Article, Page

HOSTILE_DIR = Path(__file__).parent / "fixtures" / "hostile"
CASES = sorted(HOSTILE_DIR.glob("*.html"))
TIME_CAP_S = 3.0
ARTICLE_TEXT = (
    "<p>Harga cabai rawit merah di Pasar Induk Kramat Jati turun menjadi Rp 38.000 per kilogram, kata "
    "pedagang, pada Kamis pagi.</p><p>Penurunan itu terjadi setelah pasokan dari sentra produksi di Jawa "
    "Tengah kembali normal, menurut pedagang di pasar itu.</p><p>Pedagang memperkirakan harga akan stabil "
    "hingga akhir bulan depan, meski cuaca masih belum menentu.</p>"
)


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor()


def _page(url: str, body: bytes, content_type: str | None = None) -> Page:
    return Page(url=url, body=body, headers=(("Content-Type", content_type),) if content_type else ())


def _timed_extract(extractor: Extractor, page: Page) -> Article | None:
    started = time.perf_counter()
    try:
        return extractor.extract(page)
    finally:
        elapsed = time.perf_counter() - started
        assert elapsed < TIME_CAP_S, f"{page.url}: extraction took {elapsed:.1f} s, cap {TIME_CAP_S} s"


@pytest.mark.parametrize("html", CASES, ids=[case.stem for case in CASES])
def test_I1_hostile_pages_give_their_expected_fields_or_error(extractor: Extractor, html: Path) -> None:
    spec: dict[str, Any] = json.loads(html.with_suffix(".json").read_text(encoding="utf-8"))
    page = _page(spec["page"]["url"], html.read_bytes(), spec["page"].get("content_type"))
    if "error" in spec:
        with pytest.raises(ExtractionError) as caught:
            _timed_extract(extractor, page)
        assert caught.value.reason == spec["error"]
        assert page.url in str(caught.value)
        return
    got = _timed_extract(extractor, page)
    if spec["article"] is None:
        assert got is None, f"{html.name}: expected no article, got {got!r}"
        return
    assert got is not None, f"{html.name}: expected an article"
    actual = got.to_dict()
    for key, value in spec["article"].items():
        assert actual[key] == value, f"{html.name}: {key}: expected {value!r}, got {actual[key]!r}"
    for text in spec.get("body_contains", []):
        assert text in got.body, f"{html.name}: body lacks {text!r}"
    for text in spec.get("body_excludes", []):
        assert text not in got.body and text not in got.title, f"{html.name}: {text!r} leaked"


def _bomb(kind: str) -> bytes:
    n = 200_000
    heads = "<html><head><title>Bom</title></head><body>"
    if kind == "nested-div-200k":
        return (heads + "<div>" * n + "x" + "</div>" * n).encode()
    if kind == "nested-div-unclosed-200k":
        return (heads + "<div>" * n).encode()
    if kind == "nested-list-20k":
        return (heads + "<ul><li>" * 20_000 + "x").encode()
    if kind == "flat-tags-300k":
        return (heads + "<span>x</span>" * 300_000).encode()
    if kind == "attributes-50k":
        return (heads + "<div " + " ".join(f"a{i}=1" for i in range(50_000)) + ">x</div>").encode()
    raise AssertionError(kind)


BOMBS = ["nested-div-200k", "nested-div-unclosed-200k", "nested-list-20k", "flat-tags-300k", "attributes-50k"]


@pytest.mark.parametrize("kind", BOMBS)
def test_I2_dom_bombs_are_refused_quickly(extractor: Extractor, kind: str) -> None:
    page = _page(f"https://hostile.example/{kind}", _bomb(kind))
    with pytest.raises(DocumentTooLarge) as caught:
        _timed_extract(extractor, page)
    assert caught.value.reason == "document_too_large"
    assert page.url in str(caught.value)


def test_I2_dom_bomb_at_a_known_site_is_refused_too(extractor: Extractor) -> None:
    url = "https://www.suara.com/news/2024/05/30/140500/bom"
    with pytest.raises(DocumentTooLarge):
        _timed_extract(extractor, _page(url, _bomb("nested-div-200k")))
    assert extractor.generation(_page(url, _bomb("nested-div-200k"))) == "suara/generic"


def test_moderate_nesting_below_the_cap_still_extracts(extractor: Extractor) -> None:
    wrapped = "<div>" * 1_000 + f"<article>{ARTICLE_TEXT}</article>" + "</div>" * 1_000
    head = "<html><head><title>Dalam</title><meta property='og:type' content='article'></head>"
    html = f"{head}<body>{wrapped}"
    got = _timed_extract(extractor, _page("https://hostile.example/deep-1000", html.encode()))
    assert got is not None
    assert got.body.startswith("Harga cabai rawit merah")


def test_huge_attribute_values_give_fields(extractor: Extractor) -> None:
    blob = "A" * 10_000_000
    html = (
        f"<html><head><title>Atribut Besar</title><meta property='og:type' content='article'>"
        f"<meta property='og:image' content='https://hostile.example/{blob}.jpg'></head>"
        f"<body><article data-x='{blob}'>{ARTICLE_TEXT}</article></body></html>"
    )
    got = _timed_extract(extractor, _page("https://hostile.example/huge-attr", html.encode()))
    assert got is not None
    assert got.title == "Atribut Besar"
    assert "Harga cabai" in got.body


def test_deeply_nested_json_ld_is_skipped(extractor: Extractor) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    html = (
        f"<html><head><title>JSON Dalam</title><script type='application/ld+json'>{nested}</script>"
        "<meta property='og:type' content='article'></head>"
        f"<body><article>{ARTICLE_TEXT}</article></body></html>"
    )
    got = _timed_extract(extractor, _page("https://hostile.example/deep-json", html.encode()))
    assert got is not None
    assert got.title == "JSON Dalam"


def test_I1_every_extractor_entry_point_survives_hostile_pages(extractor: Extractor) -> None:
    for html in CASES:
        spec = json.loads(html.with_suffix(".json").read_text(encoding="utf-8"))
        page = _page(spec["page"]["url"], html.read_bytes(), spec["page"].get("content_type"))
        assert isinstance(extractor.generation(page), str)
        assert extractor.continuation(page).also == ()
        try:
            extractor.extract_joined([page, page])
        except ExtractionError as exc:
            assert exc.reason in {"extract_empty", "document_too_large"}


def test_I2_dom_bomb_in_a_non_ascii_encoding_is_refused_too(extractor: Extractor) -> None:
    bomb = "<html><head><meta charset='cp037'></head><body>" + "<div>" * 200_000
    page = _page("https://hostile.example/ebcdic-bomb", bomb.encode("cp037"), "text/html; charset=cp037")
    with pytest.raises(DocumentTooLarge):
        _timed_extract(extractor, page)
