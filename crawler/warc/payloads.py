"""Payloads already archived, so revisit detection survives a restart.

``scan_payloads(directory)`` reads the closed WARC files of an archive directory and returns
payload digest → first capture (URI, WARC-Date, record id) for every full response record,
ready for ``WarcWriter(known_payloads=...)``. Pass one dict to several writers to share it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

from crawler.warc.naming import is_warc_name
from crawler.warc.reader import Damage, iter_records
from crawler.warc.records import PayloadOrigin, payload_digest

__all__ = ["scan_payloads"]

log = logging.getLogger(__name__)

_EMPTY = payload_digest(b"")


def scan_payloads(
    directory: str | os.PathLike[str], *, files: Iterable[Path] | None = None
) -> dict[str, PayloadOrigin]:
    """Payload digest → first capture, over the closed WARC files in ``directory`` (by name)."""
    paths = sorted(files) if files is not None else sorted(
        p for p in Path(directory).iterdir() if p.is_file() and is_warc_name(p.name)
    )
    found: dict[str, PayloadOrigin] = {}

    def damaged(damage: Damage) -> None:
        log.warning("%s (its payloads are not used for revisits)", damage)

    for path in paths:
        for record in iter_records(path, on_damage=damaged, verify_digests=False):
            digest = record.header("WARC-Payload-Digest")
            if record.rec_type != "response" or not digest or digest == _EMPTY:
                continue
            if record.header("WARC-Truncated") or digest in found:
                continue
            found[digest] = PayloadOrigin(record.target_uri or "", record.header("WARC-Date") or "",
                                          record.record_id)
    return found
