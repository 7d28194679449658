"""The progress display (issue 11, item 7), read the way a user sees it: ``crawler crawl`` runs
in a pseudo-terminal of 80 columns and its output goes through a terminal emulator (pyte).
The live table has a total row, the queue and the elapsed time, full site names; log lines
print whole above it, never across it. Without a terminal each progress line is printed once,
and the final table says it is cumulative.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path

import pyte
import pytest

from tests.support import matrixkit as mk
from tests.support.portalserver import PortalServer, Response

pytestmark = pytest.mark.slow

COLUMNS, ROWS = 80, 300
LONG_SITE = "kabarmediaindonesia"  # 19 characters: longer than any built-in id
OTHER_SITE = "beritanusantara"


def _portals() -> tuple[list[mk.NewsPortal], dict[str, Response]]:
    portals = [mk.NewsPortal(articles=6, host="kabar.example", site_id=LONG_SITE),
               mk.NewsPortal(articles=6, host="berita.example", site_id=OTHER_SITE)]
    routes: dict[str, Response] = {}
    for portal in portals:
        routes.update(portal.routes())
    broken = portals[0].article_urls()[0]
    routes[broken] = Response(200, b"<html><body></body></html>")  # logs a warning while the table is up
    return portals, routes


def _config(tmp_path: Path, server: PortalServer, portals: list[mk.NewsPortal]) -> Path:
    sites = {key: value for portal in portals for key, value in portal.site().items()}
    path = tmp_path / "config.yaml"
    path.write_text(portals[0].config(server, tmp_path / "archive", sites=sites, interval_s=0.1))
    return path


def _in_terminal(command: list[str]) -> tuple[int, list[str]]:
    """Run ``command`` on a pseudo-terminal of COLUMNS × ROWS; the screen as the user sees it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = {key: value for key, value in mk.cli_env().items() if key not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm-256color"
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=mk.ROOT)
    os.close(slave)
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal has closed it
            break
        if not chunk:
            break
        stream.feed(chunk)
    os.close(master)
    return process.wait(timeout=60), [line.rstrip() for line in screen.display]


@pytest.fixture(scope="module")
def screen(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[str]]:
    tmp_path = tmp_path_factory.mktemp("tty")
    portals, routes = _portals()
    with PortalServer(routes) as server:
        config = _config(tmp_path, server, portals)
        return _in_terminal(mk.crawl_command(config, tmp_path / "archive"))


def _table(lines: list[str]) -> list[str]:
    """The live table's lines as left on screen (from its title to its total row)."""
    start = max(i for i, line in enumerate(lines) if line.startswith("crawl ") and "elapsed" in line)
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("total"))
    return lines[start : end + 1]


def test_live_table_has_totals_queue_and_elapsed_at_80_columns(screen: tuple[int, list[str]]) -> None:
    code, lines = screen
    assert code == 3, "\n".join(lines)  # one page failed (extract_empty)
    table = _table(lines)
    assert "elapsed" in table[0] and "queue" in table[0]
    header = next(line for line in table if line.startswith("site"))
    for column in ("fetched", "articles", "failed", "queue"):
        assert column in header, header
    total = table[-1].split()
    rows = {line.split()[0]: line.split() for line in table if line.split() and line.split()[0] in
            (LONG_SITE, OTHER_SITE)}
    assert set(rows) == {LONG_SITE, OTHER_SITE}, "a site name was cut:\n" + "\n".join(table)
    fetched = header.split().index("fetched")
    assert int(total[fetched]) == sum(int(row[fetched]) for row in rows.values()) > 0
    articles = header.split().index("articles")
    assert int(total[articles]) == 11


def test_log_lines_print_whole_above_the_table(screen: tuple[int, list[str]]) -> None:
    _, lines = screen
    table = _table(lines)
    start = lines.index(table[0])
    logged = [i for i, line in enumerate(lines) if "WARNING" in line and "kabar.example" in line]
    assert logged, "the warning about the empty page is not on screen:\n" + "\n".join(lines)
    assert all(i < start for i in logged), "a log line landed inside or below the table"
    message = " ".join(line.strip() for line in lines[logged[0] : start])
    assert "no article text found with the kabarmediaindonesia rules" in message  # whole, not overdrawn
    for line in table:
        assert "WARNING" not in line, f"a log line across the table: {line!r}"


def test_the_final_summary_says_what_is_cumulative(screen: tuple[int, list[str]]) -> None:
    _, lines = screen
    text = "\n".join(lines)
    assert "this run: articles written: 11" in text
    assert "frontier: every run of this archive (cumulative)" in text


def test_without_a_terminal_each_progress_line_is_printed_once(tmp_path: Path) -> None:
    portals, routes = _portals()
    with PortalServer(routes) as server:
        config = _config(tmp_path, server, portals)
        result = mk.run_cli(mk.crawl_command(config, tmp_path / "archive"))
    progress = [line.split(" ", 1)[1].rsplit(",", 1)[0] for line in result.stderr.splitlines()
                if line[:1].isdigit() and "fetched" in line]
    assert progress, result.stderr
    for site in (LONG_SITE, OTHER_SITE, "total"):
        mine = [line for line in progress if line.startswith(f"{site}:")]
        assert mine and len(mine) == len(set(mine)), f"{site}: a line printed twice:\n{result.stderr}"
