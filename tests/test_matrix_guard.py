"""Fault-matrix groups K (poison pills), L (waits and pauses) and R1 (an article written
twice), docs/fault-matrix.md: the real ``crawler`` process against the loopback portal server
(reached as the crawler's HTTP proxy), read back from its frontier, articles and stderr.
"""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.frontier import Frontier, Status
from tests.support import matrixkit as mk
from tests.support.portalserver import Fault, PortalServer, Response

HOST = "poison.example"
SITE = "poison"
LONG_LABEL = "a" * 64
BAD_HOSTS = (f"xn--zz.{HOST}", f"a..{HOST}", f"{LONG_LABEL}.{HOST}")
_XML = (("Content-Type", "application/xml"),)


def _url(path: str) -> str:
    return f"http://{HOST}{path}"


def _write(tmp: Path, text: str) -> Path:
    path = tmp / "config.yaml"
    path.write_text(text)
    return path


def _site(**seeds: list[str]) -> dict[str, object]:
    return mk.site_yaml(SITE, [HOST], article_urls=[rf"^http://[^/]*{HOST}/read/"], **seeds)


def _config(server: PortalServer, archive: Path, site: dict[str, object], **crawl: object) -> str:
    crawl.setdefault("timeouts_s", {"connect": 5, "read": 5, "total": 10})
    return mk.config_text(archive, site, allow=(f"{server.host}/32",), proxy=server.url, **crawl)


def _robots() -> Response:
    return Response(200, b"User-agent: *\nAllow: /\n", (("Content-Type", "text/plain"),))


# ---------------------------------------------------------------- K1-K5: one poisoned portal


@dataclass(frozen=True)
class Poisoned:
    run: subprocess.CompletedProcess[str]
    rows: dict[str, str]  # url → state
    articles: Counter[str]
    hits: list[str]
    hosts: set[str]


def _poisoned_routes() -> dict[str, Response]:
    bad_links = "".join(f'<a class="item" href="http://{host}/read/9">x</a>' for host in BAD_HOSTS)
    listing = (
        '<html><head><base href="http://[::1/x"></head><body>'
        '<a class="item" href="/read/1">1</a><a class="item" href="http://poison.example/read/2">2</a>'
        '<a class="item" href="http://[::1/x">bad</a>' + bad_links +
        '<a class="item" href="/read/7">redirect</a><a class="item" href="/read/8">429</a></body></html>'
    ).encode()
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><link>{_url('/read/4')}</link><pubDate>Tue, 23 Feb 2016 10:00:00 +0700</pubDate></item>"
        f"<item><link>{_url('/read/5')}</link><pubDate>9999-12-31T23:59:00-05:00</pubDate></item>"
        "<item><link>http://[::1/x</link></item></channel></rss>"
    ).encode()
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{_url('/read/6')}</loc></url><url><loc>http://[::1/x</loc></url>"
        f"<url><loc>http://xn--zz.{HOST}/read/10</loc></url></urlset>"
    ).encode()
    routes = {
        _url("/indeks?page=1"): Response(200, listing),
        _url("/indeks?page=2"): Response(200, b"<html><body></body></html>"),
        _url("/rss"): Response(200, feed, (("Content-Type", "application/rss+xml"),)),
        _url("/sitemap.xml"): Response(200, sitemap, _XML),
        _url("/robots.txt"): _robots(),
    }
    for number in (1, 2, 3, 4, 5, 6, 8):
        routes[_url(f"/read/{number}")] = Response(200, mk.article_html(f"Judul {number}"))
    return routes


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory: pytest.TempPathFactory) -> Poisoned:
    tmp = tmp_path_factory.mktemp("poison")
    archive = tmp / "archive"
    site = _site(listings=[_url("/indeks?page={page}")], feeds=[_url("/rss")],
                 sitemaps=[_url("/sitemap.xml")])
    with PortalServer(_poisoned_routes()) as server:
        server.fault(_url("/read/7"), Fault.redirect("http://[x]/"))
        server.fault(_url("/read/8"), Fault(fail_first=1, fail_status=429, retry_after="\u00b2"))
        config = _write(tmp, _config(server, archive, site))
        run = mk.run_cli(mk.crawl_command(config, archive))
        hits = [hit.url for hit in server.log]
        hosts = {hit.host for hit in server.log}
    rows = {url: mk.state(row) for url, row in mk.frontier_rows(archive).items()}
    return Poisoned(run, rows, Counter(a["url"] for a in mk.articles(archive)), hits, hosts)


