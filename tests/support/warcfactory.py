"""WARC files for tests and benchmarks: good ones written by ``WarcWriter``, broken ones made
from good ones, one kind of damage each (RELIABILITY group H).

Good files come from the fixture pages under ``tests/fixtures/sites/`` served as exchanges.
Every broken variant is a pure function ``bytes -> bytes`` (or writes a small file from
hand-made records), so a test can name exactly the damage it checks.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from crawler.config import ArchiveSettings
from crawler.models import Exchange, Source
from crawler.warc.writer import WarcWriter

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SITES = FIXTURES / "sites"
WARC_FIXTURES = FIXTURES / "warc"
DEFAULT_FETCHED = datetime(2026, 11, 21, 10, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FixturePage:
    url: str
    body: bytes
    name: str
    fetched: datetime | None
    is_article: bool


def fixture_pages(sites: Iterable[str] | None = None) -> list[FixturePage]:
    """Every fixture page with its URL (from the expected JSON beside it), sorted by path."""
    wanted = set(sites) if sites is not None else None
    pages = []
    for meta in sorted(SITES.glob("*/*.json")):
        if wanted is not None and meta.parent.name not in wanted:
            continue
        html = meta.with_suffix(".html")
        if not html.exists():
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        page = data.get("page") or {}
        fetched = page.get("fetched")
        moment = datetime.fromisoformat(fetched.replace("Z", "+00:00")) if fetched else None
        pages.append(FixturePage(page["url"], html.read_bytes(), f"{meta.parent.name}/{meta.stem}", moment,
                                 bool(data.get("article"))))
    return pages


def exchange(
    url: str,
    body: bytes,
    *,
    fetched: datetime = DEFAULT_FETCHED,
    status: int = 200,
    reason: str = "OK",
    content_type: str = "text/html; charset=utf-8",
    content_encoding: str | None = None,
    headers: Sequence[tuple[str, str]] = (),
    truncated: str | None = None,
) -> Exchange:
    """An exchange as the fetcher makes it; ``body`` is encoded when ``content_encoding`` says so."""
    stored = body
    response_headers = [("Content-Type", content_type)]
    if content_encoding == "gzip":
        stored = gzip.compress(body, mtime=0)
    elif content_encoding == "deflate":
        stored = zlib.compress(body)
    elif content_encoding is not None:
        raise ValueError(f"no test encoder for {content_encoding!r}")
    if content_encoding:
        response_headers.append(("Content-Encoding", content_encoding))
    response_headers.append(("Content-Length", str(len(stored))))
    response_headers.extend(headers)
    return Exchange(
        url=url, status=status, reason=reason, http_version="HTTP/1.1",
        response_headers=tuple(response_headers), body=stored, fetched=fetched,
        request_headers=(("User-Agent", "crawler-tests"), ("Accept-Encoding", "gzip")),
        ip_address="127.0.0.1", truncated=truncated,
    )


def fixture_exchanges(
    pages: Sequence[FixturePage], *, start: datetime = DEFAULT_FETCHED, content_encoding: str | None = "gzip"
) -> list[Exchange]:
    """One exchange per fixture page, one second apart (or at the page's own fetch time)."""
    return [
        exchange(page.url, page.body, fetched=page.fetched or start + timedelta(seconds=index),
                 content_encoding=content_encoding)
        for index, page in enumerate(pages)
    ]


def write_warcs(
    directory: Path, exchanges: Iterable[Exchange], *, settings: ArchiveSettings | None = None,
    prefix: str = "test",
) -> tuple[list[Path], list[Source]]:
    """Write ``exchanges`` with the real writer; return the closed files and each capture's Source."""
    chosen = settings or ArchiveSettings(prefix=prefix, gzip_level=2)
    sources = []
    info = {"operator": "tests", "robots": "obey"}
    with WarcWriter(directory, chosen, warcinfo=info, host="testhost") as writer:
        for item in exchanges:
            sources.append(writer.write_exchange(item))
        files = writer.close()
    return files, sources


# ---------------------------------------------------------------------- damage, one kind each


def member_offsets(data: bytes) -> list[int]:
    """The offset of every gzip member in a WARC.gz."""
    offsets = []
    position = 0
    while position < len(data):
        offsets.append(position)
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        inflater.decompress(data[position:])
        if not inflater.eof:
            break
        position = len(data) - len(inflater.unused_data)
    return offsets


def cut_tail(data: bytes, count: int) -> bytes:
    """H1–H3: the file without its last ``count`` bytes."""
    return data[:-count]


def flip_byte(data: bytes, position: int | None = None) -> bytes:
    """H4: one byte inverted (the middle one by default)."""
    at = len(data) // 2 if position is None else position
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


def _members(data: bytes) -> list[bytes]:
    offsets = member_offsets(data) + [len(data)]
    return [data[start:end] for start, end in zip(offsets, offsets[1:], strict=False)]


def rewrite_member(data: bytes, index: int, old: bytes, new: bytes) -> bytes:
    """H5: member ``index`` decompressed, ``old`` replaced by ``new`` (same length), recompressed.

    The gzip stays valid; the record's digests no longer match its bytes.
    """
    if len(old) != len(new):
        raise ValueError("keep the length so Content-Length stays right")
    members = _members(data)
    plain = gzip.decompress(members[index])
    if old not in plain:
        raise ValueError(f"{old!r} not in member {index}")
    members[index] = gzip.compress(plain.replace(old, new, 1), mtime=0)
    return b"".join(members)


def whole_file_gzip(data: bytes) -> bytes:
    """H6: all records in one gzip stream (not one member per record)."""
    return gzip.compress(gzip.decompress(data), mtime=0)


def trailing_garbage(data: bytes, garbage: bytes = b"\x1f\x8b\x08\x00garbage") -> bytes:
    """H7: bytes after the last record that are not a record."""
    return data + garbage


def drop_members(data: bytes, indexes: Iterable[int]) -> bytes:
    """A file without the members at ``indexes`` (e.g. the original a revisit refers to: H8)."""
    dropped = set(indexes)
    return b"".join(member for index, member in enumerate(_members(data)) if index not in dropped)


# ---------------------------------------------------------------------- hand-made records


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode("ascii")


def raw_record(
    rec_type: str,
    block: bytes,
    *,
    uri: str | None = None,
    version: str = "WARC/1.1",
    record_id: str = "<urn:uuid:00000000-0000-0000-0000-000000000000>",
    date: str = "2026-11-21T10:00:00Z",
    extra: Sequence[tuple[str, str]] = (),
    content_type: str | None = "application/http; msgtype=response",
    declared_length: int | None = None,
    payload: bytes | None = None,
) -> bytes:
    """One uncompressed WARC record with digests computed over ``block``."""
    headers = [("WARC-Type", rec_type), ("WARC-Record-ID", record_id), ("WARC-Date", date)]
    if uri is not None:
        headers.append(("WARC-Target-URI", uri))
    headers.append(("WARC-Block-Digest", sha1_digest(block)))
    if payload is not None:
        headers.append(("WARC-Payload-Digest", sha1_digest(payload)))
    if content_type:
        headers.append(("Content-Type", content_type))
    headers.extend(extra)
    headers.append(("Content-Length", str(len(block) if declared_length is None else declared_length)))
    head = version + "\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
    return head.encode("utf-8") + block + b"\r\n\r\n"


def http_response(body: bytes, headers: Sequence[tuple[str, str]] = (), status: str = "200 OK") -> bytes:
    head = f"HTTP/1.1 {status}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


def chunked(body: bytes, size: int = 1000) -> bytes:
    """``body`` in HTTP/1.1 chunked framing."""
    parts = [f"{len(body[i:i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
             for i in range(0, len(body), size)]
    return b"".join(parts) + b"0\r\n\r\n"


def gz_members(records: Iterable[bytes]) -> bytes:
    """Records as a WARC.gz, one member each."""
    return b"".join(gzip.compress(record, mtime=0) for record in records)
