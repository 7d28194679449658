"""Payloads already archived, so revisit detection survives a restart.

``scan_payloads(directory)`` reads the CDXJ indexes beside the closed WARC files of an archive
directory (the ones the crawl writes; one missing is built by reading its file) and returns
payload digest → first capture (URI and capture time) for every response, ready for
``WarcWriter(known_payloads=...)``. A revisit written from it names its original by target URI
and date (``WARC-Refers-To-Target-URI``, ``WARC-Refers-To-Date``, to the second, as the index
holds them); replay resolves it from those and the payload digest. The index does not say
which responses were truncated: a truncated capture counts as the original of a later
response only when that response's payload is exactly the bytes it holds.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from crawler.warc.index import INDEX_SUFFIX, index_closed_file
from crawler.warc.naming import is_warc_name
from crawler.warc.records import PayloadOrigin, payload_digest

__all__ = ["scan_payloads"]

log = logging.getLogger(__name__)

_EMPTY = payload_digest(b"")


def scan_payloads(
    directory: str | os.PathLike[str], *, files: Iterable[Path] | None = None
) -> dict[str, PayloadOrigin]:
    """Payload digest → first capture, over the closed WARC files in ``directory`` (by name)."""
    root = Path(directory)
    if files is None and not root.is_dir():
        return {}
    paths = sorted(files) if files is not None else sorted(
        p for p in root.iterdir() if p.is_file() and is_warc_name(p.name)
    )
    first: dict[str, tuple[str, PayloadOrigin]] = {}
    for path in paths:
        index = path.with_name(path.name + INDEX_SUFFIX)
        if not index.is_file() and index_closed_file(path) is None:
            log.warning("%s: no CDXJ index; its payloads are not used for revisits", path)
            continue
        with open(index, encoding="utf-8") as lines:
            for line in lines:
                found = _origin(line)
                if found is not None:
                    digest, stamp, origin = found
                    if digest not in first or stamp < first[digest][0]:
                        first[digest] = (stamp, origin)
    return {digest: origin for digest, (_, origin) in first.items()}


def _origin(line: str) -> tuple[str, str, PayloadOrigin] | None:
    """(digest, 14-digit timestamp, origin) of a CDXJ line of a full response, else None."""
    try:
        _, stamp, fields = line.split(" ", 2)
        entry = json.loads(fields)
    except ValueError:
        return None
    digest, url = entry.get("digest"), entry.get("url")
    if entry.get("mime") == "warc/revisit" or "status" not in entry or len(stamp) != 14:
        return None
    if not isinstance(digest, str) or not isinstance(url, str) or digest in ("", "-", _EMPTY):
        return None
    date = f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}Z"
    return digest, stamp, PayloadOrigin(url, date)
