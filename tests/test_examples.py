"""The two articles of ``../shared/examples/`` (copied unchanged to ``tests/fixtures/examples/``)
go through a hand-written page in each portal's current template and come out with exactly the
body a reader's eye keeps (``*-body.txt``), and none of the widget strings the dumps list.

The pages are ``tests/fixtures/sites/kompas/synthetic-current-2016-09-19.html`` (Kompas ``read__*``
layout) and ``tests/fixtures/sites/suara/synthetic-amp-2017-06-21.html`` (Suara AMP/JSON-LD layout).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.extract import Extractor
from crawler.models import Page

FIXTURES = Path(__file__).parent / "fixtures"
EXAMPLES = {
    "kompas-2016-09-19": FIXTURES / "sites" / "kompas" / "synthetic-current-2016-09-19",
    "suara-2017-06-21": FIXTURES / "sites" / "suara" / "synthetic-amp-2017-06-21",
}
# boilerplate that examples/README.md names as never part of a body
WIDGET_STRINGS = (
    "Berita Terkait", "Terpopuler", "Pilihan", "Terkini", "Baca berita tanpa iklan",
    "WhatsApp Channel", "Video rekomendasi", "Video lainnya", "komentar di artikel lainnya",
    "Close Ads", "Bagikan artikel ini melalui", "Login untuk memaksimalkan",
)


@pytest.fixture(scope="module")
def extractor() -> Extractor:
    return Extractor()


def _extracted_body(extractor: Extractor, stem: Path) -> str:
    url = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))["page"]["url"]
    article = extractor.extract(Page.from_file_bytes(url, stem.with_suffix(".html").read_bytes()))
    assert article is not None, f"{stem.name}.html was not taken as an article"
    return article.body


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_body_is_kept_exactly(extractor: Extractor, example: str) -> None:
    wanted = (FIXTURES / "examples" / f"{example}-body.txt").read_text(encoding="utf-8").rstrip("\n")
    got = _extracted_body(extractor, EXAMPLES[example])
    assert got == wanted, (
        f"{example}: the body extracted from {EXAMPLES[example].name}.html differs from "
        f"tests/fixtures/examples/{example}-body.txt; fix the site rules, not the example"
    )


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_body_has_no_widget_strings(extractor: Extractor, example: str) -> None:
    body = _extracted_body(extractor, EXAMPLES[example])
    leaked = [text for text in WIDGET_STRINGS if text in body]
    assert not leaked, f"{example}: boilerplate in the body: {leaked}"
