"""The fault matrix (shared/RELIABILITY.md) through the whole crawl: the rows the fetch-level
tests check on one request, checked again for what the crawl leaves behind (frontier state,
WARC records, articles, summary, exit code), plus the rows only a whole run can show (crash,
signals, lock, resume, config changes).

Each test is named by its row id. Most rows share one in-process crawl of many faulty URLs
(``faults``), read back once; timing, robots, listing and rebinding rows have small crawls of
their own; crash, signal, lock and exit-code rows run ``crawler crawl`` as a subprocess
against a ``PortalServer`` proxy. Every crawl reaches only loopback, and only the servers'
own address is allowed among private addresses.

Rows that cannot apply here say why in ``tests/test_matrix_coverage.py::NOT_APPLICABLE``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import zlib
from base64 import b32encode
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import brotli
import pytest
import zstandard

from crawler.frontier import Status
from crawler.progress import summary_lines
from crawler.replay import ReplayOptions, ReplaySummary, replay
from crawler.warc.verify import verify_file
from tests.support import matrixkit as mk
from tests.support.faultserver import FaultServer, Handler, Request, respond
from tests.support.fetchkit import self_signed_server_context
from tests.support.portalserver import Fault, PortalServer

HTML = (("Content-Type", "text/html; charset=utf-8"),)
ATTEMPTS = 2
MAX_BODY = 200_000
MAX_DECODED = 2_000_000
MAX_REDIRECTS = 3


def _article(name: str) -> bytes:
    """An article page whose bytes are unique to ``name`` (no accidental revisit records)."""
    return mk.article_html(f"Judul {name}", paragraphs=(mk.PROSE, f"Kabar {name} dari Jakarta hari ini."))


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _encoded(body: bytes, coding: str) -> Handler:
    return respond(200, body, (*HTML, ("Content-Encoding", coding)))


async def _unique_article(request: Request, writer: asyncio.StreamWriter) -> bool:
    return await respond(200, _article(request.path), HTML)(request, writer)


B1_BYTES = gzip.compress(_article("B1"), mtime=0)[:40]
ZEROS = b"\0" * (4 * MAX_DECODED)
BIG_BR_PAGE = mk.article_html("Panjang", paragraphs=[mk.PROSE] * 2000)  # ~480 KB, inflates from < 1 KB

# path → handler; the names say which row each serves
ROUTES: dict[str, Handler] = {
    "/art/*": _unique_article,
    "/B1_truncated_gzip": respond(200, B1_BYTES,
                                  (*HTML, ("Content-Encoding", "gzip"), ("Content-Length", "40"))),
    "/B2_gzip_lies": _encoded(_article("B2"), "gzip"),
    "/B3_gzip_bomb": _encoded(gzip.compress(ZEROS), "gzip"),
    "/B4_br_bomb": _encoded(brotli.compress(ZEROS), "br"),
    "/B4_zstd_bomb": _encoded(zstandard.ZstdCompressor().compress(ZEROS), "zstd"),
    "/B4_raw_deflate": _encoded(_raw_deflate(_article("B4 raw")), "deflate"),
    "/B4_big_br_page": _encoded(brotli.compress(BIG_BR_PAGE), "br"),
    "/B7_gzip_gzip": _encoded(gzip.compress(gzip.compress(_article("B7"))), "gzip, gzip"),
    "/B7_x_foo": _encoded(_article("B7 x-foo"), "x-foo"),
    "/B9_pdf": respond(200, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj\n" * 300, HTML),
    "/B9_jpeg": respond(200, b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8, HTML),
    "/B9_html_as_octet_stream": respond(200, _article("B9"), (("Content-Type", "application/octet-stream"),)),
    "/C8_unsolicited_304": respond(304, b"", ()),
    "/C9_same/*": respond(200, _article("C9"), HTML),
}

FAULT_PATHS = [
    "/art/ok", "/art/other", "/hang", "/slowloris?interval=0.1", "/underrun", "/overrun", "/broken_chunked",
    "/illegal_chunk", "/garbage", "/http09", "/header_bomb", "/many_headers", "/bad_cl/neg", "/bad_cl/abc",
    "/bad_cl/conflict", "/bad_cl/cl_chunked", "/reset", "/close_each/1", "/close_each/2",
    "/declared_huge", "/infinite", "/status/503", "/once/500/C4", "/status/404", "/status/410", "/empty",
    "/loop", "/C9_same/a", "/C9_same/b", *(path for path in ROUTES if not path.endswith("*")),
]


@dataclass(frozen=True)
class Faults:
    """The main fault crawl: what it left, and what each server saw."""

    out: mk.CrawlOutcome
    server: FaultServer
    other: FaultServer
    canary: FaultServer
    closed_port_url: str
    redirects: dict[str, str]  # redirect target → the seed URL that redirects there
    replayed: ReplaySummary
    replayed_articles: list[dict[str, object]]

    def url(self, path: str) -> str:
        return self.server.url(path)

    def state(self, path: str) -> str:
        return self.out.state(self.url(path))

    def hits(self, path: str) -> int:
        return len(self.server.hits_for(urlpath(path)))

    def captures(self, path: str) -> list[mk.Record]:
        return self.out.captures(self.url(path))


def urlpath(path: str) -> str:
    return path.split("?", 1)[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


REDIRECT_TARGETS = [
    "file:///etc/passwd", "ftp://127.0.0.1/x", "data:text/html,hi", "javascript:alert(1)",  # D2
    "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",  # D3
    "https://other.example/berita/1",  # D7
]
OBFUSCATED = ["2130706434", "0x7f.0.0.2", "0177.0.0.2", "127.2", "[::ffff:127.0.0.2]", "0.0.0.0"]  # D5


async def _faults_scenario(tmp: Path) -> Faults:
    archive = tmp / "faults"
    async with FaultServer() as server, FaultServer() as other, FaultServer(host="127.0.0.2") as canary:
        for path, handler in ROUTES.items():
            server.route(path, handler)
        targets = [*REDIRECT_TARGETS, canary.url("/D4"),  # D4
                   *(f"http://{host}:{canary.port}/D5" for host in OBFUSCATED)]
        redirects = {target: server.url(f"/redirect?to={quote(target, safe='')}") for target in targets}
        closed = f"http://127.0.0.1:{closed_port()}/art/A1"
        seeds = [server.url(path) for path in FAULT_PATHS] + list(redirects.values()) + [
            server.url(f"/set_cookie?to={quote(other.url('/echo_headers'), safe='')}"),  # D8
            server.url("/echo_headers"), closed,
        ]
        config = mk.config_text(
            archive, mk.site_yaml("t", ["127.0.0.1"]), max_body_bytes=MAX_BODY,
            max_decoded_bytes=MAX_DECODED, max_redirects=MAX_REDIRECTS,
            timeouts_s={"connect": 1, "read": 0.4, "total": 0.8},
            retry={"attempts": ATTEMPTS, "backoff_base_s": 0.01, "backoff_max_s": 0.02,
                   "retry_after_max_s": 5},
        )
        out = await mk.crawl_in_process(config, archive, seeds)
    config_file = tmp / "faults.yaml"
    config_file.write_text(config)
    text = io.StringIO()
    options = ReplayOptions(max_decoded_bytes=MAX_DECODED, config_path=str(config_file))
    replayed = replay([archive], text, options, workers=1, on_damage=lambda message: None)
    return Faults(out, server, other, canary, closed, redirects, replayed,
                  [json.loads(line) for line in text.getvalue().splitlines()])


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Faults:
    return asyncio.run(_faults_scenario(tmp_path_factory.mktemp("matrix")))


def _nothing_archived(faults: Faults, path: str) -> None:
    assert faults.out.records_for(faults.url(path)) == [], f"{path}: something was archived"


def test_faults_crawl_ends_with_every_url_settled_and_every_warc_verifying(faults: Faults) -> None:
    out = faults.out
    unsettled = {url: mk.state(row) for url, row in out.rows.items()
                 if row.status not in (Status.DONE, Status.FAILED, Status.SKIPPED)
                 and url != faults.closed_port_url}
    assert unsettled == {}
    assert out.summary.exit_code == 3  # some URLs failed
    assert out.summary.warcs and not list(out.archive.glob("*.open"))
    for path in out.summary.warcs:
        report = verify_file(path)
        assert report.ok, report.lines()
    lines = "\n".join(summary_lines(out.summary))
    for reason in ("failed:protocol", "failed:timeout", "failed:too_large", "failed:ssrf"):
        assert reason in lines


# ---------------------------------------------------------------- A. transport and framing


def test_A1_refused_port_is_never_done_nothing_archived_other_hosts_unaffected(faults: Faults) -> None:
    # robots.txt of a refused origin is unreachable too: RFC 9309 says assume complete disallow,
    # so the URL stays queued (todo with a next attempt) and the summary names the origin.
    row = faults.out.rows[faults.closed_port_url]
    assert (row.status, row.reason) == (Status.TODO, "robots_unavailable") and row.next_attempt_at > 0
    assert faults.out.records_for(faults.closed_port_url) == []
    origin = faults.closed_port_url.rsplit("/art/", 1)[0]
    assert origin in faults.out.summary.robots_unavailable
    assert f"nothing fetched from {origin}" in "\n".join(summary_lines(faults.out.summary))
    assert faults.state("/art/ok") == "done" and faults.out.article(faults.url("/art/ok")) is not None


def test_A2_hang_is_a_timeout_retried_then_failed(faults: Faults) -> None:
    assert faults.state("/hang") == "failed:timeout"
    assert faults.hits("/hang") == ATTEMPTS
    _nothing_archived(faults, "/hang")


def test_A3_slowloris_is_cut_by_the_total_deadline_and_not_archived(faults: Faults) -> None:
    assert faults.state("/slowloris?interval=0.1") == "failed:timeout"
    assert faults.hits("/slowloris") == ATTEMPTS
    _nothing_archived(faults, "/slowloris?interval=0.1")  # chosen: a timed-out body is not a capture


def test_A4_underrun_is_retried_never_done_nothing_archived(faults: Faults) -> None:
    assert faults.state("/underrun") == "failed:protocol"
    assert faults.hits("/underrun") == ATTEMPTS
    _nothing_archived(faults, "/underrun")


def test_A5_overrun_record_holds_exactly_content_length_with_valid_digests(faults: Faults) -> None:
    (record,) = [r for r in faults.captures("/overrun") if r.type == "response"]
    assert record.payload == b"0123456789"
    digest = "sha1:" + b32encode(hashlib.sha1(b"0123456789").digest()).decode()
    assert record.header("WARC-Payload-Digest") == digest  # warc_records checked block digests too
    assert faults.out.rows[faults.url("/overrun")].status is not Status.TODO


def test_A6_broken_chunked_is_like_an_underrun(faults: Faults) -> None:
    assert faults.state("/broken_chunked") == "failed:protocol"
    assert faults.hits("/broken_chunked") == ATTEMPTS
    _nothing_archived(faults, "/broken_chunked")


def test_A7_illegal_chunk_size_fails_without_a_retry_storm(faults: Faults) -> None:
    assert faults.state("/illegal_chunk") == "failed:protocol"
    assert faults.hits("/illegal_chunk") <= ATTEMPTS
    _nothing_archived(faults, "/illegal_chunk")


@pytest.mark.parametrize("path", ["/garbage", "/http09"])
def test_A8_garbage_status_line_fails_with_a_log_line_naming_the_url(faults: Faults, path: str) -> None:
    assert faults.state(path) == "failed:protocol"
    assert any(faults.url(path) in line and "malformed HTTP" in line for line in faults.out.log)
    _nothing_archived(faults, path)


@pytest.mark.parametrize("path", ["/header_bomb", "/many_headers"])
def test_A9_header_bombs_fail_as_protocol_errors(faults: Faults, path: str) -> None:
    assert faults.state(path) == "failed:protocol"
    assert faults.hits(path) == 1
    _nothing_archived(faults, path)


@pytest.mark.parametrize("kind", ["neg", "abc", "conflict", "cl_chunked"])
def test_A10_bad_content_length_is_never_trusted(faults: Faults, kind: str) -> None:
    path = f"/bad_cl/{kind}"
    assert faults.state(path) == "failed:protocol"
    _nothing_archived(faults, path)


def test_A11_reset_mid_body_is_retried_and_no_partial_record_is_done(faults: Faults) -> None:
    assert faults.state("/reset") == "failed:connect"
    assert faults.hits("/reset") == ATTEMPTS
    _nothing_archived(faults, "/reset")


def test_A13_server_closing_keep_alive_connections_is_transparent(faults: Faults) -> None:
    for path in ("/close_each/1", "/close_each/2"):
        assert faults.out.rows[faults.url(path)].status is Status.DONE
        assert [r.status for r in faults.captures(path)] == [200]


# ---------------------------------------------------------------- B. encodings and sizes


def _replay_failed(faults: Faults, reason: str) -> int:
    return faults.replayed.failed[reason]


def test_B1_truncated_gzip_archives_the_raw_bytes_and_replay_gives_the_same_error(faults: Faults) -> None:
    assert faults.state("/B1_truncated_gzip") == "failed:truncated_encoding"
    (record,) = faults.captures("/B1_truncated_gzip")
    assert record.payload == B1_BYTES  # a faithful capture
    assert _replay_failed(faults, "truncated_encoding") == 1


def test_B2_declared_gzip_over_plain_bytes_archives_raw_and_fails(faults: Faults) -> None:
    assert faults.state("/B2_gzip_lies") == "failed:bad_encoding"
    (record,) = faults.captures("/B2_gzip_lies")
    assert record.type == "response" and record.payload == _article("B2")
    assert _replay_failed(faults, "bad_encoding") == 1


def test_B3_gzip_bomb_fails_decoded_too_large_with_the_bomb_archived(faults: Faults) -> None:
    assert faults.state("/B3_gzip_bomb") == "failed:decoded_too_large"
    (record,) = faults.captures("/B3_gzip_bomb")
    assert len(record.payload) < MAX_BODY  # the compressed bytes, as received
    assert faults.out.article(faults.url("/B3_gzip_bomb")) is None


def test_B4_br_and_zstd_bombs_are_bounded_like_gzip_and_raw_deflate_is_read(faults: Faults) -> None:
    assert faults.state("/B4_br_bomb") == "failed:decoded_too_large"
    assert faults.state("/B4_zstd_bomb") == "failed:decoded_too_large"
    assert _replay_failed(faults, "decoded_too_large") == 3  # B3 + both B4 bombs, as in the crawl
    assert faults.state("/B4_raw_deflate") == "done"
    raw = faults.out.article(faults.url("/B4_raw_deflate"))
    assert raw is not None and raw["title"] == "Judul B4 raw"


def test_B4_small_br_body_inflating_past_one_piece_is_read_whole(faults: Faults) -> None:
    # regression: brotli output held back after the input was taken in read as "truncated"
    assert faults.state("/B4_big_br_page") == "done"
    article = faults.out.article(faults.url("/B4_big_br_page"))
    assert article is not None and article["body"].count(mk.PROSE) == 2000


def test_B5_declared_oversize_is_skipped_before_reading(faults: Faults) -> None:
    assert faults.state("/declared_huge") == "skipped:too_large"
    assert faults.hits("/declared_huge") == 1
    _nothing_archived(faults, "/declared_huge")


def test_B6_endless_body_is_cut_into_a_truncated_record_and_not_retried(faults: Faults) -> None:
    assert faults.state("/infinite") == "failed:too_large"
    (record,) = faults.captures("/infinite")
    assert record.header("WARC-Truncated") == "length"
    assert len(record.payload) == MAX_BODY
    assert faults.hits("/infinite") == 1


def test_B7_stacked_gzip_is_undone_in_order_and_an_unknown_coding_is_archived_raw(faults: Faults) -> None:
    assert faults.state("/B7_gzip_gzip") == "done"
    stacked = faults.out.article(faults.url("/B7_gzip_gzip"))
    assert stacked is not None and stacked["title"] == "Judul B7"
    assert faults.state("/B7_x_foo") == "failed:unsupported_encoding"
    (record,) = faults.captures("/B7_x_foo")
    assert record.payload == _article("B7 x-foo")
    assert _replay_failed(faults, "unsupported_encoding") == 1


@pytest.mark.parametrize("path", ["/B9_pdf", "/B9_jpeg"])
def test_B9_binary_labelled_html_is_archived_but_not_extracted(faults: Faults, path: str) -> None:
    assert faults.state(path) == "done:non_article"
    assert [r.status for r in faults.captures(path)] == [200]
    assert faults.out.article(faults.url(path)) is None


def test_B9_html_labelled_octet_stream_is_read_by_its_bytes(faults: Faults) -> None:
    assert faults.state("/B9_html_as_octet_stream") == "done"
    article = faults.out.article(faults.url("/B9_html_as_octet_stream"))
    assert article is not None and article["title"] == "Judul B9"


# ---------------------------------------------------------------- C. HTTP semantics


def test_C3_persistent_503_is_tried_attempts_times_then_failed_unarchived(faults: Faults) -> None:
    assert faults.state("/status/503") == "failed:http_503"
    assert faults.hits("/status/503") == ATTEMPTS
    _nothing_archived(faults, "/status/503")  # retried 5xx attempts are not captures


def test_C4_500_then_200_is_one_capture_and_done(faults: Faults) -> None:
    assert faults.out.rows[faults.url("/once/500/C4")].status is Status.DONE
    assert faults.hits("/once/500/C4") == 2
    assert [r.status for r in faults.captures("/once/500/C4")] == [200]


@pytest.mark.parametrize("code", [404, 410])
def test_C5_not_found_is_archived_done_not_found_without_extraction(faults: Faults, code: int) -> None:
    path = f"/status/{code}"
    assert faults.state(path) == f"done:http_{code}"  # the status named, so the summary can count it
    assert faults.hits(path) == 1
    assert [r.status for r in faults.captures(path)] == [code]
    records = faults.out.records_for(faults.url(path))
    assert [r.type for r in records] == ["response", "request"]  # no metadata record: not extracted
    assert faults.out.article(faults.url(path)) is None


def test_C6_empty_200_is_archived_and_fails_extract_empty_with_a_clear_message(faults: Faults) -> None:
    assert faults.state("/empty") == "failed:extract_empty"
    (record,) = faults.captures("/empty")
    assert record.status == 200 and record.payload == b""
    assert any(faults.url("/empty") in line and "empty (0 bytes)" in line for line in faults.out.log)


def test_C8_no_conditional_requests_and_an_unsolicited_304_is_settled_unextracted(faults: Faults) -> None:
    # C8 as written (a 304 revisit on conditional recrawl) cannot apply: see NOT_APPLICABLE.
    conditional = [hit for hit in faults.server.hits
                   if hit.header("if-none-match") or hit.header("if-modified-since")]
    assert conditional == []
    assert faults.state("/C8_unsolicited_304") == "done:http_304"
    assert [r.status for r in faults.captures("/C8_unsolicited_304")] == [304]
    assert faults.out.article(faults.url("/C8_unsolicited_304")) is None


def test_C9_same_payload_at_two_urls_is_one_response_and_one_revisit(faults: Faults) -> None:
    first, second = faults.url("/C9_same/a"), faults.url("/C9_same/b")
    records = [*faults.out.captures(first), *faults.out.captures(second)]
    assert sorted(r.type for r in records) == ["response", "revisit"]
    response = next(r for r in records if r.type == "response")
    revisit = next(r for r in records if r.type == "revisit")
    assert revisit.header("WARC-Profile") == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
    assert revisit.header("WARC-Refers-To-Target-URI") == response.uri
    assert revisit.header("WARC-Refers-To-Date") == response.header("WARC-Date")
    assert revisit.header("WARC-Payload-Digest") == response.header("WARC-Payload-Digest")
    crawled = {a["url"]: a for a in faults.out.articles if a["url"] in (first, second)}
    replayed = {a["url"]: a for a in faults.replayed_articles if a["url"] in (first, second)}
    assert set(crawled) == set(replayed) == {first, second}
    for url in (first, second):
        assert crawled[url]["body"] == replayed[url]["body"] == crawled[first]["body"]


# ---------------------------------------------------------------- D. redirects, scope, SSRF


def _redirect_state(faults: Faults, target: str) -> str:
    return faults.out.state(faults.redirects[target])


def test_D1_redirect_loop_stops_at_max_redirects_each_hop_archived_once(faults: Faults) -> None:
    assert faults.state("/loop") == "failed:too_many_redirects"
    assert faults.hits("/loop") == MAX_REDIRECTS + 1
    hops = faults.captures("/loop")
    assert [r.status for r in hops] == [302] * (MAX_REDIRECTS + 1)  # one record per hop, no retries
    assert len({r.header("WARC-Record-ID") for r in hops}) == len(hops)


@pytest.mark.parametrize("target", REDIRECT_TARGETS[:4])
def test_D2_redirect_to_another_scheme_fails_scope_after_the_3xx_is_archived(
    faults: Faults, target: str
) -> None:
    assert _redirect_state(faults, target) == "failed:scope"
    assert [r.status for r in faults.out.captures(faults.redirects[target])] == [302]


@pytest.mark.parametrize("target", REDIRECT_TARGETS[4:6])
def test_D3_redirect_to_cloud_metadata_fails_ssrf(faults: Faults, target: str) -> None:
    assert _redirect_state(faults, target) == "failed:ssrf"


def test_D4_redirect_to_other_loopback_fails_ssrf_and_the_canary_is_untouched(faults: Faults) -> None:
    assert _redirect_state(faults, faults.canary.url("/D4")) == "failed:ssrf"
    assert faults.canary.connections == 0


@pytest.mark.parametrize("host", OBFUSCATED)
def test_D5_obfuscated_addresses_are_refused(faults: Faults, host: str) -> None:
    state = _redirect_state(faults, f"http://{host}:{faults.canary.port}/D5")
    assert state in ("failed:ssrf", "failed:scope")
    assert faults.canary.connections == 0


def test_D7_off_site_redirect_is_archived_not_followed_and_skipped(faults: Faults) -> None:
    target = REDIRECT_TARGETS[6]
    seed = faults.redirects[target]
    assert _redirect_state(faults, target) == "skipped:out_of_scope"
    (hop,) = faults.out.captures(seed)
    assert hop.status == 302 and hop.http_headers.get("Location") == target  # the chain, archived
    assert any(target in line for line in faults.out.log), "the log names where the redirect went"
    assert target not in faults.out.rows


def test_D8_no_cookie_or_credentials_reach_another_origin(faults: Faults) -> None:
    (echoed,) = faults.other.hits_for("/echo_headers")
    assert echoed.header("cookie") is None and echoed.header("authorization") is None
    for hit in faults.server.hits:
        assert hit.header("cookie") is None and hit.header("authorization") is None


# ---------------------------------------------------------------- robots off: A1, A12 as fetch failures


@dataclass(frozen=True)
class Unguarded:
    out: mk.CrawlOutcome
    refused: str
    tls: str
    tls_hits: int
    ok: str


async def _unguarded_scenario(tmp: Path) -> Unguarded:
    archive = tmp / "no-robots"
    async with FaultServer() as server, FaultServer(tls=self_signed_server_context(tmp)) as tls:
        server.route("/art/*", _unique_article)
        refused = f"http://127.0.0.1:{closed_port()}/art/A1"
        seeds = [refused, tls.url("/art/A12"), server.url("/art/ok")]
        config = mk.config_text(archive, mk.site_yaml("t", ["127.0.0.1"]),
                                robots={"mode": "ignore", "justification": "A1/A12 isolate the transport"})
        out = await mk.crawl_in_process(config, archive, seeds)
        return Unguarded(out, refused, tls.url("/art/A12"), len(tls.hits), server.url("/art/ok"))


@pytest.fixture(scope="module")
def unguarded(tmp_path_factory: pytest.TempPathFactory) -> Unguarded:
    return asyncio.run(_unguarded_scenario(tmp_path_factory.mktemp("unguarded")))


def test_A1_refused_connection_fails_connect_when_robots_is_not_asked(unguarded: Unguarded) -> None:
    assert unguarded.out.state(unguarded.refused) == "failed:connect"
    assert unguarded.out.records_for(unguarded.refused) == []
    assert unguarded.out.state(unguarded.ok) == "done"  # another host is unaffected


def test_A12_untrusted_certificate_fails_tls_and_is_never_trusted_anyway(unguarded: Unguarded) -> None:
    assert unguarded.out.state(unguarded.tls) == "failed:tls"
    assert unguarded.tls_hits == 0  # the handshake failed: no request was ever sent
    assert unguarded.out.records_for(unguarded.tls) == []


# ---------------------------------------------------------------- hosts: robots (E1, E3) and deferral (C2)


@dataclass(frozen=True)
class Hosts:
    out: mk.CrawlOutcome
    polite: FaultServer  # robots disallows /private
    robots_503: FaultServer
    robots_hang: FaultServer
    paused: FaultServer  # 429 with Retry-After: 86400
    variants: FaultServer  # 429 with Retry-After in the past / garbage / a near date
    started: float


def _http_date(moment: float) -> str:
    from email.utils import formatdate

    return formatdate(moment, usegmt=True)


async def _hosts_scenario(tmp: Path) -> Hosts:
    import time

    archive = tmp / "hosts"
    async with FaultServer() as polite, FaultServer() as robots_503, FaultServer() as robots_hang, \
            FaultServer() as paused, FaultServer() as variants:
        from tests.support.faultserver import hang, robots

        polite.route("/robots.txt", robots("User-agent: *\nDisallow: /private\n"))
        robots_503.route("/robots.txt", robots("down", status=503))
        robots_hang.route("/robots.txt", hang)
        for server in (polite, robots_503, robots_hang, variants, paused):
            server.route("/art/*", _unique_article)
        started = time.time()
        seeds = [
            polite.url("/art/one"), polite.url("/private/secret"), polite.url("/art/two"),
            robots_503.url("/art/a"), robots_503.url("/art/b"), robots_hang.url("/art/c"),
            paused.url("/status/429?retry_after=86400"), paused.url("/art/later"),
            variants.url(f"/once/429/past?retry_after={quote(_http_date(started - 3600))}"),
            variants.url("/once/429/garbage?retry_after=soon"),
        ]
        # one request at a time per host, in seed order: the 429 comes before the host's other URL
        config = mk.config_text(archive, mk.site_yaml("t", ["127.0.0.1"]), max_concurrency_per_host=1,
                                retry={"attempts": 3, "backoff_base_s": 0.01, "backoff_max_s": 0.02,
                                       "retry_after_max_s": 5})
        out = await mk.crawl_in_process(config, archive, seeds)
        return Hosts(out, polite, robots_503, robots_hang, paused, variants, started)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Hosts:
    return asyncio.run(_hosts_scenario(tmp_path_factory.mktemp("hosts")))


def test_E1_disallowed_path_is_never_requested_and_skipped(hosts: Hosts) -> None:
    assert hosts.out.state(hosts.polite.url("/private/secret")) == "skipped:robots"
    assert hosts.polite.hits_for("/private/secret") == []
    assert hosts.out.state(hosts.polite.url("/art/one")) == "done"


@pytest.mark.parametrize("which", ["robots_503", "robots_hang"])
def test_E3_unavailable_robots_fetches_no_article_keeps_urls_todo_and_the_summary_says(
    hosts: Hosts, which: str
) -> None:
    server: FaultServer = getattr(hosts, which)
    assert [hit.path for hit in server.hits] == ["/robots.txt"]  # no page, robots once this run
    rows = [row for url, row in hosts.out.rows.items() if url.startswith(server.origin)]
    assert rows and all((row.status, row.reason) == (Status.TODO, "robots_unavailable") for row in rows)
    assert all(row.next_attempt_at > hosts.started for row in rows)  # robots asked again later
    assert server.origin in hosts.out.summary.robots_unavailable
    lines = summary_lines(hosts.out.summary)
    assert any(f"robots.txt unavailable, nothing fetched from {server.origin}" in line for line in lines)


def test_C2_retry_after_above_the_max_defers_the_url_and_the_run_ends_saying_so(hosts: Hosts) -> None:
    long = hosts.out.rows[hosts.paused.url("/status/429?retry_after=86400")]
    assert (long.status, long.reason) == (Status.TODO, "http_429")
    assert long.next_attempt_at >= hosts.started + 86400 - 60
    later = hosts.out.rows[hosts.paused.url("/art/later")]
    assert (later.status, later.reason) == (Status.TODO, "paused")  # the whole host waits, not just the URL
    assert later.next_attempt_at >= hosts.started + 86400 - 60
    assert [hit.path for hit in hosts.paused.hits] == ["/robots.txt", "/status/429"]
    assert hosts.out.state(hosts.polite.url("/art/two")) == "done"  # other hosts proceed
    assert hosts.out.summary.deferred >= 2
    assert any("deferred" in line and "run the same command later" in line
               for line in summary_lines(hosts.out.summary))


@pytest.mark.parametrize("name", ["past", "garbage"])
def test_C2_retry_after_in_the_past_or_garbage_falls_back_to_backoff(hosts: Hosts, name: str) -> None:
    (url,) = [url for url in hosts.out.rows if f"/once/429/{name}" in url]
    assert hosts.out.state(url) == "done"
    assert [r.status for r in hosts.out.captures(url)] == [200]
    hits = hosts.variants.hits_for(f"/once/429/{name}")
    assert len(hits) == 2 and FaultServer.gaps(hits)[0] < 1.0  # a short backoff, not an hour


# ---------------------------------------------------------------- pacing: C1, C7


PACE_S = 0.15
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Pacing:
    out: mk.CrawlOutcome
    steady: FaultServer
    limited: FaultServer


async def _pacing_scenario(tmp: Path) -> Pacing:
    archive = tmp / "pacing"
    async with FaultServer() as steady, FaultServer() as limited:
        for server in (steady, limited):
            server.route("/art/*", _unique_article)
        seeds = [steady.url(f"/art/s{n}") for n in range(5)]
        seeds += [limited.url(f"/once/429/first?retry_after={RETRY_AFTER_S}"), limited.url("/art/l1"),
                  limited.url("/art/l2")]
        config = mk.config_text(archive, mk.site_yaml("t", ["127.0.0.1"]), interval_s=PACE_S,
                                max_concurrency_per_host=2)
        out = await mk.crawl_in_process(config, archive, seeds)
        return Pacing(out, steady, limited)


@pytest.fixture(scope="module")
def pacing(tmp_path_factory: pytest.TempPathFactory) -> Pacing:
    return asyncio.run(_pacing_scenario(tmp_path_factory.mktemp("pacing")))


def test_C1_429_pauses_the_whole_host_and_is_not_archived(pacing: Pacing) -> None:
    hits = sorted(pacing.limited.hits, key=lambda hit: hit.t)
    first_429 = next(hit for hit in hits if hit.path == "/once/429/first")
    after = [hit for hit in hits if hit.t > first_429.t]
    assert after and after[0].t - first_429.t >= RETRY_AFTER_S - 0.05
    (url,) = [url for url in pacing.out.rows if "/once/429/first" in url]
    assert pacing.out.state(url) == "done"
    assert [r.status for r in pacing.out.captures(url)] == [200]  # the 429 is no capture
    for name in ("l1", "l2"):
        assert pacing.out.rows[pacing.limited.url(f"/art/{name}")].status is Status.DONE


def test_C7_per_host_gaps_and_concurrency_hold_and_another_host_is_not_slowed(pacing: Pacing) -> None:
    for server in (pacing.steady, pacing.limited):
        gaps = FaultServer.gaps(server.hits)
        assert all(gap >= PACE_S - 0.01 for gap in gaps), gaps
        assert server.max_in_flight <= 2
    assert len(pacing.steady.hits) == 6  # robots.txt + 5 pages
    assert max(FaultServer.gaps(pacing.steady.hits)) < RETRY_AFTER_S  # the other host's pause is not ours
    assert all(pacing.out.rows[pacing.steady.url(f"/art/s{n}")].status is Status.DONE for n in range(5))


# ---------------------------------------------------------------- D6: DNS rebinding through the crawl


async def test_D6_rebinding_host_never_reaches_the_canary(tmp_path: Path) -> None:
    archive = tmp_path / "rebind"
    async with FaultServer() as server, FaultServer(host="127.0.0.2", port=server.port) as canary:
        lookups: list[str] = []

        async def rebinding(host: str, port: int) -> list[str]:
            lookups.append(host)
            return ["127.0.0.1" if len(lookups) == 1 else "127.0.0.2"]

        seeds = [f"http://rebind.test:{server.port}/close_each/{n}" for n in range(3)]
        config = mk.config_text(archive, mk.site_yaml("t", ["rebind.test"]))
        out = await mk.crawl_in_process(config, archive, seeds, resolver=rebinding)
        assert canary.connections == 0
    states = [out.state(url) for url in seeds]
    assert set(states) <= {"done", "failed:ssrf"} and "failed:ssrf" in states, states
    assert {r.header("WARC-IP-Address") for r in out.records if r.type == "response"} == {"127.0.0.1"}


# ---------------------------------------------------------------- D9: listing traps and odd URLs


LISTING_PAGES = 3


async def _trap_listing(request: Request, writer: asyncio.StreamWriter) -> bool:
    origin = request.server.origin
    number = zlib.crc32(request.hit.target.encode())
    links = [f"{origin}/read/2016/02/23/{number}{n}/berita" for n in range(2)] + [
        f"{origin}/read/a/a/a/a/2016",  # repeated segments: a trap
        f"{origin}/read/2016/02/23/9/" + "x" * 10_000,  # 10 KB URL
        origin.replace("http://", "http://user:pw@") + "/read/2016/02/23/8/userinfo",
        "http://k\u043empas.com/read/2016/02/23/7/homograph",  # Cyrillic o
    ]
    next_url = f"{origin}{request.path}?p=99999" if request.path == "/list" else f"{origin}/indeks?page=99999"
    if request.query.get("p") == "99999":
        next_url = f"{origin}/list?p=99998"
    return await respond(200, mk.listing_html(links, next_url), HTML)(request, writer)


async def test_D9_listing_pagination_is_capped_and_trap_urls_are_never_requested(tmp_path: Path) -> None:
    archive = tmp_path / "listing"
    async with FaultServer() as server:
        server.route("/indeks", _trap_listing)
        server.route("/list", _trap_listing)
        server.route("/read/*", _unique_article)
        site = mk.site_yaml("t", ["127.0.0.1"], article_urls=[r"^http://127\.0\.0\.1:\d+/read/"],
                            listings=[server.url("/indeks?page={page}"), server.url("/list")])
        config = mk.config_text(archive, site, max_listing_pages=LISTING_PAGES)
        out = await mk.crawl_in_process(config, archive)
        listed = sorted(hit.target for hit in server.hits if hit.path in ("/indeks", "/list"))
    assert listed == sorted([f"/indeks?page={n}" for n in range(1, LISTING_PAGES + 1)]
                            + ["/list", "/list?p=99999", "/list?p=99998"])
    requested = [hit.target for hit in server.hits]
    assert not [t for t in requested if "/a/a/a" in t or "userinfo" in t or len(t) > 2048], requested
    for url, row in out.rows.items():
        if "/a/a/a" in url or "userinfo" in url:
            assert (row.status, row.reason) == (Status.FAILED, "scope"), url
    assert not [url for url in out.rows if len(url) > 2048 or "xn--" in url or "\u043e" in url]
    assert any("crawler trap" in line for line in out.log)
    articles = [url for url, row in out.rows.items() if row.status is Status.DONE and "/berita" in url]
    assert len(articles) == 2 * (LISTING_PAGES + 3)


# ---------------------------------------------------------------- G5: the config changes between runs


async def test_G5_removed_site_moved_domain_and_changed_regex_settle_without_a_crash(tmp_path: Path) -> None:
    archive = tmp_path / "g5"
    keep = mk.NewsPortal(4, host="news.example", site_id="news")
    moved = mk.NewsPortal(4, host="moved.example", site_id="moved")
    gone = mk.NewsPortal(4, host="gone.example", site_id="gone")
    with PortalServer({**keep.routes(), **moved.routes(), **gone.routes()}) as server:
        first = keep.config(server, archive, sites={**keep.site(), **moved.site(), **gone.site()})
        await mk.crawl_in_process(first, archive, max_pages=3)  # the three listings: articles queued
        queued = mk.frontier_rows(archive)
        for portal in (keep, moved, gone):
            assert all(queued[url].status is Status.TODO for url in portal.article_urls())
        changed = {
            **keep.site(article_urls=[r"^http://news\.example/berita/"]),  # a regex changed
            **moved.site(domains=["www.moved.example"]),  # the domain moved
        }  # and "gone" removed
        before = len(server.log)
        out = await mk.crawl_in_process(keep.config(server, archive, sites=changed), archive)
        hosts = {hit.host for hit in server.log[before:]}
    assert all(out.state(url) == "skipped:site_removed" for url in gone.article_urls())
    assert all(out.state(url) == "skipped:out_of_scope" for url in moved.article_urls())
    assert all(out.state(url) == "done:non_article" for url in keep.article_urls())
    assert "gone.example" not in hosts and "moved.example" not in hosts
    assert any("'gone' is no longer configured" in line for line in out.log)
    assert out.summary.todo == 0


# ---------------------------------------------------------------- subprocess crawls: crash, signals, lock


@pytest.fixture(scope="module")
def portal() -> Iterator[tuple[mk.NewsPortal, PortalServer]]:
    news = mk.NewsPortal(8)
    with PortalServer(news.routes()) as server:
        yield news, server


def _write_config(tmp: Path, text: str) -> Path:
    path = tmp / "config.yaml"
    path.write_text(text)
    return path


def _articles_by_url(archive: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for article in mk.articles(archive):
        counts[article["url"]] = counts.get(article["url"], 0) + 1
    return counts


@dataclass(frozen=True)
class KilledBeforeCommit:
    news: mk.NewsPortal
    killed_url: str  # archived and written to articles.jsonl, killed before its frontier commit
    plain: Path  # restarted as left by the kill
    plain_run: subprocess.CompletedProcess[str]
    torn: Path  # the last articles.jsonl line torn in half before the restart
    torn_line: bytes
    torn_run: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def killed_before_commit(
    portal: tuple[mk.NewsPortal, PortalServer], tmp_path_factory: pytest.TempPathFactory
) -> KilledBeforeCommit:
    news, server = portal
    tmp = tmp_path_factory.mktemp("f4")
    archive = tmp / "killed"
    config = _write_config(tmp, news.config(server, archive, concurrency=1))
    killed = mk.run_cli(mk.crawl_command(config, archive), fault="before_frontier_commit:3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    rows = mk.frontier_rows(archive)
    (killed_url,) = [url for url, row in rows.items() if row.status is Status.IN_PROGRESS]
    assert killed_url in news.article_urls()
    plain, torn = tmp / "plain", tmp / "torn"
    shutil.copytree(archive, plain)
    shutil.copytree(archive, torn)
    jsonl = torn / "articles.jsonl"
    data = jsonl.read_bytes()
    last = data[data.rstrip(b"\n").rfind(b"\n") + 1 :]
    assert json.loads(last)["url"] == killed_url
    jsonl.write_bytes(data[: len(data) - len(last) // 2])  # a power cut in the middle of the line
    plain_run, torn_run = mk.run_all([mk.crawl_command(config, plain), mk.crawl_command(config, torn)])
    return KilledBeforeCommit(news, killed_url, plain, plain_run, torn, last[: len(last) - len(last) // 2],
                              torn_run)


@pytest.mark.slow
def test_F4_kill_between_warc_fsync_and_frontier_commit_refetches_once_and_dedups(
    killed_before_commit: KilledBeforeCommit,
) -> None:
    run, archive = killed_before_commit.plain_run, killed_before_commit.plain
    url = killed_before_commit.killed_url
    assert run.returncode == 0, run.stderr[-3000:]
    mk.assert_no_traceback(run.stderr)
    assert "recovered" in run.stderr and "duplicates dropped: 1" in run.stderr
    records = mk.warc_records(archive)
    assert [r.status for r in mk.captures(records, url)] == [200, 200]  # two valid captures: acceptable
    for path in archive.glob("*.warc.gz"):
        assert verify_file(path).ok, verify_file(path).lines()
    rows = mk.frontier_rows(archive)
    assert rows[url].status is Status.DONE
    assert _articles_by_url(archive) == {u: 1 for u in killed_before_commit.news.article_urls()}


@pytest.mark.slow
def test_G4_torn_jsonl_line_is_moved_aside_reported_and_its_article_written_again(
    killed_before_commit: KilledBeforeCommit,
) -> None:
    run, archive = killed_before_commit.torn_run, killed_before_commit.torn
    assert run.returncode == 0, run.stderr[-3000:]
    mk.assert_no_traceback(run.stderr)
    aside = archive / "articles.jsonl.torn"
    assert aside.read_bytes().rstrip(b"\n") == killed_before_commit.torn_line.rstrip(b"\n")
    assert "torn last line" in run.stderr and str(aside) in run.stderr
    assert _articles_by_url(archive) == {u: 1 for u in killed_before_commit.news.article_urls()}
    assert mk.frontier_rows(archive)[killed_before_commit.killed_url].status is Status.DONE


@dataclass(frozen=True)
class KilledMidCrawl:
    news: mk.NewsPortal
    done_at_kill: set[str]
    in_progress_at_kill: set[str]
    hits_before: list[str]
    hits_after: list[str]
    resumed: subprocess.CompletedProcess[str]
    archive: Path


@pytest.fixture(scope="module")
def killed_mid_crawl(tmp_path_factory: pytest.TempPathFactory) -> KilledMidCrawl:
    news = mk.NewsPortal(20, per_listing_page=20)
    tmp = tmp_path_factory.mktemp("g1")
    archive = tmp / "archive"
    with PortalServer(news.routes()) as server:
        for url in news.article_urls():
            server.fault(url, Fault.latency(0.3))
        config = _write_config(tmp, news.config(server, archive, concurrency=4, max_concurrency_per_host=4))
        process = mk.start_cli(mk.crawl_command(config, archive))
        try:
            _wait_until(lambda: len([h for h in server.log if "/read/" in h.url]) >= 10, process)
        finally:
            process.kill()
            process.communicate(timeout=30)
        assert process.returncode == -signal.SIGKILL
        rows = mk.frontier_rows(archive)
        done = {url for url, row in rows.items() if row.status is Status.DONE}
        in_progress = {url for url, row in rows.items() if row.status is Status.IN_PROGRESS}
        before = [hit.url for hit in server.log]
        resumed = mk.run_cli(mk.crawl_command(config, archive))
        after = [hit.url for hit in server.log[len(before):]]
    return KilledMidCrawl(news, done, in_progress, before, after, resumed, archive)


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[str], limit_s: float = 30) -> None:
    deadline = time.monotonic() + limit_s
    while not condition():
        assert process.poll() is None, f"the crawl ended early: {process.communicate()[1][-3000:]}"
        assert time.monotonic() < deadline, "the crawl did not get going"
        time.sleep(0.005)


@pytest.mark.slow
def test_G1_resume_never_fetches_a_done_url_again(killed_mid_crawl: KilledMidCrawl) -> None:
    run = killed_mid_crawl.resumed
    assert run.returncode == 0, run.stderr[-3000:]
    mk.assert_no_traceback(run.stderr)
    articles = set(killed_mid_crawl.news.article_urls())
    done_articles = killed_mid_crawl.done_at_kill & articles
    assert done_articles, "nothing was done before the kill"
    refetched = done_articles & set(killed_mid_crawl.hits_after)
    assert not refetched, f"done before the kill, fetched again: {sorted(refetched)}"
    everything = killed_mid_crawl.hits_before + killed_mid_crawl.hits_after
    assert all(everything.count(url) == 1 for url in done_articles)
    final = mk.frontier_rows(killed_mid_crawl.archive)
    assert all(final[url].status is Status.DONE for url in articles)
    assert _articles_by_url(killed_mid_crawl.archive) == {url: 1 for url in articles}


@pytest.mark.slow
def test_G2_urls_in_flight_at_the_kill_are_released_and_fetched(killed_mid_crawl: KilledMidCrawl) -> None:
    stale = killed_mid_crawl.in_progress_at_kill
    assert 1 <= len(stale) <= 4
    released = f"{len(stale)} URLs were in progress when the last run stopped; queued again"
    assert released in killed_mid_crawl.resumed.stderr
    assert stale <= set(killed_mid_crawl.hits_after)
    final = mk.frontier_rows(killed_mid_crawl.archive)
    assert all(final[url].status is Status.DONE for url in stale)
    assert not [url for url, row in final.items() if row.status is Status.IN_PROGRESS]


@dataclass(frozen=True)
class Interrupted:
    news: mk.NewsPortal
    single: Path
    single_run: tuple[int, str]  # exit code, stderr
    in_flight_at_signal: set[str]
    second: subprocess.CompletedProcess[str]  # another crawler started on the same archive
    holder_pid: int
    double: Path
    double_run: tuple[int, str]
    double_in_flight: set[str]
    double_stop_s: float


SLOW_S = 1.5


def _in_flight(server: PortalServer, urls: set[str]) -> set[str]:
    return (server.arrived() & urls) - {hit.url for hit in server.log}


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Interrupted:
    """Two crawls at once, one server each: the first is interrupted once (after a second crawler
    was refused its archive), the other twice."""
    news = mk.NewsPortal(40, per_listing_page=40)  # far more work than the test waits for
    articles = set(news.article_urls())
    tmp = tmp_path_factory.mktemp("f5")
    with PortalServer(news.routes()) as server, PortalServer(news.routes()) as server2:
        for url in articles:
            server.fault(url, Fault.latency(SLOW_S))
            server2.fault(url, Fault.latency(SLOW_S))
        single, double = tmp / "single", tmp / "double"
        config = _write_config(tmp, news.config(server, single, concurrency=4, max_concurrency_per_host=4))
        config2 = tmp / "double.yaml"
        config2.write_text(news.config(server2, double, concurrency=4, max_concurrency_per_host=4))
        first = mk.start_cli(mk.crawl_command(config, single))
        other = mk.start_cli(mk.crawl_command(config2, double))
        _wait_until(lambda: bool(server.log), first)  # it holds the archive now
        second = mk.start_cli(mk.crawl_command(config, single))  # F8
        _wait_until(lambda: bool(_in_flight(server2, articles)), other)
        double_flying = _in_flight(server2, articles)
        other.send_signal(signal.SIGINT)
        time.sleep(0.1)
        other.send_signal(signal.SIGINT)
        stopped = time.monotonic()
        _, double_err = other.communicate(timeout=30)
        stop_s = time.monotonic() - stopped
        second_out, second_err = second.communicate(timeout=30)  # refused while the first still runs
        _wait_until(lambda: bool(_in_flight(server, articles)), first)
        flying = _in_flight(server, articles)
        first.send_signal(signal.SIGINT)
        _, single_err = first.communicate(timeout=30)
    refused = subprocess.CompletedProcess(second.args, second.returncode, second_out, second_err)
    return Interrupted(news, single, (first.returncode, single_err), flying, refused, first.pid, double,
                       (other.returncode, double_err), double_flying, stop_s)


def _archive_consistent(archive: Path) -> dict[str, Status]:
    assert not list(archive.glob("*.open"))
    warcs = sorted(archive.glob("*.warc.gz"))
    assert warcs and all(verify_file(path).ok for path in warcs)
    mk.warc_records(archive)  # warcio reads every record with its digests
    states = {url: row.status for url, row in mk.frontier_rows(archive).items()}
    assert Status.IN_PROGRESS not in states.values()
    return states


@pytest.mark.slow
def test_F5_single_sigint_finishes_in_flight_closes_the_warc_and_exits_11(interrupted: Interrupted) -> None:
    code, stderr = interrupted.single_run
    assert code == 11, stderr[-3000:]
    mk.assert_no_traceback(stderr)
    assert "interrupted: the archive is closed and consistent" in stderr
    states = _archive_consistent(interrupted.single)
    assert interrupted.in_flight_at_signal and all(states[url] is Status.DONE
                                                   for url in interrupted.in_flight_at_signal)
    assert Status.TODO in states.values()


@pytest.mark.slow
def test_F5_double_sigint_stops_at_once_and_requeues_in_flight(interrupted: Interrupted) -> None:
    code, stderr = interrupted.double_run
    assert code == 11, stderr[-3000:]
    mk.assert_no_traceback(stderr)
    assert interrupted.double_stop_s < SLOW_S, "the second SIGINT did not stop the pages in flight"
    states = _archive_consistent(interrupted.double)
    assert interrupted.double_in_flight and all(states[url] is Status.TODO
                                                for url in interrupted.double_in_flight)


@pytest.mark.slow
def test_F8_second_crawler_on_the_same_archive_exits_9_naming_the_holder(interrupted: Interrupted) -> None:
    second = interrupted.second
    assert second.returncode == 9, second.stderr[-3000:]
    mk.assert_no_traceback(second.stderr)
    assert f"archive dir {interrupted.single} locked by pid {interrupted.holder_pid}" in second.stderr


# ---------------------------------------------------------------- refusals at start-up: F7, G3, J1


@dataclass(frozen=True)
class Refusals:
    runs: dict[str, subprocess.CompletedProcess[str]]
    bystander_hits: int  # requests reaching the server every refused run was pointed at
    archives: dict[str, Path]
    reset_hits: int


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Refusals]:
    from crawler.frontier import Frontier, Kind, NewUrl, database_path

    news = mk.NewsPortal(4)
    tmp = tmp_path_factory.mktemp("refusals")
    with PortalServer(news.routes()) as bystander, PortalServer(news.routes()) as resetting:
        commands: dict[str, list[str]] = {}
        archives: dict[str, Path] = {}
        blocker = tmp / "a-file"
        blocker.write_text("not a directory")
        archives["F7_under_a_file"] = blocker / "archive"
        if os.geteuid() != 0:  # root writes into a 0500 directory anyway
            read_only = tmp / "read-only"
            read_only.mkdir(mode=0o500)
            archives["F7_read_only"] = read_only / "archive"
        damaged = tmp / "damaged"
        with Frontier.open(damaged) as frontier:
            frontier.add([NewUrl(f"http://news.example/read/2016/02/23/{n:05d}/x", "news", Kind.ARTICLE)
                          for n in range(3000)])
        path = database_path(damaged)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        shutil.copytree(damaged, tmp / "damaged-reset")
        archives["G3"], archives["G3_reset"] = damaged, tmp / "damaged-reset"
        config = _write_config(tmp, news.config(bystander, tmp / "unused"))
        for name, archive in archives.items():
            commands[name] = mk.crawl_command(config, archive)
        reset_config = tmp / "reset.yaml"
        reset_config.write_text(news.config(resetting, archives["G3_reset"]))
        commands["G3_reset"] = mk.crawl_command(reset_config, archives["G3_reset"], "--reset-frontier")
        bad = tmp / "bad.yaml"
        bad.write_text(news.config(bystander, tmp / "j1").replace('"interval_s"', '"intervall_s"'))
        commands["J1"] = mk.crawl_command(bad, tmp / "j1")
        results = mk.run_all(list(commands.values()))
        yield Refusals(dict(zip(commands, results, strict=True)), len(bystander.log), archives,
                       len(resetting.log))


@pytest.mark.slow
def test_F7_unwritable_archive_dir_is_a_config_error_before_any_request(refusals: Refusals) -> None:
    for name in [name for name in refusals.runs if name.startswith("F7")]:
        run = refusals.runs[name]
        assert run.returncode == 4, (name, run.stderr[-3000:])
        mk.assert_no_traceback(run.stderr)
        assert f"archive directory {refusals.archives[name]} is not writable" in run.stderr
    assert refusals.bystander_hits == 0


@pytest.mark.slow
def test_G3_damaged_frontier_is_refused_with_a_hint_never_restarted_silently(refusals: Refusals) -> None:
    run = refusals.runs["G3"]
    assert run.returncode == 10, run.stderr[-3000:]
    mk.assert_no_traceback(run.stderr)
    assert "frontier database is damaged" in run.stderr and "--reset-frontier" in run.stderr
    assert refusals.bystander_hits == 0
    reset = refusals.runs["G3_reset"]  # the hint's own way out works
    assert reset.returncode == 0, reset.stderr[-3000:]
    mk.assert_no_traceback(reset.stderr)
    assert refusals.reset_hits > 0
    assert list((refusals.archives["G3_reset"] / "state").glob("frontier.sqlite.*"))  # moved aside, kept


@pytest.mark.slow
def test_J1_invalid_config_exits_4_naming_file_line_and_key_before_any_request(refusals: Refusals) -> None:
    run = refusals.runs["J1"]
    assert run.returncode == 4, run.stderr[-3000:]
    mk.assert_no_traceback(run.stderr)
    assert "bad.yaml:" in run.stderr and "crawl.intervall_s: unknown key" in run.stderr
    assert refusals.bystander_hits == 0


# ---------------------------------------------------------------- F1: disk full in a real crawl


@pytest.mark.slow
def test_F1_disk_full_exits_8_keeps_every_warc_valid_and_the_resume_completes(tmp_path: Path) -> None:
    news = mk.NewsPortal(16, per_listing_page=16, padding=60_000)
    archive = tmp_path / "archive"
    with PortalServer(news.routes()) as server:
        config = _write_config(tmp_path, news.config(server, archive, concurrency=2))
        full = mk.run_cli(mk.crawl_command(config, archive), max_file_bytes=400_000)
        assert full.returncode == 8, full.stderr[-3000:]
        mk.assert_no_traceback(full.stderr)
        assert "free disk space and resume the crawl" in full.stderr
        warcs = sorted(archive.glob("*.warc.gz"))
        assert warcs and not list(archive.glob("*.open"))
        assert all(verify_file(path).ok for path in warcs)
        assert all(path.stat().st_size <= 400_000 for path in warcs)
        done = mk.done_urls(archive)
        archived = {r.uri for r in mk.warc_records(archive) if r.type == "response"}
        assert done & set(news.article_urls()) <= archived  # no false done
        assert set(news.article_urls()) - done, "the disk never filled"
        resumed = mk.run_cli(mk.crawl_command(config, archive))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert set(news.article_urls()) <= mk.done_urls(archive)
    assert all(verify_file(path).ok for path in archive.glob("*.warc.gz"))
    assert _articles_by_url(archive) == {url: 1 for url in news.article_urls()}
