"""WARC archiving: the writer (rotation, digests, revisits), the reader (records → ``Page``),
verify, recover and index.
"""

from __future__ import annotations

from crawler.warc.records import PayloadOrigin
from crawler.warc.writer import WarcWriter

__all__ = ["PayloadOrigin", "WarcWriter"]
