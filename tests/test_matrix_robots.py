"""Fault matrix M1–M3 (docs/fault-matrix.md): robots.txt never fails open.

One real crawl (``Crawl`` in this event loop) of loopback hosts whose robots.txt is odd in one
way each. A byte-order mark before the first group hides nothing (M1); a body that cannot be
decoded (M2) or an answer with broken framing (M3) is "robots unavailable": no page of that
host is asked for, its URLs stay ``todo``, robots.txt is asked once per host in the run (not
once per URL), the summary names the host, and no article of the host fails ``protocol``.
"""

from __future__ import annotations

import asyncio
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.frontier import Status
from crawler.progress import summary_lines
from tests.support import matrixkit as mk
from tests.support.faultserver import FaultServer, Handler, Request, respond
from tests.support.faultserver import response as raw_response

RULES = b"User-agent: *\nDisallow: /private\n"
TEXT = (("Content-Type", "text/plain"),)
ARTICLES = ("/art/a", "/art/b", "/art/c")


def _encoded(body: bytes, coding: str) -> Handler:
    return respond(200, body, (*TEXT, ("Content-Encoding", coding)))


def _raw(data: bytes) -> Handler:
    async def handler(request: Request, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        return False

    return handler


# robots.txt of each host; M1 hosts obey their rules, the others are unavailable
READABLE: dict[str, Handler] = {
    "M1_utf8_bom": respond(200, b"\xef\xbb\xbf" + RULES, TEXT),
    "M1_utf16_bom": respond(200, b"\xff\xfe" + RULES.decode().encode("utf-16-le"), TEXT),
    "M1_invisible_junk": respond(200, b"\xef\xbb\xbf\xe2\x80\x8b\xef\xbb\xbf " + RULES, TEXT),
}
UNREADABLE: dict[str, Handler] = {
    "M2_gzip_over_plain_bytes": _encoded(RULES, "gzip"),
    "M2_truncated_gzip": _encoded(gzip.compress(RULES + b"# more\n" * 50, mtime=0)[:30], "gzip"),
    "M2_unknown_coding": _encoded(RULES, "x-foo"),
    "M2_binary_body": respond(200, os.urandom(4096), TEXT),
    "M3_length_and_chunked": _raw(raw_response(
        200, b"5\r\nUser-\r\n0\r\n\r\n", (("Content-Length", "3"), ("Transfer-Encoding", "chunked")),
        length=False,
    )),
    "M3_over_1000_header_lines": respond(200, RULES, tuple((f"X-H{i}", "v") for i in range(1500))),
}


@dataclass(frozen=True)
class World:
    out: mk.CrawlOutcome
    servers: dict[str, FaultServer]
    good: FaultServer


async def _article(request: Request, writer: asyncio.StreamWriter) -> bool:
    page = mk.article_html(f"Judul {request.hit.path}", paragraphs=(mk.PROSE, f"Kabar {request.hit.path}."))
    return await respond(200, page, (("Content-Type", "text/html; charset=utf-8"),))(request, writer)


async def _scenario(tmp: Path) -> World:
    names = [*READABLE, *UNREADABLE]
    servers = {name: FaultServer() for name in names}
    good = FaultServer()
    for server in [*servers.values(), good]:
        await server.__aenter__()
    try:
        seeds = [good.url("/art/good")]
        for name, server in servers.items():
            server.route("/robots.txt", {**READABLE, **UNREADABLE}[name])
            server.route("/art/*", _article)
            server.route("/private/*", _article)
            seeds += [server.url(path) for path in (*ARTICLES, "/private/x")]
        good.route("/art/*", _article)
        archive = tmp / "robots"
        config = mk.config_text(archive, mk.site_yaml("t", ["127.0.0.1"]), max_concurrency_per_host=4)
        out = await mk.crawl_in_process(config, archive, seeds)
    finally:
        for server in [*servers.values(), good]:
            await server.stop()
    return World(out, servers, good)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return asyncio.run(_scenario(tmp_path_factory.mktemp("robots")))


@pytest.mark.parametrize("name", list(READABLE))
def test_M1_bom_and_invisible_junk_before_the_first_group_hide_no_rule(world: World, name: str) -> None:
    server = world.servers[name]
    assert server.hits_for("/private/x") == [], "a Disallow was fetched"
    assert world.out.state(server.url("/private/x")) == "skipped:robots"
    assert all(world.out.state(server.url(path)) == "done" for path in ARTICLES)
    assert server.origin not in world.out.summary.robots_unavailable


def _assert_unavailable_for_the_run(world: World, name: str) -> None:
    server = world.servers[name]
    assert [hit.path for hit in server.hits] == ["/robots.txt"], "one robots fetch, and no page"
    rows = [row for url, row in world.out.rows.items() if url.startswith(server.origin + "/")]
    assert len(rows) == len(ARTICLES) + 1
    assert all((row.status, row.reason) == (Status.TODO, "robots_unavailable") for row in rows), rows
    assert server.origin in world.out.summary.robots_unavailable
    lines = summary_lines(world.out.summary)
    assert any(f"robots.txt unavailable, nothing fetched from {server.origin}" in line for line in lines)
    assert any(server.origin in line and "unreadable" in line for line in world.out.log)


@pytest.mark.parametrize("name", [name for name in UNREADABLE if name.startswith("M2")])
def test_M2_undecodable_robots_is_unavailable_never_allow_all(world: World, name: str) -> None:
    _assert_unavailable_for_the_run(world, name)


@pytest.mark.parametrize("name", [name for name in UNREADABLE if name.startswith("M3")])
def test_M3_broken_framing_of_robots_is_unavailable_not_failed_protocol(world: World, name: str) -> None:
    _assert_unavailable_for_the_run(world, name)


def test_M2_M3_other_hosts_go_on_and_nothing_fails(world: World) -> None:
    assert world.out.state(world.good.url("/art/good")) == "done"
    assert world.out.summary.total(Status.FAILED) == 0
    assert world.out.summary.exit_code == 0
