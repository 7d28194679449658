"""The public API: ``crawler.__all__`` is pinned, every name resolves, and the light import
stays light (extraction without httpx or the archive code)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import crawler

PUBLIC = {
    "Article", "Config", "Crawl", "CrawlOptions", "CrawlSummary", "CrawlerError", "Extractor",
    "FetchResult", "Fetcher", "Page", "ReplayOptions", "ReplaySummary", "Source", "WarcWriter",
    "__version__", "extract", "load_config", "verify_file",
}


def test_all_is_the_documented_public_api() -> None:
    assert set(crawler.__all__) == PUBLIC, "a change to the public API: update PUBLIC and the README"


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_resolves_to_its_module(name: str) -> None:
    value = getattr(crawler, name)
    if name != "__version__":
        assert value.__module__.startswith("crawler."), (name, value.__module__)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        crawler.Nope  # type: ignore[attr-defined]  # noqa: B018


def test_import_for_extraction_does_not_load_the_network_or_archive_code() -> None:
    heavy = "('httpx', 'crawler.pipeline', 'crawler.warc.writer')"
    probe = f"import sys, crawler; print(sorted(m for m in {heavy} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
