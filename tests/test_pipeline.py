"""The crawl loop's logic over ``httpx.MockTransport``: page budget, --since, multi-page
articles, deferrals, graceful and hard stops, removed sites, --seed, start-up refusals."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.config import Config, parse_config
from crawler.errors import ArchiveLocked, ConfigError, FrontierCorrupt
from crawler.frontier import Frontier, Kind, NewUrl, Status, database_path
from crawler.pipeline import Crawl, CrawlOptions, parse_since

SITE_YAML = r"""
crawl:
  interval_s: 0
  concurrency: 4
  max_concurrency_per_host: 4
  max_listing_pages: {max_listing_pages}
  retry: {{attempts: 2, backoff_base_s: 0.01, backoff_max_s: 0.02, retry_after_max_s: 5}}
  timeouts_s: {{connect: 2, read: 2, total: 5}}
sites:
  portal:
    domains: [news.example]
    seeds: {{listings: ["http://news.example/indeks?page={{page}}"]}}
    article_urls: ['^https?://news\.example/read/\d{{4}}/\d{{2}}/\d{{2}}/\d+']
    listing: {{links: "a.item"}}
    multipage: {{next: "a.next", max_pages: 5}}
    generations:
      - id: "v1"
        title: ["css:h1"]
        published: ["meta:article:published_time"]
        body: ["css:div.body"]
{extra_sites}
"""


def _config(max_listing_pages: int = 5, extra_sites: str = "") -> Config:
    return parse_config(SITE_YAML.format(max_listing_pages=max_listing_pages, extra_sites=extra_sites))


def _article_html(title: str, day: str, paragraphs: list[str], next_url: str | None = None) -> bytes:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    nxt = f'<a class="next" href="{next_url}">berikutnya</a>' if next_url else ""
    return (
        f'<html><head><meta property="article:published_time" content="{day}T10:00:00+07:00">'
        f"<title>{title}</title></head><body><h1>{title}</h1><div class='body'>{body}</div>{nxt}"
        "</body></html>"
    ).encode()


def _listing_html(urls: list[str]) -> bytes:
    items = "".join(f'<li><a class="item" href="{url}">x</a></li>' for url in urls)
    return f"<html><body><ul>{items}</ul></body></html>".encode()


@dataclass
class FakeWeb:
    """URL → (status, headers, body); records every request; optional latency per request."""

    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    latency_s: float = 0.0
    started: asyncio.Event | None = None

    def add(self, url: str, body: bytes, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.pages[url] = (status, {"Content-Type": "text/html", **(headers or {})}, body)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if self.started is not None:
            self.started.set()
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if url.endswith("/robots.txt") and url not in self.pages:
            return httpx.Response(404, text="")
        status, headers, body = self.pages.get(url, (404, {}, b"not found"))
        return httpx.Response(status, headers=headers, content=body)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def _portal(web: FakeWeb, articles: int, per_page: int = 2, day: str = "2016-02-23") -> list[str]:
    y, m, d = day.split("-")
    urls = [f"http://news.example/read/{y}/{m}/{d}/{n:04d}/judul-{n}" for n in range(articles)]
    for url in urls:
        web.add(url, _article_html(f"Judul {url[-2:]}", day, ["Paragraf satu.", "Paragraf dua."]))
    pages = [urls[i : i + per_page] for i in range(0, len(urls), per_page)] + [[]]
    for number, chunk in enumerate(pages, start=1):
        web.add(f"http://news.example/indeks?page={number}", _listing_html(chunk))
    return urls


def _crawl(config: Config, archive: Path, web: FakeWeb, **options: object) -> Crawl:
    return Crawl(config, CrawlOptions(archive, **options), transport=web.transport())  # type: ignore[arg-type]


def _rows(archive: Path) -> dict[str, tuple[Status, str | None]]:
    with Frontier.open(archive) as frontier:
        return {row.url: (row.status, row.reason) for row in frontier.rows()}


def _articles(archive: Path) -> list[dict[str, object]]:
    path = archive / "articles.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_a_site_is_crawled_listing_by_listing(tmp_path: Path) -> None:
    web = FakeWeb()
    urls = _portal(web, 5)
    summary = await _crawl(_config(), tmp_path, web).run()
    assert sorted(a["url"] for a in _articles(tmp_path)) == urls  # type: ignore[type-var]
    rows = _rows(tmp_path)
    assert all(rows[url] == (Status.DONE, None) for url in urls)
    assert rows["http://news.example/indeks?page=4"] == (Status.DONE, None)  # empty page: the end
    assert "http://news.example/indeks?page=5" not in rows
    assert summary.exit_code == 0 and summary.todo == 0
    assert sorted(set(web.requests)) == sorted(web.requests)  # nothing fetched twice


async def test_max_listing_pages_caps_pagination(tmp_path: Path) -> None:
    web = FakeWeb()
    _portal(web, 10)
    await _crawl(_config(max_listing_pages=2), tmp_path, web).run()
    assert [u for u in web.requests if "indeks" in u] == [
        "http://news.example/indeks?page=1", "http://news.example/indeks?page=2",
    ]
    assert len(_articles(tmp_path)) == 4


async def test_max_pages_then_resume_fetches_nothing_twice(tmp_path: Path) -> None:
    web = FakeWeb()
    urls = _portal(web, 6)
    first = await _crawl(_config(), tmp_path, web).run()
    assert first.hit_max_pages is False
    tmp2 = tmp_path / "b"
    web2 = FakeWeb(pages=web.pages)
    budget = await _crawl(_config(), tmp2, web2, max_pages=3).run()
    assert budget.hit_max_pages and len(web2.requests) == 3 + 1  # + robots.txt
    assert budget.todo > 0
    web3 = FakeWeb(pages=web.pages)
    rest = await _crawl(_config(), tmp2, web3).run()
    assert rest.todo == 0
    assert not set(web2.requests) & set(web3.requests) - {"http://news.example/robots.txt"}
    assert sorted(a["url"] for a in _articles(tmp2)) == urls  # type: ignore[type-var]


async def test_next_run_after_a_complete_one_fetches_listings_again_but_no_article(tmp_path: Path) -> None:
    web = FakeWeb()
    urls = _portal(web, 3)
    await _crawl(_config(), tmp_path, web).run()
    fresh = "http://news.example/read/2016/02/24/0100/baru"
    web.add(fresh, _article_html("Baru", "2016-02-24", ["Berita baru."]))
    web.add("http://news.example/indeks?page=1", _listing_html([fresh, urls[0]]))
    again = FakeWeb(pages=web.pages)
    await _crawl(_config(), tmp_path, again).run()
    assert fresh in again.requests and "http://news.example/indeks?page=1" in again.requests
    assert not set(urls) & set(again.requests)  # done articles are never fetched again
    assert sorted(a["url"] for a in _articles(tmp_path)) == sorted([*urls, fresh])  # type: ignore[type-var]


async def test_since_skips_old_links_unfetched_and_stops_pagination(tmp_path: Path) -> None:
    web = FakeWeb()
    new = _portal(web, 2, day="2016-02-23")
    old = [f"http://news.example/read/2015/01/0{n}/{n:04d}/lama" for n in range(1, 5)]
    for url in old:
        web.add(url, _article_html("Lama", "2015-01-01", ["Lama."]))
    web.add("http://news.example/indeks?page=2", _listing_html(old[:2]))
    web.add("http://news.example/indeks?page=3", _listing_html(old[2:]))
    await _crawl(_config(), tmp_path, web, since=parse_since("2016-01-01")).run()
    rows = _rows(tmp_path)
    assert all(rows[url] == (Status.SKIPPED, "before_since") for url in old[:2])
    assert not set(old) & set(web.requests)
    assert "http://news.example/indeks?page=3" not in web.requests  # every link on page 2 was older
    assert sorted(a["url"] for a in _articles(tmp_path)) == new  # type: ignore[type-var]


async def test_multipage_article_is_fetched_whole_and_joined(tmp_path: Path) -> None:
    web = FakeWeb()
    first = "http://news.example/read/2016/02/23/0001/panjang"
    second, third = first + "?page=2", first + "?page=3"
    web.add(first, _article_html("Panjang", "2016-02-23", ["Satu."], next_url=second))
    web.add(second, _article_html("Panjang", "2016-02-23", ["Dua."], next_url=third))
    web.add(third, _article_html("Panjang", "2016-02-23", ["Tiga."]))
    web.add("http://news.example/indeks?page=1", _listing_html([first]))
    await _crawl(_config(), tmp_path, web).run()
    (article,) = _articles(tmp_path)
    assert article["body"] == "Satu.\n\nDua.\n\nTiga."
    assert article["pages"] == 3
    rows = _rows(tmp_path)
    assert rows[second] == rows[third] == (Status.DONE, "continuation")
    assert web.requests.count(second) == 1
    metadata = _records(tmp_path, "metadata")
    assert any(b"pages: " + first.encode() in block for block in metadata)


async def test_robots_unavailable_defers_and_the_run_ends(tmp_path: Path) -> None:
    web = FakeWeb()
    _portal(web, 2)
    web.add("http://news.example/robots.txt", b"down", status=503)
    summary = await _crawl(_config(), tmp_path, web).run()
    assert summary.todo == 1 and summary.deferred == 1
    assert [u for u in web.requests if "robots" not in u] == []
    with Frontier.open(tmp_path) as frontier:
        (row,) = frontier.rows()
        assert row.status is Status.TODO and row.reason == "robots_unavailable"
        assert row.next_attempt_at > 0


async def test_graceful_stop_finishes_in_flight_and_closes_the_warc(tmp_path: Path) -> None:
    web = FakeWeb(latency_s=0.3, started=asyncio.Event())
    _portal(web, 8)
    crawl = _crawl(_config(), tmp_path, web)
    task = asyncio.create_task(crawl.run())
    await _wait_for_articles_fetching(web)
    crawl.request_stop()
    summary = await task
    assert summary.interrupted and summary.exit_code == 11
    assert not list(tmp_path.glob("*.open")) and summary.warcs
    rows = _rows(tmp_path)
    assert not [url for url, (status, _) in rows.items() if status is Status.IN_PROGRESS]
    fetched_articles = [u for u in web.requests if "/read/" in u]
    assert all(rows[u][0] is Status.DONE for u in fetched_articles)  # in-flight ones finished
    assert summary.todo > 0
    _read_all(summary.warcs)


async def test_second_stop_requeues_in_flight(tmp_path: Path) -> None:
    web = FakeWeb(latency_s=1.0, started=asyncio.Event())
    _portal(web, 8)
    crawl = _crawl(_config(), tmp_path, web)
    task = asyncio.create_task(crawl.run())
    await _wait_for_articles_fetching(web)
    crawl.request_stop()
    crawl.request_stop()
    summary = await asyncio.wait_for(task, 2.0)
    assert summary.interrupted
    rows = _rows(tmp_path)
    in_flight = [u for u in web.requests if "/read/" in u]
    assert in_flight and all(rows[u][0] is Status.TODO for u in in_flight)
    _read_all(summary.warcs)
    rest = await _crawl(_config(), tmp_path, FakeWeb(pages=web.pages)).run()
    assert rest.todo == 0 and len(_articles(tmp_path)) == 8


async def test_queued_urls_of_a_removed_site_end_skipped(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add([NewUrl("http://gone.example/a", "gone", Kind.ARTICLE)])
    web = FakeWeb()
    _portal(web, 1)
    await _crawl(_config(), tmp_path, web).run()
    assert _rows(tmp_path)["http://gone.example/a"] == (Status.SKIPPED, "site_removed")


async def test_seed_goes_to_the_site_that_covers_it(tmp_path: Path) -> None:
    web = FakeWeb()
    urls = _portal(web, 3)
    await _crawl(_config(), tmp_path, web, seeds=(urls[1],)).run()
    assert [u for u in web.requests if "robots" not in u] == [urls[1]]
    with pytest.raises(ConfigError, match="no selected site covers host 'elsewhere.example'"):
        await _crawl(_config(), tmp_path / "x", web, seeds=("http://elsewhere.example/a",)).run()


async def test_second_crawler_on_the_same_archive_is_refused(tmp_path: Path) -> None:
    web = FakeWeb(latency_s=0.3, started=asyncio.Event())
    _portal(web, 2)
    first = asyncio.create_task(_crawl(_config(), tmp_path, web).run())
    await _wait_for_articles_fetching(web, articles=False)
    with pytest.raises(ArchiveLocked, match="locked by pid"):
        await _crawl(_config(), tmp_path, FakeWeb()).run()
    await first


async def test_damaged_frontier_refuses_to_start_before_any_request(tmp_path: Path) -> None:
    web = FakeWeb()
    _portal(web, 30)
    await _crawl(_config(), tmp_path, web).run()
    path = database_path(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    again = FakeWeb(pages=web.pages)
    with pytest.raises(FrontierCorrupt):
        await _crawl(_config(), tmp_path, again).run()
    assert again.requests == []


async def test_unwritable_archive_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    web = FakeWeb()
    with pytest.raises(ConfigError, match="not writable"):
        await _crawl(_config(), blocker / "archive", web).run()
    assert web.requests == []


def test_parse_since() -> None:
    from datetime import UTC, date, datetime

    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert parse_since("2016-01-31") == date(2016, 1, 31)
    assert parse_since("1d", now) == date(2026, 11, 21)
    assert parse_since("36h", now) == date(2026, 11, 21)
    with pytest.raises(ConfigError, match="--since 'yesterday'"):
        parse_since("yesterday")


# ---------------------------------------------------------------- helpers


async def _wait_for_articles_fetching(web: FakeWeb, articles: bool = True) -> None:
    for _ in range(200):
        if any("/read/" in u for u in web.requests) or (not articles and web.requests):
            await asyncio.sleep(0.05)
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the crawl never started fetching: {web.requests}")


def _read_all(paths: tuple[Path, ...]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle, check_digests=True):
                record.content_stream().read()


def _records(archive: Path, kind: str) -> list[bytes]:
    found = []
    for path in sorted(archive.glob("*.warc.gz")):
        with path.open("rb") as handle:
            for record in ArchiveIterator(handle):
                if record.rec_type == kind:
                    found.append(record.content_stream().read())
    return found



async def test_no_url_is_marked_done_before_its_records_and_article_line_are_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Group commit: writes go out unsynced and one fsync serves several pages, but every
    ``mark_done`` comes after an fsync that covered the URL's WARC records and article line."""
    web = FakeWeb(latency_s=0.005)  # pages overlap on the lanes
    urls = _portal(web, 24, per_page=8)
    synced: dict[str, int] = {}  # file name → its size at its last fsync
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        synced[path.name.removesuffix(".open")] = os.fstat(fd).st_size

    monkeypatch.setattr(os, "fsync", recording_fsync)
    checked: list[str] = []
    real_mark_done = Frontier.mark_done

    def checking_mark_done(self: Frontier, url_id: int, reason: str | None = None, **kwargs: Any) -> None:
        warc, offset = kwargs.get("warc"), kwargs.get("offset")
        assert warc is not None and offset is not None
        assert synced.get(warc, -1) > offset, f"{warc}@{offset} marked done before it was fsynced"
        url, kind = self._db.execute("SELECT url, kind FROM urls WHERE id = ?", (url_id,)).fetchone()
        if kind == Kind.ARTICLE:
            on_disk = (tmp_path / "articles.jsonl").read_bytes()[: synced.get("articles.jsonl", 0)]
            assert f'"url": "{url}"'.encode() in on_disk, f"{url}: its article line is not fsynced"
        checked.append(warc)
        real_mark_done(self, url_id, reason, **kwargs)

    monkeypatch.setattr(Frontier, "mark_done", checking_mark_done)
    summary = await _crawl(_config(), tmp_path, web).run()
    assert summary.articles_written == len(urls)
    assert len(checked) == len(urls) + 4  # the articles and the listing pages
    assert summary.exit_code == 0
