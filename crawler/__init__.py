"""crawler: a polite async crawler and archiver for news portals.

The public API is listed in ``__all__``; everything else is private. The crawl, fetch, replay
and WARC parts are imported on first use, so ``import crawler`` for extraction alone does not
load httpx and the archive code. ``crawler.replay`` is the replay module (its function
``replay`` is not re-exported: a submodule import would shadow it).

    from crawler import Page, extract                      # one page -> Article | None
    from crawler import Crawl, CrawlOptions, load_config   # await Crawl(config, options).run()
    from crawler.replay import ReplayOptions, replay       # WARC files -> the same articles
    from crawler import WarcWriter, verify_file            # the archive on its own
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from crawler.config import Config, load_config
from crawler.errors import CrawlerError
from crawler.extract import Extractor, extract
from crawler.models import Article, Page, Source

if TYPE_CHECKING:
    from crawler.fetch import Fetcher, FetchResult
    from crawler.pipeline import Crawl, CrawlOptions, CrawlSummary
    from crawler.replay import ReplayOptions, ReplaySummary
    from crawler.warc.verify import verify_file
    from crawler.warc.writer import WarcWriter

__version__ = "0.1.0"

__all__ = [
    "Article",
    "Config",
    "Crawl",
    "CrawlOptions",
    "CrawlSummary",
    "CrawlerError",
    "Extractor",
    "FetchResult",
    "Fetcher",
    "Page",
    "ReplayOptions",
    "ReplaySummary",
    "Source",
    "WarcWriter",
    "__version__",
    "extract",
    "load_config",
    "verify_file",
]

_LAZY = {
    "Crawl": "crawler.pipeline",
    "CrawlOptions": "crawler.pipeline",
    "CrawlSummary": "crawler.pipeline",
    "FetchResult": "crawler.fetch",
    "Fetcher": "crawler.fetch",
    "ReplayOptions": "crawler.replay",
    "ReplaySummary": "crawler.replay",
    "verify_file": "crawler.warc.verify",
    "WarcWriter": "crawler.warc.writer",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'crawler' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
