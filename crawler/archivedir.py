"""Care of the archive directory before a crawl opens it: writable, with room, and nothing a
killed run left behind (``.open`` WARC files trimmed, closed and indexed; index spools settled).
The archive lock itself is ``crawler.frontier.ArchiveLock``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from crawler.errors import ConfigError, is_out_of_space, out_of_space
from crawler.warc.index import settle_spools
from crawler.warc.recover import recover_file

log = logging.getLogger(__name__)


def check_writable(archive: Path) -> None:
    """Fail before any network I/O when the archive directory cannot be written (RELIABILITY F7)
    or has no room at all (one byte is written: an empty file takes no space)."""
    try:
        archive.mkdir(parents=True, exist_ok=True)
        probe = archive / f".write-test-{os.getpid()}"
        try:
            probe.write_bytes(b"\n")
        finally:
            probe.unlink(missing_ok=True)
    except OSError as exc:
        if is_out_of_space(exc):
            raise out_of_space(f"archive directory {archive}", exc) from exc
        raise ConfigError(
            f"archive directory {archive} is not writable ({exc.strerror or exc}); "
            "fix its permissions or pass --archive DIR"
        ) from exc


def recover_open_warcs(directory: Path) -> tuple[str, ...]:
    """Trim, close and index ``.open`` WARC files a killed run left behind; one line per file."""
    if not directory.is_dir():
        return ()
    reports = []
    for path in sorted(directory.glob("*.warc.gz.open")):
        report = recover_file(path)
        reports.append(str(report))
        log.warning("recovered %s", report)
    for path in settle_spools(directory):
        log.warning("%s: indexed (its writer was killed before it wrote the index)", path)
    return tuple(reports)


__all__ = ["check_writable", "recover_open_warcs"]
