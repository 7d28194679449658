"""The layout-drift alarm (crawler.health, ``crawler sites --health``, the crawl's summary).

The drift tests crawl a loopback portal whose template changes halfway: within one crawl (in
process, and with two processes), and between two ``crawler crawl`` runs as real
subprocesses, where the second run's summary, ``--summary-json`` and ``crawler sites
--health`` afterwards name the site and the generation that stopped matching, and the clean
first run warns of nothing. Each crawl records its run once, on a Redis frontier too."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler import health
from crawler.cli import main
from crawler.frontier import Status
from crawler.outcomes import SiteProgress
from tests.support import matrixkit as mk
from tests.support.portalserver import PortalServer, Response
from tests.support.redisserver import RedisServer

V1 = {"id": "v1", "detect": "div.body", "title": ["css:h1"], "published": ["meta:article:published_time"],
      "body": ["css:div.body"]}


def _new_template(title: str) -> bytes:
    """The portal's template after its redesign: no ``div.body`` any more."""
    paragraphs = "".join(f"<p>{mk.PROSE} ({n})</p>" for n in range(3))
    return (
        "<html><head><meta charset='utf-8'><meta property='og:type' content='article'>"
        "<meta property='article:published_time' content='2016-02-23T10:00:00+07:00'>"
        f"<title>{title}</title></head><body><h1 class='headline'>{title}</h1>"
        f"<section class='story-text'>{paragraphs}</section></body></html>"
    ).encode()