GOOD = [_url(f"/read/{n}") for n in (1, 2, 4, 5, 6, 8)]


def test_K1_malformed_links_base_and_loc_are_dropped_counted_and_named_with_their_page(
    poisoned: Poisoned,
) -> None:
    run = poisoned.run
    mk.assert_no_traceback(run.stderr)
    assert run.returncode == 3, run.stderr[-3000:]  # /read/7 failed (K4); nothing else
    # the listing's other links were followed, the feed's and sitemap's good entries too
    assert all(poisoned.articles[url] == 1 for url in GOOD), poisoned.articles
    assert poisoned.rows[_url("/indeks?page=1")] == "done"
    for page in ("/indeks?page=1", "/rss", "/sitemap.xml"):
        line = next((ln for ln in run.stderr.splitlines() if _url(page) in ln and "malformed" in ln), None)
        assert line is not None, f"no malformed-entries line for {page}:\n{run.stderr[-3000:]}"
    listing_line = next(ln for ln in run.stderr.splitlines() if "indeks?page=1: " in ln and "malformed" in ln)
    assert "5 malformed entries dropped" in listing_line and "<base href=" in listing_line
    assert not [url for url in poisoned.rows if "[" in url]


def test_K1_a_bad_base_href_falls_back_to_the_page_url(poisoned: Poisoned) -> None:
    assert poisoned.articles[_url("/read/1")] == 1  # "/read/1" resolved against the page, not the base


def test_K2_hosts_that_cannot_be_idna_encoded_never_reach_the_frontier_or_the_wire(
    poisoned: Poisoned,
) -> None:
    assert poisoned.hosts == {HOST}
    assert not [url for url in poisoned.rows if any(host in url for host in BAD_HOSTS)]
    assert all(url.startswith(f"http://{HOST}/") for url in poisoned.rows)


def test_K3_a_feed_date_beyond_year_9999_in_utc_is_read_as_absent_and_the_entry_kept(
    poisoned: Poisoned,
) -> None:
    assert poisoned.rows[_url("/rss")] == "done"
    assert poisoned.articles[_url("/read/5")] == 1
    lines = poisoned.run.stderr.splitlines()
    feed_line = next(ln for ln in lines if _url("/rss") in ln and "malformed" in ln)
    assert "date '9999-12-31T23:59:00-05:00'" in feed_line


def test_K4_a_redirect_to_an_unusable_location_fails_only_its_url_as_bad_redirect(
    poisoned: Poisoned,
) -> None:
    assert poisoned.rows[_url("/read/7")] == "failed:bad_redirect"
    assert poisoned.hits.count(_url("/read/7")) == 1  # not retried
    assert "'http://[x]/'" in poisoned.run.stderr and "not followed" in poisoned.run.stderr
    failed = [state for state in poisoned.rows.values() if state.startswith("failed")]
    assert failed == ["failed:bad_redirect"]


def test_K5_retry_after_in_non_ascii_digits_is_garbage_and_backoff_applies(poisoned: Poisoned) -> None:
    assert poisoned.hits.count(_url("/read/8")) == 2  # the 429, then the 200 after a backoff
    assert poisoned.rows[_url("/read/8")] == "done"
    assert poisoned.articles[_url("/read/8")] == 1


# ---------------------------------------------------------------- K6: the last guard


