"""Recovery never deletes good data (fault matrix group P, rows P5 and P6).

A ``.open`` file with one byte flipped in its middle is closed by ``crawler recover`` and by the
crawl's own start: every intact record before and after the damage is kept, the damaged member
is moved aside byte for byte, and nothing is lost (kept + moved aside + torn tail == original).
``crawler recover`` on the live ``.open`` file of a running crawl is refused (exit 9).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from crawler.errors import ArchiveWriteError
from crawler.warc.recover import complete_target_uris, recover_file
from crawler.warc.verify import verify_file
from tests.support import warcfactory as wf
from tests.support.matrixkit import NewsPortal, assert_no_traceback, crawl_command, run_cli, start_cli
from tests.support.portalserver import PortalServer

NAME = "test-20261121100000000-00000-testhost.warc.gz"


def _flipped_open_file(directory: Path) -> tuple[Path, bytes, int]:
    """A ``.open`` WARC of 12 captures (26 members) with one byte flipped in its middle member;
    returns it, the original bytes and the damaged member's index."""
    pages = wf.fixture_pages()[:12]
    start = wf.DEFAULT_FETCHED
    exchanges = [wf.exchange(f"{page.url}?n={i}", page.body, fetched=start + timedelta(seconds=i))
                 for i, page in enumerate(pages)]
    files, _ = wf.write_warcs(directory / "written", exchanges)
    good = files[0].read_bytes()
    offsets = wf.member_offsets(good)
    damaged = len(offsets) // 2
    middle = (offsets[damaged] + offsets[damaged + 1]) // 2
    target = directory / (NAME + ".open")
    target.write_bytes(wf.flip_byte(good, middle))
    shutil.rmtree(directory / "written")
    return target, good, damaged


def _check_recovered(directory: Path, good: bytes, flipped: bytes, damaged: int) -> None:
    """The closed file holds every member but the damaged one; that one is moved aside as it was."""
    final = directory / NAME
    assert final.is_file() and not (directory / (NAME + ".open")).exists()
    offsets = [*wf.member_offsets(good), len(good)]  # the flip changes no length
    start, end = offsets[damaged], offsets[damaged + 1]
    assert final.read_bytes() == flipped[:start] + flipped[end:], "every intact member is kept"
    aside = sorted(directory.glob(NAME + ".offset-*.damaged"))
    assert [path.name for path in aside] == [f"{NAME}.offset-{start}.damaged"]
    assert aside[0].read_bytes() == flipped[start:end], "the damaged member moved aside byte for byte"
    assert verify_file(final).ok
    check = subprocess.run(["warcio", "check", str(final)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert (directory / (NAME + ".cdxj")).is_file(), "indexed as a closing writer would"


def test_P5_recover_after_one_flipped_byte_keeps_every_intact_record_and_moves_the_damage_aside(
    tmp_path: Path,
) -> None:
    path, original, damaged = _flipped_open_file(tmp_path)
    flipped = path.read_bytes()
    assert flipped != original and len(flipped) == len(original)
    before = len(complete_target_uris(path))
    done = subprocess.run(["crawler", "recover", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "moved aside" in done.stdout and "damaged gzip member" in done.stdout
    _check_recovered(tmp_path, original, flipped, damaged)
    assert len(complete_target_uris(tmp_path / NAME)) == before, "no capture lost beyond the damaged one"


def test_P5_the_original_stays_until_the_result_can_be_put_in_place(tmp_path: Path) -> None:
    path, _, _ = _flipped_open_file(tmp_path)
    flipped = path.read_bytes()
    (tmp_path / NAME).write_bytes(b"someone else's file")
    (tmp_path / (NAME + ".recovering")).write_bytes(b"left by a recovery that was killed")
    with pytest.raises(ArchiveWriteError, match="exists already"):
        recover_file(path)
    assert path.read_bytes() == flipped, "the .open original is untouched"
    assert (tmp_path / NAME).read_bytes() == b"someone else's file", "never replaced"
    (tmp_path / NAME).unlink()
    report = recover_file(path)
    assert report.final == tmp_path / NAME and report.moved_aside and not path.exists()
    assert not (tmp_path / (NAME + ".recovering")).exists()


def test_P5_the_crawl_start_runs_the_same_recovery(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    _, original, damaged = _flipped_open_file(archive)
    flipped = (archive / (NAME + ".open")).read_bytes()
    portal = NewsPortal(articles=2)
    with PortalServer(portal.routes()) as server:
        config = tmp_path / "config.yaml"
        config.write_text(portal.config(server, archive), encoding="utf-8")
        run = run_cli(crawl_command(config, archive))
    assert_no_traceback(run.stderr)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "recovered" in run.stderr and "moved aside" in run.stderr
    _check_recovered(archive, original, flipped, damaged)


def test_P6_recover_on_the_open_file_of_a_running_crawl_is_refused_and_the_crawl_finishes(
    tmp_path: Path,
) -> None:
    archive = tmp_path / "archive"
    portal = NewsPortal(articles=8)
    with PortalServer(portal.routes()) as server:
        config = tmp_path / "config.yaml"
        config.write_text(portal.config(server, archive, interval_s=0.4), encoding="utf-8")
        crawl = start_cli(crawl_command(config, archive))
        try:
            deadline = time.monotonic() + 60
            live: list[Path] = []
            while not live and time.monotonic() < deadline and crawl.poll() is None:
                live = sorted(archive.glob("*.warc.gz.open"))
                time.sleep(0.05)
            assert live, "the crawl never opened a WARC file"
            size = live[0].stat().st_size
            refused = subprocess.run(["crawler", "recover", str(live[0])], capture_output=True, text=True)
            assert refused.returncode == 9, refused.stdout + refused.stderr
            assert f"locked by pid {crawl.pid}" in refused.stderr
            assert live[0].exists() and live[0].stat().st_size >= size, "the live file is untouched"
            _, stderr = crawl.communicate(timeout=120)
        finally:
            if crawl.poll() is None:
                crawl.kill()
                crawl.wait()
    assert_no_traceback(stderr)
    assert crawl.returncode == 0, stderr[-2000:]
    closed = sorted(archive.glob("*.warc.gz"))
    assert closed and not list(archive.glob("*.open")) and all(verify_file(path).ok for path in closed)
