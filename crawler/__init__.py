"""crawler: a polite async crawler and archiver for news portals.

The public API is listed in ``__all__``; everything else is private.
"""

from __future__ import annotations

from crawler.errors import CrawlerError
from crawler.extract import Extractor, extract
from crawler.models import Article, Page, Source

__version__ = "0.1.0"

__all__ = ["Article", "CrawlerError", "Extractor", "Page", "Source", "__version__", "extract"]