def test_K6_an_unexpected_exception_fails_one_url_internal_and_a_resume_never_meets_it(
    tmp_path: Path,
) -> None:
    news = mk.NewsPortal(4, per_listing_page=4)
    archive = tmp_path / "archive"
    with PortalServer(news.routes()) as server:
        config = _write(tmp_path, news.config(server, archive, concurrency=1))
        first = mk.run_cli(mk.crawl_command(config, archive), fault="raise_in_process:2")
        first_hits = [hit.url for hit in server.log]
        rows = mk.frontier_rows(archive)
        resumed = mk.run_cli(mk.crawl_command(config, archive))
        resumed_hits = [hit.url for hit in server.log[len(first_hits):]]
    for run in (first, resumed):
        mk.assert_no_traceback(run.stderr)
    assert first.returncode == 3, first.stderr[-3000:]
    assert resumed.returncode == 0, resumed.stderr[-3000:]  # exit 3 speaks of this run's failures
    internal = [url for url, row in rows.items() if mk.state(row) == "failed:internal"]
    assert len(internal) == 1, {url: mk.state(row) for url, row in rows.items()}
    (broken,) = internal
    assert broken in news.article_urls()
    assert f"{broken}: unexpected error, URL failed:internal, the crawl goes on" in first.stderr
    with Frontier.open(archive) as frontier:
        error = frontier.error_of(broken)
    assert error is not None and error.startswith("RuntimeError: CRAWLER_FAULT raise_in_process")
    assert "(at worker.py:" in error  # the frame that raised, named for the row
    others = set(news.article_urls()) - {broken}
    assert all(rows[url].status is Status.DONE for url in others)
    assert set(Counter(a["url"] for a in mk.articles(archive))) == others
    assert broken not in resumed_hits and not (others & set(resumed_hits))
    assert mk.state(mk.frontier_rows(archive)[broken]) == "failed:internal"


# ---------------------------------------------------------------- K7: 103 Early Hints


def test_K7_early_hints_are_no_overrun_and_the_keep_alive_connection_is_reused(tmp_path: Path) -> None:
    news = mk.NewsPortal(3, per_listing_page=3)
    hinted = {
        url: Response(200, response.body, response.headers, early_hints=("</s.css>; rel=preload; as=style",))
        for url, response in news.routes().items()
    }
    archive = tmp_path / "archive"
    with PortalServer(hinted) as server:
        config = _write(tmp_path, news.config(server, archive, concurrency=1, max_concurrency_per_host=1))
        run = mk.run_cli(mk.crawl_command(config, archive))
        connections = {hit.connection for hit in server.log}
        hits = len(server.log)
    mk.assert_no_traceback(run.stderr)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "more than Content-Length" not in run.stderr
    assert hits >= 5 and len(connections) == 1, f"{hits} requests over {len(connections)} connections"
    assert sorted(a["url"] for a in mk.articles(archive)) == sorted(news.article_urls())


# ---------------------------------------------------------------- K8: command-line values


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["crawl", "--since", "999999999d"], "--since '999999999d'"),
        (["crawl", "--since", "\u00b2d"], "--since '\u00b2d'"),
        (["extract", "PAGE", "--url", "http://[::1/x"], "--url 'http://[::1/x'"),
    ],
)
def test_K8_command_line_values_that_do_not_parse_exit_2_with_a_message(
    tmp_path: Path, args: list[str], named: str
) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(mk.article_html("Judul"))
    site = _site(listings=[_url("/indeks?page={page}")])
    config = _write(tmp_path, mk.config_text(tmp_path / "archive", site))
    argv = [str(page) if arg == "PAGE" else arg for arg in args]
    if argv[0] == "crawl":
        argv += ["--config", str(config), "--archive", str(tmp_path / "archive")]
    run = mk.run_cli([mk.sys.executable, "-m", "crawler.cli", *argv])
    mk.assert_no_traceback(run.stderr)
    assert run.returncode == 2, run.stderr
    assert named in run.stderr
    assert not (tmp_path / "archive").exists()  # refused before anything was opened


# ---------------------------------------------------------------- L: waits and pauses


def _deferred_line(stderr: str, key: str) -> str:
    line = next((ln for ln in stderr.splitlines() if ln.startswith(f"host {key} deferred until ")), None)
    assert line is not None, f"no 'host {key} deferred until' line:\n{stderr[-3000:]}"
    return line


def _until(line: str) -> float:
    """The epoch seconds a 'host ... deferred until YYYY-MM-DD HH:MM:SS UTC' line names."""
    stamp = line.split(" deferred until ", 1)[1][:19]
    return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) - time.timezone


def _advance(archive: Path, seconds: float) -> None:
    """Let ``seconds`` pass for the archive's stored waits (host pauses and deferred URLs), so
    a test need not sleep through a real Crawl-delay or Retry-After."""
    with closing(sqlite3.connect(archive / "state" / "frontier.sqlite")) as db, db:
        db.execute("UPDATE host_pauses SET until = until - ?", (seconds,))
        db.execute("UPDATE urls SET next_attempt_at = next_attempt_at - ? WHERE next_attempt_at > 0",
                   (seconds,))


