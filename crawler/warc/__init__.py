"""WARC archiving: the writer (rotation, digests, revisits), the reader (records → ``Page``),
verify, recover and index.

Modules: ``writer`` (``WarcWriter``), ``reader`` (``iter_records``, ``read_record_at``; ARC
files through ``arc``, digests through ``digests``), ``pages`` (record → ``Page``, revisit
originals), ``verify`` (``verify_file``), ``recover`` (``recover_file``, ``lock_for``,
``complete_target_uris``), ``index`` (``index_file``, ``write_index``), ``captures`` (a file's
captures read back from its CDXJ index, for replay), ``commands`` (the
``verify``/``recover``/``index``/``wacz`` verbs; WACZ itself is ``crawler.wacz``).
"""

from __future__ import annotations

from crawler.warc.reader import Damage, WarcRecord, iter_records, read_record_at
from crawler.warc.records import PayloadOrigin
from crawler.warc.writer import WarcWriter

__all__ = ["Damage", "PayloadOrigin", "WarcRecord", "WarcWriter", "iter_records", "read_record_at"]