def test_drift_portal_whose_template_changes_halfway_is_named_with_its_generation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    news = mk.NewsPortal(8, per_listing_page=4)
    routes = news.routes()
    for number, url in enumerate(news.article_urls()[4:], start=4):  # the second listing page
        routes[url] = Response(200, _new_template(f"Judul {number}"))
    archive = tmp_path / "archive"
    with PortalServer(routes) as server:
        config = news.config(server, archive, sites=news.site(generations=[V1]), concurrency=1)
        asyncio.run(mk.crawl_in_process(config, archive))
    built = [a["built_by"]["rules"] for a in mk.articles(archive)]
    assert sorted(built) == ["news/generic"] * 4 + ["news/v1"] * 4
    assert main(["sites", "--health", str(archive)]) == 0
    shown = capsys.readouterr().out
    assert "WARNING news: rules built 50% of 8 articles" in shown
    assert "generation news/v1 stopped matching" in shown
    assert main(["sites", "--health", str(archive), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sites"]["news"]["rule_share"] == 0.5
    assert report["sites"]["news"]["generic"] == 4
    assert report["sites"]["news"]["stopped_matching"] == "news/v1"


def test_rule_share_is_compared_with_the_sites_own_history(tmp_path: Path) -> None:
    archive = tmp_path
    lines = [json.dumps({"site": "a", "built_by": {"rules": "a/v1", "fallbacks": []}})] * 10
    (archive / "articles.jsonl").write_text("\n".join(lines) + "\n")
    first = health.record_run(archive)
    assert first.warnings == [] and first.run["a"].rule_share == 1.0
    later = [json.dumps({"site": "a", "built_by": {"rules": "a/v1", "fallbacks": []}})] * 7
    later += [json.dumps({"site": "a", "built_by": {"rules": "a/v1", "fallbacks": ["body"]}})] * 3
    with (archive / "articles.jsonl").open("a") as out:
        out.write("\n".join(later) + "\n")
    second = health.report(archive)
    assert second.run["a"].total == 10  # only this run's articles
    assert [w.site for w in second.warnings] == ["a"]
    assert "usually 100%" in second.warnings[0].message
    assert health.summary_lines(second)[1] == (
        "  a: rules 70% (a/v1 7), generic 30% (3), failed 0% (0) of 10 articles; earlier runs 100%")



def test_a_site_without_generations_is_shown_but_never_warned_of(tmp_path: Path) -> None:
    """An inline site with no layout rules is all generic by design: no template to drift from."""
    lines = [json.dumps({"site": "plain", "built_by": {"rules": "plain/generic", "fallbacks": []}})] * 4
    lines += [json.dumps({"site": "a", "built_by": {"rules": "a/generic", "fallbacks": []}})] * 4
    (tmp_path / "articles.jsonl").write_text("\n".join(lines) + "\n")
    found = health.record_run(tmp_path, ruled={"a"})
    assert found.run["plain"].generic_built == 4  # shown
    assert [w.site for w in found.warnings] == ["a"]  # a has rules that built nothing
    assert [w.site for w in health.report(tmp_path).warnings] == ["a"]  # remembered for sites --health
    assert [w.site for w in health.report(tmp_path, ruled={"a", "plain"}).warnings] == ["a", "plain"]


# ---------------------------------------------------------------- through ``crawler crawl``


def _history(archive: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((archive / "state" / health.HISTORY_NAME).read_text())
    return data


def _sites_health(archive: Path, *extra: str) -> str:
    done = mk.run_cli([sys.executable, "-m", "crawler.cli", "sites", "--health", str(archive), *extra])
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_drift_between_two_crawls_is_named_by_the_summary_and_by_sites_health(tmp_path: Path) -> None:
    news = mk.NewsPortal(8, per_listing_page=4)
    routes = news.routes()
    second_listing = news.listing_template().replace("{page}", "2")
    later = routes[second_listing]
    routes[second_listing] = Response(200, mk.listing_html([]))  # the first run sees 4 articles
    archive = tmp_path / "archive"
    with PortalServer(routes) as server:
        config = tmp_path / "config.yaml"
        config.write_text(news.config(server, archive, sites=news.site(generations=[V1]), concurrency=1))
        first = mk.run_cli(mk.crawl_command(config, archive))
        assert first.returncode == 0, first.stderr
        assert "  news: rules 100% (news/v1 4), generic 0% (0), failed 0% (0) of 4 articles" in first.stderr
        assert "WARNING news" not in first.stderr  # a clean run warns of nothing
        assert "WARNING" not in _sites_health(archive)

        server.routes[second_listing] = later  # overnight: four new articles, in the new template
        for number, url in enumerate(news.article_urls()[4:], start=4):
            server.routes[url] = Response(200, _new_template(f"Judul {number}"))
        summary_json = tmp_path / "summary.json"
        second = mk.run_cli(mk.crawl_command(config, archive, "--summary-json", str(summary_json)))
    assert second.returncode == 0, second.stderr
    mk.assert_no_traceback(second.stderr)
    assert ("  news: rules 0% (-), generic 100% (4), failed 0% (0) of 4 articles; earlier runs 100%"
            in second.stderr)
    warning = "WARNING news: rules built 0% of 4 articles (usually 100%)"
    assert warning in second.stderr
    assert "generation news/v1 stopped matching" in second.stderr

    document = json.loads(summary_json.read_text())
    assert document["schema"] == "crawler-summary/1"
    assert document["health"]["run"]["state"] == "recorded"
    assert document["health"]["sites"]["news"]["stopped_matching"] == "news/v1"
    assert document["health"]["sites"]["news"]["history"] == [1.0]
    assert [w["site"] for w in document["health"]["warnings"]] == ["news"]

    # nothing written since: sites --health shows the last recorded run, with its history
    shown = _sites_health(archive)
    assert shown.startswith("last recorded run: ")
    assert "(complete), 4 articles; 1 earlier run" in shown
    assert warning in shown and "generation news/v1 stopped matching" in shown
    report = json.loads(_sites_health(archive, "--json"))
    assert report["run"]["state"] == "recorded"
    assert report["sites"]["news"]["rule_share"] == 0.0
    assert report["sites"]["news"]["history"] == [1.0]
    assert report["sites"]["news"]["stopped_matching"] == "news/v1"
    runs = _history(archive)["runs"]
    assert isinstance(runs, list) and [run["ended"] for run in runs] == ["complete", "complete"]


def test_a_crawl_of_two_processes_records_its_run_once(tmp_path: Path) -> None:
    news = mk.NewsPortal(8, per_listing_page=4)
    routes = news.routes()
    for number, url in enumerate(news.article_urls()[4:], start=4):
        routes[url] = Response(200, _new_template(f"Judul {number}"))
    archive = tmp_path / "archive"
    with PortalServer(routes) as server:
        config = tmp_path / "config.yaml"
        config.write_text(news.config(server, archive, sites=news.site(generations=[V1]), processes=2))
        done = mk.run_cli(mk.crawl_command(config, archive))
    assert done.returncode == 0, done.stderr
    assert "WARNING news: rules built 50% of 8 articles" in done.stderr
    runs = _history(archive)["runs"]
    assert isinstance(runs, list) and len(runs) == 1
    assert runs[0]["sites"]["news"]["by_rules"] == {"news/v1": 4, "news/generic": 4}


def test_a_crawl_on_a_redis_frontier_records_its_run_once(tmp_path: Path) -> None:
    news = mk.NewsPortal(4, per_listing_page=4)
    archive = tmp_path / "archive"
    with RedisServer(tmp_path / "redis") as redis, PortalServer(news.routes()) as server:
        config = tmp_path / "config.yaml"
        config.write_text(news.config(server, archive, frontier=redis.url, name="health"))
        done = mk.run_cli(mk.crawl_command(config, archive))
    assert done.returncode == 0, done.stderr
    assert "  news: rules 100% (news/v1 4)" in done.stderr
    runs = _history(archive)["runs"]
    assert isinstance(runs, list) and len(runs) == 1
    assert runs[0]["sites"]["news"]["by_rules"] == {"news/v1": 4}


# ---------------------------------------------------------------- when a run is recorded


def _line(rules: str, fallbacks: tuple[str, ...] = ()) -> str:
    return json.dumps({"site": "a", "built_by": {"rules": rules, "fallbacks": list(fallbacks)}})


def test_articles_a_killed_crawl_left_unrecorded_are_a_run_of_their_own(tmp_path: Path) -> None:
    (tmp_path / "articles.jsonl").write_text("\n".join([_line("a/v1")] * 3 + [_line("a/generic")] * 2) + "\n")
    this_run = health.record_run(tmp_path, failures={"a": 1}, written=2, ended="complete")
    runs = _history(tmp_path)["runs"]
    assert isinstance(runs, list) and [run["ended"] for run in runs] == ["unrecorded", "complete"]
    assert runs[0]["sites"]["a"]["by_rules"] == {"a/v1": 3}
    assert this_run.run["a"].by_rules == {"a/generic": 2} and this_run.run["a"].failed == 1
    assert this_run.history == [{"a": 1.0}]
    assert "generation a/v1 stopped matching" in this_run.warnings[0].message  # from the run before


def test_a_run_without_articles_is_not_recorded_and_the_last_run_stays_shown(tmp_path: Path) -> None:
    (tmp_path / "articles.jsonl").write_text(_line("a/v1") + "\n")
    health.record_run(tmp_path)
    nothing = health.record_run(tmp_path, failures={}, written=0)
    assert nothing.state == health.EMPTY and health.summary_lines(nothing) == []
    runs = _history(tmp_path)["runs"]
    assert isinstance(runs, list) and len(runs) == 1
    shown = health.report(tmp_path)
    assert shown.state == health.RECORDED and shown.run["a"].total == 1 and shown.history == []


def test_record_from_the_command_line_is_refused_while_a_crawl_holds_the_archive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from crawler.frontier import ArchiveLock

    (tmp_path / "articles.jsonl").write_text(_line("a/v1") + "\n")
    assert main(["sites", "--health", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("not recorded yet: 1 articles since the last recorded run")
    with ArchiveLock(tmp_path):
        assert main(["sites", "--health", str(tmp_path), "--record"]) == 9
    assert main(["sites", "--health", str(tmp_path), "--record"]) == 0
    assert capsys.readouterr().out.startswith("last recorded run: ")


@dataclass(frozen=True)
class _End:
    progress: dict[str, SiteProgress]
    articles_written: int
    interrupted: bool = False
    hit_max_pages: bool = False


def test_a_crawl_whose_history_cannot_be_written_still_ends_with_its_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "articles.jsonl").write_text(_line("a/v1") + "\n")
    (tmp_path / "state" / health.HISTORY_NAME).mkdir(parents=True)  # not a file: replacing it fails
    progress = SiteProgress()
    progress.settle(Status.FAILED, "extract_empty")
    assert health.record_crawl(tmp_path, _End({"a": progress}, 1, interrupted=True)) is None
    assert "the layout health of this run was not recorded" in caplog.text
    assert not list((tmp_path / "state").glob("*.tmp"))


def test_a_crawls_extraction_failures_count_in_its_run(tmp_path: Path) -> None:
    (tmp_path / "articles.jsonl").write_text(_line("a/v1") + "\n")
    progress = SiteProgress()
    progress.settle(Status.FAILED, "extract_empty")
    progress.settle(Status.FAILED, "timeout")  # not an extraction failure
    found = health.record_crawl(tmp_path, _End({"a": progress}, 1, interrupted=True))
    assert found is not None and found.ended == "interrupted"
    assert found.run["a"].failed == 1 and found.run["a"].rule_share == 0.5
    assert "generation a/v1 stopped matching" in found.warnings[0].message
