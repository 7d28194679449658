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


# ---------------------------------------------------------------------- the committed fixtures

SMALL_PAGES = ("suara/synthetic-jsonld", "suara/synthetic-graph-regional", "suara/synthetic-amp-2017-06-21")
DUPLICATE_URL = "https://www.suara.com/bisnis/2024/05/30/140501/harga-cabai-rawit-salinan-halaman"


def small_pages() -> list[FixturePage]:
    """Three small real-template pages (suara), in a fixed order."""
    by_name = {page.name: page for page in fixture_pages(["suara"])}
    return [by_name[name] for name in SMALL_PAGES]


def good_exchanges() -> list[Exchange]:
    """The good fixture's captures: three articles, then the first payload again at another URL
    (archived as a revisit, RELIABILITY C9), and a 404 page."""
    pages = small_pages()
    exchanges = fixture_exchanges(pages)
    exchanges.append(exchange(DUPLICATE_URL, pages[0].body, fetched=DEFAULT_FETCHED + timedelta(seconds=10),
                              content_encoding="gzip"))
    missing = b"<html><body>404</body></html>"
    exchanges.append(exchange("https://www.suara.com/tidak-ada", missing, status=404, reason="Not Found",
                              fetched=DEFAULT_FETCHED + timedelta(seconds=11)))
    return exchanges


def _page_record(page: FixturePage, *, record_id: str, headers: Sequence[tuple[str, str]] = (),
                 body: bytes | None = None, version: str = "WARC/1.1", rec_type: str = "response",
                 uri: str | None = None, extra: Sequence[tuple[str, str]] = (),
                 declared_length: int | None = None) -> bytes:
    payload = page.body if body is None else body
    block = http_response(payload, [("Content-Type", "text/html; charset=utf-8"), *headers])
    return raw_record(rec_type, block, uri=uri or page.url, version=version, record_id=record_id,
                      payload=payload, extra=extra, declared_length=declared_length)


def _uuid(number: int) -> str:
    return f"<urn:uuid:00000000-0000-4000-8000-{number:012d}>"


def hand_made() -> dict[str, bytes]:
    """Fixtures that the writer would never produce, made record by record."""
    first, second, third = small_pages()
    info = raw_record("warcinfo", b"software: tests\r\n", content_type="application/warc-fields",
                      record_id=_uuid(1))
    original = _page_record(first, record_id=_uuid(2))
    revisit_block = http_response(b"", [("Content-Type", "text/html; charset=utf-8")])
    no_refers = raw_record("revisit", revisit_block, uri=DUPLICATE_URL, record_id=_uuid(3),
                           extra=[("WARC-Payload-Digest", sha1_digest(first.body)),
                                  ("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest")])
    nothing = raw_record("revisit", revisit_block, uri=DUPLICATE_URL + "-2", record_id=_uuid(4),
                         extra=[("WARC-Profile", "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest")])
    chunked_header = [("Transfer-Encoding", "chunked")]
    huge = _page_record(second, record_id=_uuid(5), declared_length=10_000_000_000)
    return {
        # H9: a revisit without WARC-Refers-To*: found by payload digest; one with nothing: an error
        "revisit-missing-refers-to.warc.gz": gz_members([info, original, no_refers, nothing]),
        # H10: a small record that declares 10 GB, then a good one
        "huge-declared-length.warc.gz": gz_members([info, huge, _page_record(third, record_id=_uuid(6))]),
        "huge-declared-length.warc": info + huge + _page_record(third, record_id=_uuid(6)),
        # H11: chunked body stored chunked (wget/warcprox), and header kept but body de-chunked (pywb #584)
        "chunked-stored-chunked.warc.gz": gz_members([info, _page_record(
            first, record_id=_uuid(7), headers=chunked_header, body=chunked(first.body))]),
        "chunked-header-dechunked-body.warc.gz": gz_members([info, _page_record(
            first, record_id=_uuid(8), headers=chunked_header)]),
        # H12: target URIs that are not paths to anything, and not http
        "hostile-target-uri.warc.gz": gz_members([info,
            _page_record(second, record_id=_uuid(9), uri="http://x/../../etc/passwd"),
            _page_record(second, record_id=_uuid(10), uri="http://x/a page with spaces"),
            _page_record(second, record_id=_uuid(11), uri="ftp://x/file"),
            _page_record(third, record_id=_uuid(12))]),
        # H13: WARC/1.0 and 1.1 records in one file, and a record type nobody defined
        "warc10-and-unknown-type.warc.gz": gz_members([info,
            _page_record(first, record_id=_uuid(13), version="WARC/1.0"),
            raw_record("x-custom-type", b"whatever\r\n", uri="urn:x", content_type="text/plain",
                       record_id=_uuid(14)),
            _page_record(third, record_id=_uuid(15))]),
        # H13: an ARC file: rejected with a conversion hint
        "tiny.arc": (b"filedesc://tiny.arc 0.0.0.0 20161121100000 text/plain 76\n"
                     b"1 1 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n\n"),
    }


def arc_file(records: Sequence[tuple[str, str, bytes]], *, name: str = "test.arc", gz: bool = False) -> bytes:
    """An ARC (version 1) file: the ``filedesc`` record, then one record per (url, date, block)."""
    version = b"1 1 InternetArchive\nURL IP-address Archive-date Content-type Archive-length\n"
    head = f"filedesc://{name} 0.0.0.0 20161121100000 text/plain {len(version)}\n".encode()
    parts = [head + version + b"\n"]
    for url, stamp, block in records:
        parts.append(f"{url} 127.0.0.1 {stamp} text/html {len(block)}\n".encode() + block + b"\n")
    return b"".join(gzip.compress(part, mtime=0) for part in parts) if gz else b"".join(parts)


