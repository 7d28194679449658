"""Every fixture page extracts to its expected article.

A fixture is ``tests/fixtures/sites/<site>/<slug>.html`` (the page as served, unchanged) with
``<slug>.json`` beside it::

    {"page": {"url": ..., "fetched": "2015-11-05T00:00:00Z" or null, "content_type": ... or null},
     "article": {every Article key except "source"} or null}

``article: null`` means the page must not be taken as an article (a listing page).

Where the pages come from: the project's shared fixture set (its MANIFEST.tsv), and for pages
added from the same public sources later, ``tests/fixtures/sites/SOURCES.tsv`` (file, URL,
repository, path, commit, license). A page is copied byte for byte; its JSON is written by
reading the page.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from crawler.config import builtin_sites
from crawler.extract import Extractor
from crawler.models import ARTICLE_KEYS, Article, Page

SITES_DIR = Path(__file__).parent / "fixtures" / "sites"
EXPECTED_KEYS = tuple(key for key in ARTICLE_KEYS if key not in {"source", "built_by"})


def fixture_pairs() -> list[tuple[Path, Path]]:
    return [
        (html, html.with_suffix(".json"))
        for html in sorted(SITES_DIR.glob("*/*.html"))
        if html.with_suffix(".json").exists()
    ]


def load_page(html: Path, spec: dict[str, Any]) -> Page:
    page = spec["page"]
    fetched = page.get("fetched")
    content_type = page.get("content_type")
    return Page(
        url=page["url"],
        body=html.read_bytes(),
        headers=(("Content-Type", content_type),) if content_type else (),
        fetched=datetime.fromisoformat(fetched.replace("Z", "+00:00")) if fetched else None,
    )


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor()


def _name(html: Path) -> str:
    return f"{html.parent.name}/{html.name}"


def _advice(site: str) -> str:
    return (
        f"fix the site rules in crawler/sites/{site}.yaml, or if the page really says otherwise, "
        "correct the expected JSON after reading the page"
    )


def _body_difference(expected: str, got: str) -> str:
    wanted, found = expected.split("\n\n"), got.split("\n\n")
    for index, (one, other) in enumerate(zip(wanted, found, strict=False)):
        if one != other:
            return f"paragraph {index + 1} differs:\n      expected {one!r}\n      got      {other!r}"
    if len(wanted) > len(found):
        return f"{len(wanted) - len(found)} paragraph(s) missing at the end, first: {wanted[len(found)]!r}"
    return f"{len(found) - len(wanted)} extra paragraph(s) at the end, first: {found[len(wanted)]!r}"


def _differences(expected: dict[str, Any], got: Article) -> list[str]:
    actual = got.to_dict()
    problems = []
    for key in EXPECTED_KEYS:
        if key not in expected:
            problems.append(f"  {key}: missing from the expected JSON (got {actual[key]!r}); add it")
        elif key == "body" and expected[key] != actual[key]:
            problems.append(f"  body: {_body_difference(expected[key], actual[key])}")
        elif expected[key] != actual[key]:
            problems.append(f"  {key}: expected {expected[key]!r}\n      got      {actual[key]!r}")
    return problems


PAIRS = fixture_pairs()


@pytest.mark.parametrize(("html", "expected_json"), PAIRS, ids=[_name(html) for html, _ in PAIRS])
def test_fixture_extracts_to_expected_article(extractor: Extractor, html: Path, expected_json: Path) -> None:
    spec = json.loads(expected_json.read_text(encoding="utf-8"))
    site = html.parent.name
    got = extractor.extract(load_page(html, spec))
    expected = spec["article"]
    if expected is None:
        assert got is None, (
            f"{_name(html)}: expected no article (a listing or non-article page), got one titled "
            f"{got.title if got else ''!r}; tighten article_urls in crawler/sites/{site}.yaml, or "
            "if the page really is an article, write its expected JSON"
        )
        return
    assert got is not None, (
        f"{_name(html)}: expected an article titled {expected.get('title')!r}, got none (the URL does not "
        f"match article_urls or the page was judged not an article); {_advice(site)}"
    )
    problems = _differences(expected, got)
    assert not problems, f"{_name(html)}: {len(problems)} field(s) differ:\n" + "\n".join(problems) + (
        f"\n  → {_advice(site)}"
    )


@pytest.fixture(scope="module")
def builtin_ids() -> list[str]:
    return [site.id for site in builtin_sites()]


def test_every_builtin_site_has_an_article_fixture(builtin_ids: list[str]) -> None:
    with_article = {
        html.parent.name
        for html, expected_json in fixture_pairs()
        if json.loads(expected_json.read_text(encoding="utf-8")).get("article") is not None
    }
    missing = sorted(site for site in builtin_ids if site not in with_article)
    assert not missing, (
        f"built-in sites without an article fixture: {', '.join(missing)}; add "
        "tests/fixtures/sites/<site>/<slug>.html with its expected <slug>.json"
    )


def test_fixture_pairs_are_found(builtin_ids: list[str]) -> None:
    assert len(fixture_pairs()) >= len(builtin_ids)