def test_L1_a_long_retry_after_on_one_host_never_makes_another_hosts_robots_wait(tmp_path: Path) -> None:
    domain = "dom.example"
    a, b = f"http://a.{domain}", f"http://b.{domain}"
    routes = {
        f"{a}/robots.txt": _robots(), f"{b}/robots.txt": _robots(),
        f"{b}/indeks?page=1": Response(200, mk.listing_html([f"{b}/read/1"])),
        f"{b}/read/1": Response(200, mk.article_html("Judul")),
    }
    site = mk.site_yaml("dom", [domain], article_urls=[rf"^http://[ab]\.{domain}/read/"],
                        listings=[f"{a}/indeks?page={{page}}", f"{b}/indeks?page={{page}}"])
    site["dom"]["politeness"] = {"pace_by": "domain"}
    archive = tmp_path / "archive"
    with PortalServer(routes) as server:
        server.fault(f"{a}/indeks?page=1", Fault.too_many_requests(3600, times=100))
        config = _write(tmp_path, _config(server, archive, site, concurrency=2, max_concurrency_per_host=1))
        run = mk.run_cli(mk.crawl_command(config, archive), timeout=45)  # the bug waited an hour here
        hits = [hit.url for hit in server.log]
    mk.assert_no_traceback(run.stderr)
    assert run.returncode == 3, run.stderr[-3000:]  # every answer was a 429: the site is named as refusing us
    assert hits == [f"{a}/robots.txt", f"{a}/indeks?page=1"]  # b's robots.txt waits for the next run
    line = _deferred_line(run.stderr, domain)
    assert "(Retry-After)" in line and abs(_until(line) - (time.time() + 3600)) < 120
    rows = mk.frontier_rows(archive)
    assert {mk.state(row) for row in rows.values()} <= {"todo:paused", "todo:http_429"}
    assert all(row.next_attempt_at > time.time() + 3000 for row in rows.values())