def crcrlf_record(record: bytes) -> bytes:
    """A plain record whose header lines (WARC and HTTP) end in CR CR LF, the shape of pywb's sample
    ``missing-status-text.warc``; Content-Length counts the longer HTTP head."""
    head, _, rest = record.partition(b"\r\n\r\n")
    http_head, _, body = rest.partition(b"\r\n\r\n")
    block = http_head.replace(b"\r\n", b"\r\r\n") + b"\r\r\n\r\r\n" + body[: -len(b"\r\n\r\n")]
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith((b"content-length:",
                                                                                    b"warc-block-digest:"))]
    lines.append(b"Content-Length: " + str(len(block)).encode())
    return b"\r\r\n".join(lines) + b"\r\r\n\r\r\n" + block + b"\r\n\r\n"


def warcio_revisit_pair(page: FixturePage, revisit_uri: str) -> bytes:
    """A response and a revisit of its payload written by warcio itself: ``create_revisit_record``
    without HTTP headers gives a revisit whose block is empty (allowed by WARC 1.1)."""
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    dated = {"WARC-Date": "2026-11-21T10:00:00Z"}
    original = writer.create_warc_record(page.url, "response", payload=io.BytesIO(page.body),
                                         http_headers=http, warc_headers_dict=dated)
    writer.write_record(original)
    digest = original.rec_headers.get_header("WARC-Payload-Digest")
    revisit = writer.create_revisit_record(revisit_uri, digest, page.url, "2026-11-21T10:00:00Z",
                                           warc_headers_dict={"WARC-Date": "2026-11-21T10:00:05Z"})
    writer.write_record(revisit)
    return out.getvalue()


def odd_records() -> dict[str, bytes]:
    """Records that are odd but not the writer's (fault matrix K7): each file holds good records
    before and after the odd one, so a test sees that the rest is read."""
    first, second, third = small_pages()
    info = raw_record("warcinfo", b"software: tests\r\n", content_type="application/warc-fields",
                      record_id=_uuid(20))
    before = _page_record(first, record_id=_uuid(21))
    after = _page_record(third, record_id=_uuid(22))
    superscript = _page_record(second, record_id=_uuid(23)).replace(
        f"Content-Length: {len(http_response(second.body, [('Content-Type', 'text/html; charset=utf-8')]))}"
        .encode(), "Content-Length: \u00b2".encode())
    def html(page: FixturePage) -> bytes:
        return http_response(page.body, [("Content-Type", "text/html; charset=utf-8")])

    shake = _page_record(second, record_id=_uuid(24)).replace(
        b"WARC-Payload-Digest: sha1:", b"WARC-Payload-Digest: shake_128:")
    return {
        "content-length-superscript.warc.gz": gz_members([info, before, superscript, after]),
        "content-length-superscript.warc": info + before + superscript + after,
        "unknown-digest-algorithm.warc.gz": gz_members([info, before, shake, after]),
        "empty-block-revisit.warc.gz": gz_members([info]) + warcio_revisit_pair(first, DUPLICATE_URL),
        "crcrlf-header-lines.warc": info + crcrlf_record(_page_record(first, record_id=_uuid(25))) + after,
        "article.arc": arc_file([(first.url, "20261121100000", html(first))], name="article.arc"),
        "article.arc.gz": arc_file([(first.url, "20261121100000", html(first)),
                                    (third.url, "20261121100001", html(third))],
                                   name="article.arc.gz", gz=True),
    }


def broken_from(good: bytes) -> dict[str, bytes]:
    """Damaged copies of the good WARC.gz, one kind of damage each (H1–H8)."""
    offsets = member_offsets(good)
    plain = [gzip.decompress(good[start:end]) for start, end in zip(offsets, offsets[1:] + [len(good)],
                                                                     strict=True)]
    revisit = next(i for i, member in enumerate(plain) if b"WARC-Type: revisit" in member)
    refers_to = plain[revisit].split(b"WARC-Refers-To: ", 1)[1].split(b"\r\n", 1)[0]
    original = next(i for i, member in enumerate(plain) if b"WARC-Record-ID: " + refers_to in member)
    response = next(i for i, member in enumerate(plain) if b"WARC-Type: response" in member)
    return {
        "cut-tail-30.warc.gz": cut_tail(good, 30),
        "cut-tail-200.warc.gz": cut_tail(good, 200),
        "cut-tail-600.warc.gz": cut_tail(good, 600),
        "flipped-byte.warc.gz": flip_byte(good),
        "bad-digest-valid-gzip.warc.gz": rewrite_member(good, response, b"charset=utf-8", b"charset=UTF-8"),
        "whole-file-gzip.warc.gz": whole_file_gzip(good),
        "trailing-garbage.warc.gz": trailing_garbage(good),
        "revisit-without-original.warc.gz": drop_members(good, [original, original + 1]),
    }


def write_fixtures(target: Path = WARC_FIXTURES) -> list[Path]:
    """(Re)write every committed WARC fixture under ``target``."""
    import tempfile

    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        files, _ = write_warcs(Path(scratch), good_exchanges())
        good = files[0].read_bytes()
    made = {"good.warc.gz": good, "good.warc": gzip.decompress(good)}
    made.update(broken_from(good))
    made.update(hand_made())
    made.update(odd_records())
    written = []
    for name, data in made.items():
        (target / name).write_bytes(data)
        written.append(target / name)
    return written


if __name__ == "__main__":
    for path in write_fixtures():
        print(path, path.stat().st_size)
