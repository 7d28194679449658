"""One exception tree for the whole crawler.

Every failure has a type, a message that names the input and the place (file and line, WARC
offset, URL) and says how to fix it, a short ``reason`` used in the frontier's terminal state
(``failed:<reason>`` / ``skipped:<reason>``) and a process exit code::

    CrawlerError                      exit 1   reason "error"
    ├── ConfigError                   exit 4   invalid config.yaml or site rules
    │   └── UsageError                exit 2   a command-line value that cannot be used
    ├── InputError                    exit 5   a file or stdin that cannot be read
    ├── ExtractionError               exit 6   page read, but no article could be extracted
    │   ├── NotAnArticle                       the page is a listing, binary or empty
    │   └── DocumentTooLarge                   DOM node-count or size cap exceeded
    ├── DecodeError                   exit 6   content-encoding/charset failures of a payload
    │   ├── TruncatedEncoding                  compressed stream ended early
    │   ├── BadEncoding                        declared encoding does not match the bytes
    │   ├── DecodedTooLarge                    decoded size above max_decoded_bytes
    │   └── UnsupportedEncoding                an encoding we do not decode
    ├── FetchError                    exit 3   one URL could not be fetched (crawl goes on)
    │   ├── ScopeViolation                     URL or redirect hop outside policy (scope, ssrf, scheme)
    │   ├── RobotsDisallowed                   robots.txt forbids it, or robots unavailable
    │   ├── TooLarge                           body above max_body_bytes
    │   ├── TooManyRedirects
    │   ├── HttpStatusError                    a status we give up on after retries
    │   └── TransportError                     connect/timeout/protocol/tls failures
    ├── ArchiveError                  exit 7
    │   ├── ArchiveCorrupt                     a WARC that does not parse; names file and offset
    │   ├── DigestMismatch                     a record whose digest does not match its bytes
    │   ├── ReplayError                        a record that cannot be replayed (revisit w/o original)
    │   ├── ArchiveWriteError                  writing a WARC failed           exit 8 when out of space
    │   └── ArchiveLocked                      another crawler holds the archive dir  exit 9
    ├── FrontierError                 exit 10
    │   └── FrontierCorrupt                    the state database is damaged
    └── Interrupted                   exit 11  SIGINT/SIGTERM: stopped cleanly, resumable

Exit code 0 is success; 2 is a command-line usage error (argparse, ``UsageError``); 3 means
the run finished but some URLs failed, a site refused us or could not be reached
(``crawler.outcomes``; see the summary).
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SOME_FAILED = 3
EXIT_INVALID_CONFIG = 4
EXIT_INPUT = 5
EXIT_NOT_EXTRACTED = 6
EXIT_ARCHIVE = 7
EXIT_OUT_OF_SPACE = 8
EXIT_LOCKED = 9
EXIT_FRONTIER = 10
EXIT_INTERRUPTED = 11


class CrawlerError(Exception):
    """Base of every error the crawler raises on purpose."""

    exit_code = EXIT_ERROR
    reason = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class ConfigError(CrawlerError):
    """Invalid configuration; the message names file, line and key and what is allowed."""

    exit_code = EXIT_INVALID_CONFIG
    reason = "config"


class UsageError(ConfigError):
    """A command-line value that cannot be used (``--max-pages -5``, ``--sites nosuch``, ``--since ²d``)."""

    exit_code = EXIT_USAGE
    reason = "usage"


class InputError(CrawlerError):
    exit_code = EXIT_INPUT
    reason = "input"


class ExtractionError(CrawlerError):
    exit_code = EXIT_NOT_EXTRACTED
    reason = "extract"


class NotAnArticle(ExtractionError):
    reason = "non_article"


class DocumentTooLarge(ExtractionError):
    reason = "document_too_large"


class DecodeError(CrawlerError):
    exit_code = EXIT_NOT_EXTRACTED
    reason = "bad_encoding"


class TruncatedEncoding(DecodeError):
    reason = "truncated_encoding"


class BadEncoding(DecodeError):
    reason = "bad_encoding"


class DecodedTooLarge(DecodeError):
    reason = "decoded_too_large"


class UnsupportedEncoding(DecodeError):
    reason = "unsupported_encoding"


class FetchError(CrawlerError):
    """One URL failed; ``reason`` is the frontier's ``failed:<reason>`` suffix."""

    exit_code = EXIT_SOME_FAILED
    reason = "fetch"


