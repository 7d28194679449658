"""Bounded content decoding (RELIABILITY B1–B4, B7) and the live-exchange → Page path."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta, timezone

import brotli
import pytest
import zstandard

from crawler.decode import PIECE_BYTES, decode_body, page_from_exchange, parse_content_encoding
from crawler.errors import BadEncoding, DecodedTooLarge, TruncatedEncoding, UnsupportedEncoding
from crawler.models import Source
from tests.support import warcfactory as wf

PAGE = b"<html><body>" + b"<p>Berita hari ini dari Jakarta.</p>" * 2000 + b"</body></html>"
CAP = 10_000_000


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gzip.compress(PAGE)),
        ("x-gzip", gzip.compress(PAGE)),
        ("deflate", zlib.compress(PAGE)),
        ("deflate", _raw_deflate(PAGE)),  # B4: raw deflate as some servers send it
        ("br", brotli.compress(PAGE)),
        ("zstd", zstandard.ZstdCompressor().compress(PAGE)),
        ("identity", PAGE),
        (None, PAGE),
        ("GZIP", gzip.compress(PAGE)),
    ],
)
def test_every_supported_coding_decodes(coding: str | None, encoded: bytes) -> None:
    assert decode_body(encoded, coding, max_decoded_bytes=CAP) == PAGE


def test_decoding_streams_chunks() -> None:
    encoded = gzip.compress(PAGE)
    pieces = [encoded[i : i + 7] for i in range(0, len(encoded), 7)]
    assert decode_body(iter(pieces), "gzip", max_decoded_bytes=CAP) == PAGE


def test_B7_stacked_codings_are_undone_last_first() -> None:
    assert decode_body(gzip.compress(gzip.compress(PAGE)), "gzip, gzip", max_decoded_bytes=CAP) == PAGE
    assert decode_body(brotli.compress(gzip.compress(PAGE)), "gzip, br", max_decoded_bytes=CAP) == PAGE
    assert parse_content_encoding(" gzip , identity, br") == ["gzip", "br"]


def test_several_gzip_members_are_one_body() -> None:
    two_members = gzip.compress(PAGE) + gzip.compress(b"tail")
    assert decode_body(two_members, "gzip", max_decoded_bytes=CAP) == PAGE + b"tail"


def test_B7_unknown_coding_is_unsupported() -> None:
    with pytest.raises(UnsupportedEncoding, match="x-foo"):
        decode_body(PAGE, "x-foo", max_decoded_bytes=CAP, where="https://x.test/a")


@pytest.mark.parametrize(
    ("coding", "encoded"),
    [
        ("gzip", gzip.compress(PAGE)[:40]),  # B1
        ("deflate", zlib.compress(PAGE)[:-10]),
        ("br", brotli.compress(PAGE)[:-5]),
        ("zstd", zstandard.ZstdCompressor().compress(PAGE)[:-5]),
    ],
)
def test_B1_a_cut_stream_is_truncated_encoding(coding: str, encoded: bytes) -> None:
    with pytest.raises(TruncatedEncoding, match="https://x.test/a"):
        decode_body(encoded, coding, max_decoded_bytes=CAP, where="https://x.test/a")


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_B2_declared_coding_over_plain_bytes_is_bad_encoding(coding: str) -> None:
    with pytest.raises(BadEncoding):
        decode_body(b"<html>plain, not compressed at all</html>", coding, max_decoded_bytes=CAP)


def _bomb(coding: str, size: int) -> bytes:
    zeros = b"\0" * size
    if coding == "gzip":
        return gzip.compress(zeros)
    if coding == "br":
        return brotli.compress(zeros)
    return zstandard.ZstdCompressor().compress(zeros)


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_B3_B4_bombs_stop_at_the_cap_with_bounded_memory(coding: str) -> None:
    cap = 5 * 1024 * 1024
    bomb = _bomb(coding, 50 * 1024 * 1024)
    assert len(bomb) < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(DecodedTooLarge, match="max_decoded_bytes"):
            decode_body(bomb, coding, max_decoded_bytes=cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < cap * 1.2 + 4 * PIECE_BYTES + len(bomb), f"{coding}: peak {peak} bytes"


def test_page_from_exchange_matches_what_the_archive_keeps() -> None:
    moment = datetime(2026, 11, 21, 17, 0, 0, 250000, tzinfo=timezone(timedelta(hours=7)))
    item = wf.exchange("https://www.suara.com/a", PAGE, fetched=moment, content_encoding="gzip",
                       headers=[("Transfer-Encoding", "chunked"), ("X-Nama", "Séno")])
    source = Source(warc="x.warc.gz", offset=10, record_id="<urn:uuid:1>", fetched="2026-11-21T10:00:00Z")
    page = page_from_exchange(item, source, CAP)
    assert page.body == PAGE and page.status == 200 and page.source == source
    assert page.fetched == datetime(2026, 11, 21, 10, 0, 0, 250000, tzinfo=UTC)
    names = [name.lower() for name, _ in page.headers]
    assert "transfer-encoding" not in names and "content-encoding" in names
    assert page.header("X-Nama") == "S%C3%A9no", "non-ASCII values as warcio stores them"
