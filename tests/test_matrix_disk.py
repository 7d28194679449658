"""Fault matrix N1–N4 (docs/fault-matrix.md): a full disk ends ``crawler crawl`` with exit 8
and a message, never a traceback, never a false ``done``, never "damaged" for a healthy frontier.

The disk is real: a small tmpfs each test mounts (we may be root in CI containers). The portal
server fills it at a chosen moment (when the crawler asks for a given URL), leaving just enough
room for the WARC records that come first, so the frontier (N1) or ``articles.jsonl`` (N2)
is the one that meets ENOSPC. Where mounting is not allowed the tests fall back to
``RLIMIT_FSIZE`` (writes past it fail with EFBIG) when that can show the same thing, and skip
saying why when it cannot.
"""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.frontier import Status, database_path
from tests.support import matrixkit as mk
from tests.support.portalserver import PortalServer, Response

HOST = "disk.example"
LISTING = f"http://{HOST}/indeks?page={{page}}"
HTML = (("Content-Type", "text/html; charset=utf-8"),)


def _try_mount(target: Path, size: int) -> bool:
    """Mount a tmpfs of ``size`` bytes on ``target``; False where that is not allowed (or
    ``CRAWLER_TEST_NO_MOUNT=1`` asks to try the fallback)."""
    target.mkdir(parents=True, exist_ok=True)
    if os.environ.get("CRAWLER_TEST_NO_MOUNT") == "1":
        return False
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)],
                            capture_output=True, text=True, check=False)
    return result.returncode == 0


@dataclass
class Disk:
    """A small real filesystem (``mount`` is None when mounting was not allowed)."""

    mount: Path | None
    scratch: Path

    @property
    def root(self) -> Path:
        return self.mount or self.scratch

    def fill(self, leave: int = 0) -> None:
        """Take all but ``leave`` bytes of the free space (a filler file)."""
        assert self.mount is not None
        stat = os.statvfs(self.mount)
        todo = max(0, stat.f_bavail * stat.f_frsize - leave)
        chunk = b"\0" * (1 << 20)
        with (self.mount / f"filler-{uuid.uuid4().hex}").open("ab", buffering=0) as filler:
            while todo > 0:
                try:
                    todo -= filler.write(chunk[: min(len(chunk), todo)])
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    return

    def free(self) -> None:
        assert self.mount is not None
        for filler in self.mount.glob("filler-*"):
            filler.unlink()


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    mount = tmp_path / "small-disk"
    if not _try_mount(mount, 4 << 20):
        yield Disk(None, tmp_path)
        return
    try:
        yield Disk(mount, tmp_path)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def _article_url(number: int, tail: str = "") -> str:
    return f"http://{HOST}/read/2016/02/23/{number:04d}/judul-{number}{tail}"


def _site() -> dict[str, object]:
    return mk.site_yaml("disk", [HOST], article_urls=[rf"^http://{HOST}/read/"], listings=[LISTING])


def _listing(urls: list[str]) -> dict[str, Response]:
    return {LISTING.format(page=1): Response(200, mk.listing_html(urls), HTML),
            LISTING.format(page=2): Response(200, mk.listing_html([]), HTML),
            f"http://{HOST}/robots.txt": Response(200, b"User-agent: *\nAllow: /\n")}


def _articles(urls: list[str]) -> dict[str, Response]:
    return {url: Response(200, mk.article_html(f"Judul {n}", paragraphs=(mk.PROSE, f"Nomor {n}.")), HTML)
            for n, url in enumerate(urls)}


def _fill_on(url: str, response: Response, fill: Callable[[], None]) -> Callable[[str], Response | None]:
    """A dynamic route: the first request for ``url`` fills the disk, then gets ``response``."""
    filled: list[bool] = []

    def answer(asked: str) -> Response | None:
        if asked != url:
            return None
        if not filled:
            filled.append(True)
            fill()
        return response

    return answer


def _config(server: PortalServer, archive: Path) -> str:
    return mk.config_text(archive, _site(), allow=(f"{server.host}/32",), proxy=server.url,
                          timeouts_s={"connect": 5, "read": 5, "total": 10})


def _crawl(server: PortalServer, archive: Path, max_file_bytes: int | None = None
           ) -> subprocess.CompletedProcess[str]:
    config = archive.parent.parent / f"{archive.name}.yaml"  # beside the small disk, not on it
    config.write_text(_config(server, archive))
    return mk.run_cli(mk.crawl_command(config, archive), max_file_bytes=max_file_bytes)


def _crawl_here(server: PortalServer, archive: Path) -> int:
    """A crawl with room to spare, in this process (quicker than a subprocess); its exit code."""
    return asyncio.run(mk.crawl_in_process(_config(server, archive), archive)).summary.exit_code


def _assert_out_of_space(result: subprocess.CompletedProcess[str], names: str) -> None:
    assert result.returncode == 8, (result.returncode, result.stderr[-3000:].replace("\n", " | "))
    mk.assert_no_traceback(result.stderr)
    assert "no space left" in result.stderr.lower() or "file too large" in result.stderr.lower()
    assert names in result.stderr, result.stderr[-3000:]
    assert "damaged" not in result.stderr and "--reset-frontier" not in result.stderr, result.stderr[-3000:]


