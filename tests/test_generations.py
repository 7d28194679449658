"""Every layout generation is proven by a page (fundus refuses a parser version without test
data): a real fixture page (``tests/fixtures/sites/<site>/*.html`` not named ``synthetic-*``)
read with it, or ``unverified: true`` in its YAML and a synthetic page read with it. No page
may be claimed by the ``detect`` selectors of two generations of its site."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from crawler.config import builtin_sites
from crawler.extract import Extractor, _parse, specs
from crawler.extract.engine import SiteRules
from crawler.profile import Generation
from tests.test_fixtures import _name, fixture_pairs, load_page

SITES = builtin_sites()


def _pages_by_generation() -> dict[str, dict[str, list[str]]]:
    """generation label -> {"real": [fixture names], "synthetic": [...]}"""
    extractor = Extractor()
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"real": [], "synthetic": []})
    for html, expected in fixture_pairs():
        spec = json.loads(expected.read_text(encoding="utf-8"))
        if spec.get("article") is None:
            continue
        label = extractor.generation(load_page(html, spec))
        kind = "synthetic" if html.name.startswith("synthetic-") else "real"
        found[label][kind].append(_name(html))
    return found


PAGES = _pages_by_generation()
GENERATIONS = [(site.id, generation) for site in SITES for generation in site.generations]


@pytest.mark.parametrize(("site_id", "generation"), GENERATIONS, ids=[f"{s}/{g.id}" for s, g in GENERATIONS])
def test_every_generation_has_a_real_fixture_or_is_unverified_with_a_synthetic_page(
    site_id: str, generation: Generation
) -> None:
    gen_id, unverified = generation.id, generation.unverified
    pages = PAGES.get(f"{site_id}/{gen_id}", {"real": [], "synthetic": []})
    where = f"crawler/sites/{site_id}.yaml generation {gen_id!r}"
    if pages["real"]:
        assert not unverified, (
            f"{where} is proven by {pages['real'][0]}: remove its 'unverified: true'"
        )
        return
    assert unverified, (
        f"{where} has no real fixture page: add one (page + expected JSON, read from the page) to "
        f"tests/fixtures/sites/{site_id}/, or mark it 'unverified: true' and add a synthetic page"
    )
    assert pages["synthetic"], (
        f"{where} is unverified and has no synthetic page either: add "
        f"tests/fixtures/sites/{site_id}/synthetic-{gen_id}-<slug>.html and its expected JSON"
    )


def test_no_page_is_detected_by_two_generations() -> None:
    clashes = []
    for html, expected in fixture_pairs():
        spec = json.loads(expected.read_text(encoding="utf-8"))
        page = load_page(html, spec)
        site = next((s for s in SITES if s.id == html.parent.name), None)
        if site is None:
            continue
        rules = SiteRules.build(site)
        doc = _parse(page)
        detected = [g.spec.id for g in rules.generations
                    if g.spec.detect and specs.nodes(doc, g.spec.detect, many=False)]
        if len(detected) > 1:
            clashes.append(f"{_name(html)}: detected by {site.id} generations {' and '.join(detected)}")
    assert not clashes, "make the detect selectors disjoint:\n" + "\n".join(clashes)
