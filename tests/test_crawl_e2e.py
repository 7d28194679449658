"""End to end: a crawl of the loopback portals through the proxy setting, with the real fetcher,
WARC writer and extractors.

Checks: every fixture article reachable from the seeds is extracted and equals its expected
JSON (except ``source``, which must point at the archived response); no host ever got two
requests closer than its interval; robots.txt disallow is respected (RELIABILITY E1); a 500
then 200 page (C4), a 429 with Retry-After (C1) and off-scope redirects (D4, D7) behave as
the fault matrix says; the canary is never contacted; the WARCs read back whole. Every check
runs on a one-process crawl and on a two-process one (``crawl.processes: 2``, hosts split
between the processes).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.config import builtin_sites, parse_config
from crawler.extract import Extractor
from crawler.frontier import Frontier, Row, Status
from crawler.models import Page
from crawler.pipeline import Crawl, CrawlOptions, CrawlSummary
from crawler.warc.verify import verify_file
from tests.support.portalserver import (
    Canary,
    Fault,
    FixturePage,
    Portal,
    PortalServer,
    SiteShape,
    build_portal,
    interval_violations,
    portal_config,
)

pytestmark = pytest.mark.slow

INTERVAL_S = 0.2
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class Faults:
    server_error: str  # 500 once, then 200
    too_many: str  # 429 + Retry-After once, then 200
    disallowed: str  # robots.txt Disallow
    offsite_redirect: str  # 302 to another site
    canary_redirect: str  # 302 to the canary on 127.0.0.2


@dataclass(frozen=True)
class Run:
    portal: Portal
    server: PortalServer
    canary: Canary
    archive: Path
    summary: CrawlSummary
    faults: Faults
    rows: dict[str, Row]
    processes: int

    def articles(self) -> dict[str, dict[str, object]]:
        lines = (self.archive / "articles.jsonl").read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines]
        by_url = {record["url"]: record for record in records}
        assert len(by_url) == len(records), "an article was written twice"
        return by_url

    def expected(self) -> list[FixturePage]:
        return [page for page in self.portal.articles() if page.url != self.faults.disallowed]


def _shapes() -> list[SiteShape]:
    return [SiteShape(s.id, s.domains, s.listing.links, s.listing.next) for s in builtin_sites()]


def _sibling(url: str, slug: str) -> str:
    """A URL on the same host and path as ``url`` with its last path segment replaced."""
    parts = urlsplit(url)
    path = parts.path.rsplit("/", 1)[0] + "/" + slug
    return f"{parts.scheme}://{parts.netloc}{path}"


def _pick_faults(portal: Portal, canary: Canary) -> tuple[Faults, dict[str, list[str]], dict[str, list[str]]]:
    extractor = Extractor(builtin_sites())
    kompas = [p.url for p in portal.articles() if p.site == "kompas"]
    antara = [p.url for p in portal.articles() if p.site == "antaranews" and "//www." in p.url]
    republika = [p.url for p in portal.articles() if p.site == "republika"]
    offsite = _sibling(kompas[0], "99999901/dipindahkan")
    to_canary = _sibling(kompas[0], "99999902/ke-canary")
    assert extractor.is_article_url(offsite) and extractor.is_article_url(to_canary)
    faults = Faults(
        server_error=kompas[1], too_many=antara[0], disallowed=republika[0],
        offsite_redirect=offsite, canary_redirect=to_canary,
    )
    disallow = {urlsplit(faults.disallowed).hostname or "": [urlsplit(faults.disallowed).path]}
    extra = {"kompas": [offsite, to_canary]}
    del canary
    return faults, disallow, extra


@pytest.fixture(scope="module", params=[1, 2], ids=["1-process", "2-processes"])
def run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Run]:
    processes = request.param
    archive = tmp_path_factory.mktemp(f"e2e-{processes}") / "archive"
    with Canary() as canary:
        plain = build_portal(_shapes())
        faults, disallow, extra = _pick_faults(plain, canary)
        portal = build_portal(_shapes(), disallow=disallow, extra_listing_links=extra)
        with PortalServer(portal.routes) as server:
            server.fault(faults.server_error, Fault.server_error_then_ok(1, 500))
            server.fault(faults.too_many, Fault.too_many_requests(RETRY_AFTER_S))
            server.fault(faults.offsite_redirect, Fault.redirect("https://other.example/berita/1"))
            server.fault(faults.canary_redirect, Fault.redirect(f"{canary.url}/landing"))
            config = parse_config(portal_config(portal, server, archive, interval_s=INTERVAL_S,
                                                extra_crawl={"processes": processes}))
            summary = asyncio.run(Crawl(config, CrawlOptions(archive)).run())
            with Frontier.open(archive) as frontier:
                rows = {row.url: row for row in frontier.rows()}
            yield Run(portal, server, canary, archive, summary, faults, rows, processes)


def test_every_reachable_fixture_article_is_extracted_as_expected(run: Run) -> None:
    articles = run.articles()
    expected = run.expected()
    assert len(expected) >= 15
    missing = [page.url for page in expected if page.url not in articles]
    assert not missing, f"fixture articles not extracted: {missing}"
    extractor = Extractor(builtin_sites())
    problems = []
    for page in expected:
        got = dict(articles[page.url])
        source = got.pop("source")
        assert isinstance(source, dict) and source["warc"] and source["record_id"]
        assert got.pop("built_by")["rules"].startswith(f"{page.site}/")  # which rules built it
        want = {key: value for key, value in (page.article or {}).items() if key != "source"}
        if got != want:
            offline = extractor.extract(Page.from_file_bytes(page.url, page.body))
            offline_dict = {k: v for k, v in (offline.to_dict() if offline else {}).items()
                            if k not in ("source", "built_by")}
            where = "the crawl only" if offline_dict == want else "offline extraction too (extractor/fixture)"
            keys = sorted(key for key in want if got.get(key) != want.get(key))
            problems.append(f"{page.site}/{page.slug}.json: {keys} differ; differs in {where}")
    assert not problems, "\n".join(problems)
    assert set(articles) <= {page.url for page in expected}


def test_article_source_points_at_the_archived_response(run: Run) -> None:
    for url, article in run.articles().items():
        source = article["source"]
        assert isinstance(source, dict)
        with (run.archive / str(source["warc"])).open("rb") as handle:
            handle.seek(int(source["offset"]))
            record = next(iter(ArchiveIterator(handle)))
            assert record.rec_headers.get_header("WARC-Record-ID") == source["record_id"]
            assert record.rec_headers.get_header("WARC-Target-URI") == url
            assert record.rec_type in ("response", "revisit")


def test_no_host_got_two_requests_closer_than_its_interval(run: Run) -> None:
    assert len(run.server.log) > 40
    assert interval_violations(run.server.log, INTERVAL_S) == []


def test_every_url_ended_in_one_terminal_state(run: Run) -> None:
    assert run.summary.todo == 0
    assert all(row.status in (Status.DONE, Status.FAILED, Status.SKIPPED) for row in run.rows.values())
    fetched = {hit.url for hit in run.server.log if not hit.url.endswith("/robots.txt")}
    assert fetched <= set(run.rows), "a URL was fetched without a frontier row"


def test_robots_disallow_is_respected(run: Run) -> None:
    assert run.server.hits(run.faults.disallowed) == []
    row = run.rows[run.faults.disallowed]
    assert (row.status, row.reason) == (Status.SKIPPED, "robots")


def test_500_then_200_is_retried_once_and_archived_once(run: Run) -> None:
    url = run.faults.server_error
    assert [hit.status for hit in run.server.hits(url)] == [500, 200]
    assert run.rows[url].status is Status.DONE
    assert url in run.articles()
    assert _captures(run.archive, url) == [200]


def test_429_pauses_the_whole_host_for_retry_after(run: Run) -> None:
    url = run.faults.too_many
    host = urlsplit(url).hostname
    hits = run.server.hits(host=host)
    first_429 = next(hit for hit in hits if hit.status == 429)
    later = [hit for hit in hits if hit.at > first_429.at]
    assert later, "nothing was fetched from the host after the 429"
    assert later[0].at - first_429.at >= RETRY_AFTER_S - 0.05
    assert [hit.status for hit in run.server.hits(url)] == [429, 200]
    assert run.rows[url].status is Status.DONE
    assert _captures(run.archive, url) == [200]  # the 429 is not archived as a capture


def test_offsite_redirects_are_archived_but_not_followed(run: Run) -> None:
    for url in (run.faults.offsite_redirect, run.faults.canary_redirect):
        assert [hit.status for hit in run.server.hits(url)] == [302]
        assert _captures(run.archive, url) == [302]
    offsite = run.rows[run.faults.offsite_redirect]
    assert (offsite.status, offsite.reason) == (Status.SKIPPED, "out_of_scope")  # D7
    to_canary = run.rows[run.faults.canary_redirect]
    assert (to_canary.status, to_canary.reason) == (Status.FAILED, "ssrf")  # D3/D4
    assert not [hit for hit in run.server.log if hit.host.split(":")[0] in ("other.example", run.canary.host)]
    assert run.canary.log == []


def test_summary_and_exit_code(run: Run) -> None:
    assert run.summary.articles_written == len(run.expected())
    assert run.summary.reasons == {
        ("kompas", Status.SKIPPED, "out_of_scope"): 1,
        ("kompas", Status.FAILED, "ssrf"): 1,
        ("republika", Status.SKIPPED, "robots"): 1,
        **{key: count for key, count in run.summary.reasons.items() if key[1] is Status.DONE},
    }
    assert run.summary.exit_code == 3  # the redirect to the canary failed:ssrf
    assert run.summary.warcs and all(path.exists() for path in run.summary.warcs)
    assert not list(run.archive.glob("*.open"))
    if run.processes > 1:  # each process writes its own files, named by its shard
        for shard in ("p0", "p1"):
            assert any(f".{shard}." in path.name for path in run.summary.warcs), f"no WARC of {shard}"


def test_warcs_verify(run: Run) -> None:
    for path in run.summary.warcs:
        report = verify_file(path)
        assert report.ok, report.lines()
        assert report.first_type == "warcinfo"
    responses = sum(verify_file(path).types["response"] for path in run.summary.warcs)
    assert responses >= len(run.expected())


def _captures(archive: Path, url: str) -> list[int]:
    """HTTP statuses of the response/revisit records for ``url`` across the archive's WARCs."""
    statuses = []
    for path in sorted(archive.glob("*.warc.gz")):
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type in ("response", "revisit") and \
                        record.rec_headers.get_header("WARC-Target-URI") == url:
                    statuses.append(int(record.http_headers.get_statuscode()))
    return statuses
