"""CDXJ indexes of WARC files, written with the standard ``cdxj-indexer`` (pywb's format).

Where: the crawl indexes each WARC file when it closes into ``<file>.cdxj`` beside it (e.g.
``crawler-…-00000-host.warc.gz.cdxj``), sorted, written to a temporary name and renamed, so an
index is either whole or absent. ``crawler index FILES... -o out.cdxj`` writes one sorted index
of many files (what pywb's ``indexes/index.cdxj`` holds).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from cdxj_indexer.main import CDXJIndexer

from crawler.errors import ArchiveError, CrawlerError, InputError

__all__ = ["INDEX_SUFFIX", "index_closed_file", "index_file", "write_index"]

log = logging.getLogger(__name__)

INDEX_SUFFIX = ".cdxj"


def write_index(paths: Iterable[str | os.PathLike[str]], out: TextIO) -> None:
    """One sorted CDXJ index of every WARC file in ``paths`` to ``out``."""
    inputs = [os.fspath(path) for path in paths]
    for path in inputs:
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file or directory")
    try:
        CDXJIndexer(out, inputs, sort=True).process_all()
    except (OSError, ValueError, AttributeError) as exc:
        raise ArchiveError(f"indexing {', '.join(inputs)} failed: {exc}; run `crawler verify` on the "
                           "files to find the damaged record") from exc


def index_file(path: str | os.PathLike[str]) -> Path:
    """Write ``<path>.cdxj`` beside the WARC file ``path``; return the index path."""
    source = Path(path)
    target = source.with_name(source.name + INDEX_SUFFIX)
    partial = target.with_name(target.name + ".tmp")
    try:
        with open(partial, "w", encoding="utf-8") as out:
            write_index([source], out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def index_closed_file(path: str | os.PathLike[str]) -> Path | None:
    """``index_file`` for the crawl: a failure is logged, never stops the crawl."""
    try:
        return index_file(path)
    except (OSError, CrawlerError) as exc:
        log.warning("%s: could not write its CDXJ index (%s); run `crawler index %s`", path, exc, path)
        return None
