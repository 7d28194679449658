"""crawler: a polite async crawler and archiver for news portals.

The public API is listed in ``__all__`` (pinned by ``tests/test_public_api.py``); the modules
behind it are private: their names may change. Every part is imported on first use, so
``import crawler`` stays light and extraction alone does not load httpx or the archive code.
``crawler.extract`` and ``crawler.replay`` are the functions, even once their modules (in
``sys.modules``) are imported.

    from crawler import Page, extract                      # one page -> Article | None
    from crawler import Crawl, CrawlOptions, load_config   # await Crawl(config, options).run()
    from crawler import ReplayOptions, replay              # WARC files -> the same articles
    from crawler import WarcWriter, verify_file            # the archive on its own
"""

import sys as _sys
import types as _types
from importlib import import_module as _import_module
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from crawler.config import Config, load_config
    from crawler.errors import CrawlerError
    from crawler.extract import Extractor, extract
    from crawler.fetch import Fetcher, FetchResult
    from crawler.models import Article, Page, Source
    from crawler.pipeline import Crawl, CrawlOptions, CrawlSummary
    from crawler.replay import ReplayOptions, ReplaySummary, replay
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
    "replay",
    "verify_file",
]

_LAZY = {
    "Article": "crawler.models",
    "Config": "crawler.config",
    "Crawl": "crawler.pipeline",
    "CrawlOptions": "crawler.pipeline",
    "CrawlSummary": "crawler.pipeline",
    "CrawlerError": "crawler.errors",
    "Extractor": "crawler.extract",
    "FetchResult": "crawler.fetch",
    "Fetcher": "crawler.fetch",
    "Page": "crawler.models",
    "ReplayOptions": "crawler.replay",
    "ReplaySummary": "crawler.replay",
    "Source": "crawler.models",
    "WarcWriter": "crawler.warc.writer",
    "extract": "crawler.extract",
    "load_config": "crawler.config",
    "replay": "crawler.replay",
    "verify_file": "crawler.warc.verify",
}


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        imported = _sys.modules.get(f"{__name__}.{name}")
        if imported is not None:  # a private module, once imported, as an attribute too
            return imported
        raise AttributeError(f"module 'crawler' has no attribute {name!r}")
    value = getattr(_import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(_types.ModuleType):
    """The ``crawler`` package. Importing a submodule binds it on its package, which would make
    ``crawler.replay`` the module and put every private module in ``vars(crawler)``: a
    submodule is not bound (``__getattr__`` finds it in ``sys.modules``)."""

    def __setattr__(self, name: str, value: _Any) -> None:
        if isinstance(value, _types.ModuleType) and value.__name__ == f"{self.__name__}.{name}":
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
