"""The layout-drift alarm (crawler.health, ``crawler sites --health``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from crawler import health
from crawler.cli import main
from tests.support import matrixkit as mk
from tests.support.portalserver import PortalServer, Response

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
    assert health.summary_lines(second)[0] == "a: rules 70% (a/generic 3, a/v1 7)"