class ScopeViolation(FetchError):
    reason = "scope"


class RobotsDisallowed(FetchError):
    reason = "robots"


class TooLarge(FetchError):
    reason = "too_large"


class TooManyRedirects(FetchError):
    reason = "too_many_redirects"


class HttpStatusError(FetchError):
    reason = "http"


class TransportError(FetchError):
    reason = "transport"


class ArchiveError(CrawlerError):
    exit_code = EXIT_ARCHIVE
    reason = "archive"


class ArchiveCorrupt(ArchiveError):
    reason = "archive_corrupt"


class DigestMismatch(ArchiveError):
    reason = "digest_mismatch"


class ReplayError(ArchiveError):
    reason = "replay"


class ArchiveWriteError(ArchiveError):
    reason = "archive_write"


class OutOfSpace(ArchiveWriteError):
    exit_code = EXIT_OUT_OF_SPACE
    reason = "out_of_space"


class ArchiveLocked(ArchiveError):
    exit_code = EXIT_LOCKED
    reason = "archive_locked"


class FrontierError(CrawlerError):
    exit_code = EXIT_FRONTIER
    reason = "frontier"


class FrontierCorrupt(FrontierError):
    reason = "frontier_corrupt"


class Interrupted(CrawlerError):
    exit_code = EXIT_INTERRUPTED
    reason = "interrupted"


# ---------------------------------------------------------------- a full disk, however it shows

SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})  # EFBIG: RLIMIT_FSIZE or fs limit
_SQLITE_FULL = 13  # SQLite's primary result code for "database or disk is full"
# SQLite turns only ENOSPC into SQLITE_FULL; a quota (EDQUOT) or file-size limit (EFBIG) is an
# I/O error writing, and a full disk in WAL mode can be one growing the -shm file: none is damage
_SQLITE_WRITE_ERRORS = frozenset({10 | 3 << 8, 10 | 4 << 8, 10 | 19 << 8})  # IOERR_WRITE, _FSYNC, _SHMSIZE


def is_out_of_space(exc: BaseException | None) -> bool:
    """Whether ``exc``, or an error that led to it, means the disk (or a quota, or the file size
    limit) is full: ``OSError`` ENOSPC/EDQUOT/EFBIG, SQLite's ``SQLITE_FULL`` or its "disk I/O
    error" writing (``SQLITE_IOERR_WRITE``/``_FSYNC``/``_SHMSIZE``: never a sign of damage)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OutOfSpace):
            return True
        if isinstance(exc, OSError) and exc.errno in SPACE_ERRNOS:
            return True
        code = getattr(exc, "sqlite_errorcode", None)
        if isinstance(code, int) and (code & 0xFF == _SQLITE_FULL or code in _SQLITE_WRITE_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def out_of_space(where: str, exc: BaseException) -> OutOfSpace:
    """The one message for a full disk: what filled up, and that nothing is lost by stopping."""
    if isinstance(exc, OutOfSpace):
        return exc
    name = getattr(exc, "sqlite_errorname", None)
    detail = f"{exc}, {name}" if name else str(exc)
    return OutOfSpace(
        f"{where}: no space left on the disk, or a quota or file-size limit reached ({detail}); the "
        "crawl stopped with everything it recorded intact, and no URL was marked done without its "
        "records. Free disk space (or pass --archive DIR on another disk) and run the same command "
        "again to resume"
    )


@contextlib.contextmanager
def full_disk_as_out_of_space(where: str) -> Iterator[None]:
    """However a full disk shows (an ``OSError`` from any file, a SQLite error, raised in this
    thread or passed on from another), it leaves as ``OutOfSpace``: a message, not a traceback."""
    try:
        yield
    except OutOfSpace:
        raise
    except Exception as exc:
        if is_out_of_space(exc):
            raise out_of_space(where, exc) from exc
        raise
