"""Every outcome counted (issue 11, items 1 and 2): the real CLI crawls loopback portals where
pages answer 403/404/410, are not articles or are older than ``--since``, where a whole site
refuses us (403 everywhere, a challenge page), and sites nobody can reach (a name that does
not resolve, a closed port, a closed proxy). The summary names each outcome, the exit code is
3, and ``--summary-json`` says the same for a machine.
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crawler.frontier import Kind, Status
from crawler.outcomes import Group, Outcome, classify, network_cause, refusal
from tests.support import matrixkit as mk
from tests.support.portalserver import PortalServer, Response

pytestmark = pytest.mark.slow

SINCE = "2016-01-01"


# ---------------------------------------------------------------- the taxonomy, as a table


@pytest.mark.parametrize(
    ("status", "reason", "kind", "expected"),
    [
        (Status.DONE, None, Kind.ARTICLE, Outcome(Group.ARTICLE)),
        (Status.DONE, None, Kind.LISTING, Outcome(Group.LISTING)),
        (Status.DONE, "non_article", Kind.ARTICLE, Outcome(Group.NOT_ARTICLE)),
        (Status.DONE, "http_403", None, Outcome(Group.HTTP_4XX, "403")),
        (Status.DONE, "http_410", None, Outcome(Group.HTTP_4XX, "410")),
        (Status.DONE, "http_301", None, Outcome(Group.HTTP_3XX, "301")),
        (Status.DONE, "not_found", None, Outcome(Group.HTTP_4XX, "404")),  # stored by earlier versions
        (Status.FAILED, "http_503", None, Outcome(Group.HTTP_5XX, "503", failed=True)),
        (Status.FAILED, "timeout", None, Outcome(Group.FAILED, "timeout", failed=True)),
        (Status.SKIPPED, "before_since", None, Outcome(Group.BEFORE_SINCE)),
        (Status.DONE, "before_since", Kind.ARTICLE, Outcome(Group.BEFORE_SINCE)),
        (Status.SKIPPED, "robots", None, Outcome(Group.ROBOTS_DISALLOWED)),
        (Status.SKIPPED, "out_of_scope", None, Outcome(Group.SKIPPED, "out_of_scope")),
        (Status.TODO, "robots_unavailable", None, Outcome(Group.ROBOTS_UNAVAILABLE)),
        (Status.TODO, "http_429", None, Outcome(Group.DEFERRED, "http_429")),
        (Status.TODO, "paused", None, Outcome(Group.DEFERRED, "paused")),
        (Status.TODO, None, None, Outcome(Group.QUEUED)),
        (Status.DONE, "challenge", None, Outcome(Group.CHALLENGE)),
    ],
)
def test_each_frontier_state_has_one_outcome(status: Status, reason: str | None, kind: Kind | None,
                                             expected: Outcome) -> None:
    assert classify(status, reason, kind) == expected


def test_a_site_refuses_us_when_most_answers_are_refusals() -> None:
    forbidden, article = Outcome(Group.HTTP_4XX, "403"), Outcome(Group.ARTICLE)
    assert refusal({forbidden: 3, article: 2}) == (3, 5)
    assert refusal({forbidden: 2, article: 3}) is None
    assert refusal({Outcome(Group.DEFERRED, "http_429"): 1}) == (1, 1)
    assert refusal({Outcome(Group.HTTP_4XX, "404"): 9}) is None


@pytest.mark.parametrize(
    ("message", "cause"),
    [
        ("ConnectError: cannot resolve 'x.invalid': [Errno -2] Name or service not known",
         "name resolution failed"),
        ("[Errno -3] Temporary failure in name resolution", "name resolution failed"),
        ("ConnectError: [Errno 111] Connect call failed ('127.0.0.1', 9)", "connection refused"),
        ("ProxyError: 502 Bad Gateway", "proxy"),
        ("HTTP 404", None),
    ],
)
def test_network_causes_are_named(message: str, cause: str | None) -> None:
    assert network_cause(message) == cause


# ---------------------------------------------------------------- a crawl with every outcome


@dataclass(frozen=True)
class Crawled:
    result: subprocess.CompletedProcess[str]
    summary: dict[str, Any]
    news: mk.NewsPortal


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _portal_routes(news: mk.NewsPortal) -> dict[str, Response]:
    urls = news.article_urls()
    routes = news.routes()
    routes[urls[0]] = Response(404, b"<h1>not found</h1>")
    routes[urls[1]] = Response(404, b"<h1>not found</h1>")
    routes[urls[2]] = Response(410, b"<h1>gone</h1>")
    routes[urls[3]] = Response(403, b"<h1>forbidden</h1>")
    routes[urls[4]] = Response(200, b"<html><body><p>Daftar isi</p></body></html>")  # no article in it
    for number in (5, 6):
        routes[urls[number]] = Response(200, mk.article_html(f"Lama {number}", day="2015-03-01"))
    return routes


def _refusing_site(host: str,
                   headers: tuple[tuple[str, str], ...] = ()) -> tuple[dict[str, Any], dict[str, Response]]:
    """A site whose every page answers 403 (``headers`` may mark it a challenge page)."""
    portal = mk.NewsPortal(articles=4, host=host, site_id=host.split(".")[0])
    routes = {url: Response(403, b"<h1>Just a moment...</h1>", (("Content-Type", "text/html"), *headers))
              for url in portal.routes()}
    routes[f"http://{host}/robots.txt"] = Response(200, b"User-agent: *\nAllow: /\n",
                                                   (("Content-Type", "text/plain"),))
    return portal.site(), routes


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Crawled:
    root = tmp_path_factory.mktemp("outcomes")
    news = mk.NewsPortal(articles=12)
    blocked_site, blocked_routes = _refusing_site("blocked.example")
    challenge = (("cf-mitigated", "challenge"),)
    challenged_site, challenged_routes = _refusing_site("challenged.example", challenge)
    routes = {**_portal_routes(news), **blocked_routes, **challenged_routes}
    with PortalServer(routes) as server:
        config = root / "config.yaml"
        config.write_text(news.config(server, root / "archive",
                                      sites={**news.site(), **blocked_site, **challenged_site}))
        summary_path = root / "summary.json"
        result = mk.run_cli(mk.crawl_command(config, root / "archive", "--since", SINCE,
                                             "--summary-json", str(summary_path)))
    mk.assert_no_traceback(result.stderr)
    return Crawled(result, json.loads(summary_path.read_text(encoding="utf-8")), news)


def test_refusals_and_not_found_make_the_run_exit_3(crawled: Crawled) -> None:
    assert crawled.result.returncode == 3, crawled.result.stderr[-3000:]
    assert crawled.summary["exit_code"] == 3


def test_the_summary_counts_every_outcome_by_reason(crawled: Crawled) -> None:
    news = crawled.summary["sites"]["news"]["outcomes"]
    assert news["http_4xx:404"] == 2 and news["http_4xx:410"] == 1 and news["http_4xx:403"] == 1
    assert news["before_since"] == 2
    assert news["article"] == 5
    assert news.get("not_article", 0) + news.get("failed:extract_empty", 0) == 1
    assert crawled.summary["sites"]["news"]["articles_written"] == 5
    stderr = crawled.result.stderr
    for text in ("2 HTTP 404", "1 HTTP 410", "1 HTTP 403", "2 before --since", "5 article pages"):
        assert text in stderr, f"{text!r} not in the summary:\n{stderr[-3000:]}"


def test_a_site_that_refuses_us_is_named_with_a_hint(crawled: Crawled) -> None:
    sites = crawled.summary["sites"]
    assert sites["blocked"]["refused"] is not None and sites["challenged"]["refused"] is not None
    assert sites["news"]["refused"] is None  # one 403 among many answers is not a refusal
    assert sites["challenged"]["outcomes"] == {"challenge": 1}
    stderr = crawled.result.stderr
    assert "blocked: the site refused us: 1 of 1 answers were HTTP 403" in stderr
    assert "challenged: the site refused us" in stderr and "bot challenge page" in stderr
    assert "crawl.user_agent" in stderr


def test_summary_json_schema(crawled: Crawled) -> None:
    summary = crawled.summary
    assert summary["schema"] == "crawler-summary/1"
    assert set(summary) >= {"started", "elapsed_s", "exit_code", "ended", "articles_written", "fetched",
                            "failed", "outcomes", "sites", "frontier", "warcs"}
    assert summary["ended"] == "complete" and summary["articles_written"] == 5
    assert summary["frontier"]["news"]["statuses"]["done"] >= 12
    assert summary["frontier"]["news"]["outcomes"]["http_4xx:404"] == 2  # cumulative, from the frontier
    for site in summary["sites"].values():
        assert set(site) == {"fetched", "articles_written", "answered", "failed", "outcomes", "deferred",
                             "refused", "unreachable"}


# ---------------------------------------------------------------- nothing reachable


def _unreachable_config(archive: Path, port: int, **crawl: Any) -> str:
    sites = {
        **mk.site_yaml("nowhere", ["news.nowhere.invalid"], listings=["http://news.nowhere.invalid/indeks"]),
        **mk.site_yaml("closed", ["127.0.0.1"], listings=[f"http://127.0.0.1:{port}/indeks"]),
    }
    return mk.config_text(archive, sites, **crawl)


def test_offline_every_site_is_named_with_its_cause_and_a_second_run_says_the_same(tmp_path: Path) -> None:
    port = _closed_port()
    config = tmp_path / "config.yaml"
    config.write_text(_unreachable_config(tmp_path / "archive", port))
    for attempt in ("first", "within the retry pause"):
        summary_path = tmp_path / f"{attempt}.json"
        result = mk.run_cli(mk.crawl_command(config, tmp_path / "archive", "--since", "1d",
                                             "--max-pages", "500", "--summary-json", str(summary_path)))
        mk.assert_no_traceback(result.stderr)
        assert result.returncode == 3, f"{attempt}: {result.stderr[-3000:]}"
        stderr = result.stderr
        assert "no host could be reached: nothing was fetched; check the network or proxy" in stderr, attempt
        assert "nowhere: no host reachable (news.nowhere.invalid: name resolution failed)" in stderr, attempt
        assert "closed: no host reachable (127.0.0.1: connection refused)" in stderr, attempt
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        assert summary["fetched"] == 0 and summary["articles_written"] == 0
        hosts = summary["sites"]["nowhere"]["unreachable"]["hosts"]
        assert hosts == {"news.nowhere.invalid": "name resolution failed"}
        assert [d["reason"] for d in summary["sites"]["closed"]["deferred"]] == ["robots_unavailable"]
        assert "fetched 1" not in stderr


def test_a_closed_proxy_is_named(tmp_path: Path) -> None:
    port = _closed_port()
    config = tmp_path / "config.yaml"
    sites = mk.site_yaml("news", ["news.example"], listings=["http://news.example/indeks"])
    config.write_text(mk.config_text(tmp_path / "archive", sites, proxy=f"http://127.0.0.1:{port}"))
    result = mk.run_cli(mk.crawl_command(config, tmp_path / "archive"))
    mk.assert_no_traceback(result.stderr)
    assert result.returncode == 3, result.stderr[-3000:]
    assert f"news: no host reachable via proxy http://127.0.0.1:{port} (news.example: connection refused)" \
        in result.stderr


def test_the_placeholder_contact_is_recorded_in_warcinfo(crawled: Crawled) -> None:
    (warc,) = crawled.summary["warcs"]
    (info,) = [r for r in mk.warc_records(Path(warc).parent) if r.type == "warcinfo"]
    assert b"placeholder contact set-your-email@example.org" in info.payload