def test_L2_a_crawl_delay_longer_than_the_run_defers_the_host_and_a_later_run_makes_progress(
    tmp_path: Path,
) -> None:
    news = mk.NewsPortal(3, per_listing_page=3)
    routes = news.routes()
    robots_url = f"http://{news.host}/robots.txt"
    routes[robots_url] = Response(200, b"User-agent: *\nCrawl-delay: 60\n", (("Content-Type", "text/plain"),))
    archive = tmp_path / "archive"
    retry = {"attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02, "retry_after_max_s": 1}
    with PortalServer(routes) as server:
        config = _write(tmp_path, news.config(server, archive, retry=retry))
        first = mk.run_cli(mk.crawl_command(config, archive))
        first_hits = len(server.log)
        second = mk.run_cli(mk.crawl_command(config, archive))  # still inside the delay: asks nothing
        second_hits = len(server.log) - first_hits
        line = _deferred_line(first.stderr, news.host)
        _advance(archive, 61)  # the Crawl-delay has passed
        third = mk.run_cli(mk.crawl_command(config, archive))
        third_pages = [hit.url for hit in server.log[first_hits + second_hits:] if hit.url != robots_url]
    for run in (first, second, third):
        mk.assert_no_traceback(run.stderr)
        assert run.returncode == 0, run.stderr[-3000:]
    assert "(Crawl-delay)" in line
    assert [hit.url for hit in server.log[:2]] == [robots_url, news.listing_template().format(page=1)]
    assert first_hits == 2 and second_hits == 0
    _deferred_line(second.stderr, news.host)
    assert len(third_pages) == 1, third_pages  # one page per Crawl-delay: progress, then deferred again
    assert len(mk.articles(archive)) + ("page=2" in third_pages[0]) == 1


def test_L3_a_retry_after_longer_than_the_run_defers_the_whole_host_and_others_finish(tmp_path: Path) -> None:
    news = mk.NewsPortal(3, per_listing_page=3)
    other = mk.NewsPortal(2, host="other.example", site_id="other")
    archive = tmp_path / "archive"
    with PortalServer({**news.routes(), **other.routes()}) as server:
        first = news.article_urls()[0]
        server.fault(first, Fault.too_many_requests(86400))
        config = _write(tmp_path, news.config(server, archive, sites={**news.site(), **other.site()},
                                               concurrency=1, max_concurrency_per_host=1))
        run = mk.run_cli(mk.crawl_command(config, archive))
        news_hits = [hit.url for hit in server.log if hit.host == news.host]
    mk.assert_no_traceback(run.stderr)
    assert run.returncode == 0, run.stderr[-3000:]
    line = _deferred_line(run.stderr, news.host)
    assert "(Retry-After)" in line and abs(_until(line) - (time.time() + 86400)) < 120
    after_429 = news_hits[news_hits.index(first) + 1:]
    assert after_429 == [], f"{news.host} asked again while paused: {after_429}"
    rows = mk.frontier_rows(archive)
    assert all(rows[url].status is Status.DONE for url in other.article_urls())
    assert all(rows[url].status is Status.TODO for url in news.article_urls())


def test_L4_a_retry_after_pause_is_kept_in_the_frontier_across_a_stop_and_resume(tmp_path: Path) -> None:
    news = mk.NewsPortal(3, per_listing_page=3)
    extra = f"http://{news.host}/read/2016/02/23/0099/judul-baru"
    routes = {**news.routes(), extra: Response(200, mk.article_html("Judul baru"))}
    archive = tmp_path / "archive"
    retry = {"attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02, "retry_after_max_s": 1}
    with PortalServer(routes) as server:
        server.fault(news.article_urls()[0], Fault.too_many_requests(60))
        config = _write(tmp_path, news.config(server, archive, retry=retry, concurrency=1))
        first = mk.run_cli(mk.crawl_command(config, archive))
        paused_at = next(hit.at for hit in server.log if hit.status == 429)
        with Frontier.open(archive) as frontier:
            stored = frontier.host_pauses(time.time())
        before = len(server.log)
        resumed = mk.run_cli(mk.crawl_command(config, archive, "--seed", extra))  # a URL never deferred
        during = server.log[before:]
        _advance(archive, 61)  # the pause has passed
        after = mk.run_cli(mk.crawl_command(config, archive))
        later = [hit for hit in server.log[before + len(during):] if not hit.url.endswith("/robots.txt")]
    for run in (first, resumed, after):
        mk.assert_no_traceback(run.stderr)
        assert run.returncode == 0, run.stderr[-3000:]
    assert stored[news.host][1] == "Retry-After"
    assert during == [], f"the resumed run asked the paused host: {[hit.url for hit in during]}"
    _deferred_line(resumed.stderr, news.host)
    assert abs(stored[news.host][0] - (time.time() + 60)) < 60
    assert later and min(hit.at for hit in later) > paused_at
    done = {url for url, row in mk.frontier_rows(archive).items() if row.status is Status.DONE}
    assert {*news.article_urls(), extra} <= done


# ---------------------------------------------------------------- R1: an article written twice


def test_R1_a_page_that_changed_between_two_fetches_is_written_once_after_a_kill_before_commit(
    tmp_path: Path,
) -> None:
    news = mk.NewsPortal(3, per_listing_page=3)
    articles = set(news.article_urls())
    routes = {url: response for url, response in news.routes().items() if url not in articles}
    served: Counter[str] = Counter()

    def changing(url: str) -> Response | None:  # a view counter in the page: new bytes every fetch
        if url not in articles:
            return None
        served[url] += 1
        return Response(200, mk.article_html("Judul", paragraphs=(mk.PROSE, f"Dibaca {served[url]} kali.")))

    archive = tmp_path / "archive"
    with PortalServer(routes, dynamic=changing) as server:
        config = _write(tmp_path, news.config(server, archive, concurrency=1))
        killed = mk.run_cli(mk.crawl_command(config, archive), fault="before_frontier_commit:2")
        written = Counter(a["url"] for a in mk.articles(archive))
        rows = mk.frontier_rows(archive)
        in_progress = {url for url, row in rows.items() if row.status is Status.IN_PROGRESS}
        resumed = mk.run_cli(mk.crawl_command(config, archive))
    assert killed.returncode == -9, killed.stderr[-3000:]
    (caught,) = in_progress & set(written)  # its line is on disk, its done mark is not
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    mk.assert_no_traceback(resumed.stderr)
    assert served[caught] == 2  # fetched again after the kill, with other bytes
    assert Counter(a["url"] for a in mk.articles(archive)) == {url: 1 for url in articles}
    assert "duplicates dropped: 1" in resumed.stderr
    assert all(row.status is Status.DONE for url, row in mk.frontier_rows(archive).items() if url in articles)
