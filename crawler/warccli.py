"""The WARC verbs of the command line (``verify``, ``recover``, ``index``, ``wacz``): what they
do with their arguments and which exit code they end with. ``crawler.cli`` only parses.

Exit codes (README): 0 all good; 5 an input that is not there, cannot be read, is not a WARC
or ARC file at all, or a directory without any; 7 a WARC or ARC file is damaged (each problem
on stderr or in the report, with file and offset); 9 ``recover`` on the file of a running crawl.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from crawler import errors

__all__ = ["index_command", "recover_command", "verify_command", "wacz_command"]


def verify_command(paths: Sequence[str], out: TextIO = sys.stdout) -> int:
    """Check every WARC/ARC file under ``paths``; one summary line per file, one per problem."""
    from crawler.warc.naming import warc_paths
    from crawler.warc.verify import verify_file

    bad = 0
    for path in warc_paths(paths):
        report = verify_file(path)
        print("\n".join(report.lines()), file=out)
        bad += not report.ok
    return errors.EXIT_ARCHIVE if bad else errors.EXIT_OK


def index_command(paths: Sequence[str], output: str, err: TextIO = sys.stderr) -> int:
    """One sorted CDXJ index of the files under ``paths``; damage on ``err``, exit 7 if any."""
    from crawler.replaycli import open_output
    from crawler.warc.index import write_index
    from crawler.warc.naming import warc_paths

    files = warc_paths(paths)
    with open_output(output) as out:
        damages = write_index(files, out)
    for damage in damages:
        print(f"{damage} (left out of the index)", file=err)
    return errors.EXIT_ARCHIVE if damages else errors.EXIT_OK


def recover_command(path: str, out: TextIO = sys.stdout) -> int:
    """Close a ``.open`` WARC keeping every intact record; refused (exit 9) while a crawl holds
    the archive's lock."""
    from crawler.warc.recover import lock_for, recover_file

    with lock_for(path):
        report = recover_file(path)
    print(report, file=out)
    return errors.EXIT_OK


def wacz_command(archive: str, output: str, *, articles: str | None = None, title: str | None = None,
                 out: TextIO = sys.stdout) -> int:
    """Package an archive directory (or WARC files) as a WACZ file whose page list is the articles."""
    from crawler.wacz import write_wacz

    summary = write_wacz(archive, output, articles=articles, title=title)
    print(summary, file=out)
    return errors.EXIT_ARCHIVE if summary.damaged else errors.EXIT_OK