def _assert_frontier_intact(archive: Path) -> None:
    with sqlite3.connect(database_path(archive)) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


# ---------------------------------------------------------------- N1, N2: ENOSPC mid-crawl


def test_N1_frontier_meets_enospc_first_exit_8_then_resume(disk: Disk) -> None:
    """A listing whose 120 long links make a big frontier insert, while its WARC record (the
    links compress to almost nothing) fits in the room left."""
    urls = [_article_url(n, "-" + "panjang" * 250) for n in range(120)]
    routes = {**_listing(urls), **_articles(urls)}
    listing = LISTING.format(page=1)
    archive = disk.root / "archive"
    fill = _fill_on(listing, routes[listing], lambda: disk.fill(leave=48 << 10))
    with PortalServer({k: v for k, v in routes.items() if k != listing}, dynamic=fill) as server:
        if disk.mount is None:  # RLIMIT_FSIZE: the frontier's WAL is the only file to pass 200 KB
            full = _crawl(server, archive, max_file_bytes=200_000)
        else:
            full = _crawl(server, archive)
        _assert_out_of_space(full, "frontier.sqlite")
        rows = mk.frontier_rows(archive)
        assert rows[listing].status is not Status.DONE, "the listing's links were not stored: not done"
        if disk.mount is not None:
            disk.free()
        _assert_frontier_intact(archive)
        resumed = _crawl(server, archive)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert {a["url"] for a in mk.articles(archive)} == set(urls)


def test_N2_articles_jsonl_meets_enospc_first_exit_8_then_the_article_is_written_once(disk: Disk) -> None:
    """A long article (a 600 KB line in articles.jsonl) whose page compresses to a few KB in
    the WARC file: the line is what does not fit."""
    small = [_article_url(n) for n in range(3)]
    big_url = _article_url(99)
    big = Response(200, mk.article_html("Panjang", paragraphs=[mk.PROSE] * 2400), HTML)
    routes = {**_listing([*small, big_url]), **_articles(small)}
    archive = disk.root / "archive"
    if disk.mount is None:  # RLIMIT_FSIZE: the line is the only file to grow past 400 KB
        with PortalServer({**routes, big_url: big}) as server:
            full = _crawl(server, archive, max_file_bytes=400_000)
            _assert_out_of_space(full, "articles.jsonl")
        return
    with PortalServer(routes, dynamic=_fill_on(big_url, big, lambda: disk.fill(leave=192 << 10))) as server:
        full = _crawl(server, archive)
        _assert_out_of_space(full, "articles.jsonl")
        assert mk.frontier_rows(archive)[big_url].status is not Status.DONE
        lines = (archive / "articles.jsonl").read_bytes()
        assert not lines or lines.endswith(b"\n"), "the partial line was taken back"
        assert big_url not in {a["url"] for a in mk.articles(archive)}
        disk.free()
        resumed = _crawl(server, archive)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    written = [a["url"] for a in mk.articles(archive)]
    assert sorted(written) == sorted([*small, big_url]), "each article once"


# ---------------------------------------------------------------- N3, N4: full before the start


@pytest.mark.parametrize("leave", [0, 8 << 10])
def test_N3_disk_full_at_start_of_a_new_archive_exit_8(disk: Disk, leave: int) -> None:
    urls = [_article_url(n) for n in range(3)]
    archive = disk.root / "archive"
    with PortalServer({**_listing(urls), **_articles(urls)}) as server:
        if disk.mount is None:
            if leave:
                pytest.skip("mounting a tmpfs is not allowed here: RLIMIT_FSIZE has no 'a little room'")
            full = _crawl(server, archive, max_file_bytes=1)  # 0 would mean no limit to run_cli
        else:
            disk.fill(leave=leave)
            full = _crawl(server, archive)
        _assert_out_of_space(full, str(archive))
        assert not server.hits(), "nothing fetched on a full disk"


@pytest.mark.parametrize("leave", [0, 8 << 10])  # the start's probe fails; the frontier's first write
def test_N4_disk_full_at_start_with_a_healthy_frontier_is_never_called_damaged(
    disk: Disk, leave: int
) -> None:
    if disk.mount is None:
        pytest.skip("mounting a tmpfs is not allowed here, and RLIMIT_FSIZE cannot stand in: under it "
                    "SQLite fails to open its -shm file (SQLITE_IOERR_SHMOPEN), which a full disk does not")
    urls = [_article_url(n) for n in range(3)]
    archive = disk.root / "archive"
    with PortalServer({**_listing(urls), **_articles(urls)}) as server:
        assert _crawl_here(server, archive) == 0
        before = mk.frontier_rows(archive)
        disk.fill(leave=leave)
        full = _crawl(server, archive)  # a new round: the listings are due again
        _assert_out_of_space(full, str(archive))
        disk.free()
        _assert_frontier_intact(archive)
        assert {url: row.status for url, row in mk.frontier_rows(archive).items()} == {
            url: row.status for url, row in before.items()
        }
        assert _crawl_here(server, archive) == 0
    assert sorted(a["url"] for a in mk.articles(archive)) == sorted(urls)
