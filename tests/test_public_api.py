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
    "__version__", "extract", "load_config", "replay", "verify_file",
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


def test_vars_of_the_package_hold_only_the_public_api() -> None:
    """The modules are private: importing them binds nothing on the package, and
    ``crawler.replay``/``crawler.extract`` stay the functions once their modules are loaded."""
    probe = (
        "import crawler, crawler.replay, crawler.extract.engine, crawler.pipeline, crawler.warc.reader\n"
        "names = [crawler.replay.__name__, crawler.extract.__name__, type(crawler.warc).__name__]\n"
        "for name in crawler.__all__: getattr(crawler, name)\n"
        "public = sorted(n for n in vars(crawler) if not n.startswith('_'))\n"
        "print(names, public == sorted(set(crawler.__all__) - {'__version__'}), public)"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip().startswith("['replay', 'extract', 'module'] True"), loaded.stdout
