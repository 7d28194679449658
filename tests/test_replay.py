"""Replay on WARCs written by our writer: the crawl's decisions, across files, in capture order."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest

from crawler.config import ArchiveSettings
from crawler.decode import page_from_exchange
from crawler.extract import Extractor
from crawler.models import Exchange, Source
from crawler.replay import ReplayOptions, ReplaySummary, replay
from crawler.warc.writer import WarcWriter
from tests.support import warcfactory as wf

KOMPAS = ("http://nasional.kompas.com/read/2016/02/16/14382361/"
          "menteri-yuddy-ancam-pns-yang-rankingnya-terendah-akan-dipangkas")


def _write(directory: Path, items: list[Exchange], *, host: str, rollover: int = 10**9) -> list[Source]:
    settings = ArchiveSettings(prefix="t", gzip_level=2, rollover_bytes=rollover)
    with WarcWriter(directory, settings, warcinfo={}, host=host) as writer:
        sources = [writer.write_exchange(item) for item in items]
    return sources


def _replay(directory: Path, workers: int = 1) -> tuple[list[dict[str, object]], ReplaySummary]:
    out = io.StringIO()
    damage: list[str] = []
    summary = replay([directory], out, ReplayOptions(), workers=workers, on_damage=damage.append)
    assert not damage, damage
    return [json.loads(line) for line in out.getvalue().splitlines()], summary


def _crawl_article(extractor: Extractor, pages: list[tuple[Exchange, Source]]) -> dict[str, object]:
    built = [page_from_exchange(item, source, 50_000_000) for item, source in pages]
    article = extractor.extract(built[0]) if len(built) == 1 else extractor.extract_joined(built)
    assert article is not None
    return article.to_dict()


def test_every_fixture_article_replays_like_the_crawl_path(tmp_path: Path) -> None:
    pages = [p for p in wf.fixture_pages() if p.is_article]
    items = wf.fixture_exchanges(pages)
    sources = _write(tmp_path, items, host="h")
    extractor = Extractor()
    expected = []
    for item, source in zip(items, sources, strict=True):
        page = page_from_exchange(item, source, 50_000_000)
        continuation = extractor.continuation(page)
        if extractor.is_article_url(page.url) and not continuation.also:
            article = extractor.extract(page)  # the whole views (instead) are not archived: the page alone
            if article is not None:
                expected.append(article.to_dict())
    got, summary = _replay(tmp_path, workers=2)
    assert len(expected) >= 25 and summary.articles == len(expected)
    key = lambda a: str(a["url"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)


def test_whole_view_in_another_file_replaces_the_first_page(tmp_path: Path) -> None:
    first = wf.exchange(KOMPAS, (wf.SITES / "kompas/synthetic-current-paging-1.html").read_bytes())
    view = (wf.SITES / "kompas/synthetic-current-paging-2.html").read_bytes()
    whole = wf.exchange(f"{KOMPAS}?page=all", view, fetched=wf.DEFAULT_FETCHED + timedelta(seconds=1))
    sources = _write(tmp_path, [first, whole], host="h", rollover=5_000)  # one exchange per file
    assert sources[0].warc != sources[1].warc
    got, _ = _replay(tmp_path)
    assert got == [_crawl_article(Extractor(), [(whole, sources[1])])]


def test_next_pages_in_other_files_are_joined(tmp_path: Path) -> None:
    url = "http://www.suara.com/bisnis/2024/05/30/140500/harga-cabai-rawit-di-pasar-induk-turun-jelang-akhir-pekan"
    body = (wf.SITES / "suara/synthetic-jsonld.html").read_bytes()
    one = body.replace(b"</head>", f'<link rel="next" href="{url}?page=2"></head>'.encode(), 1)
    two = (wf.SITES / "suara/synthetic-amp-2017-06-21.html").read_bytes()
    later = wf.DEFAULT_FETCHED + timedelta(seconds=1)
    items = [wf.exchange(url, one), wf.exchange(f"{url}?page=2", two, fetched=later)]
    sources = _write(tmp_path, items, host="h", rollover=5_000)
    assert sources[0].warc != sources[1].warc
    got, _ = _replay(tmp_path, workers=2)
    assert got == [_crawl_article(Extractor(), list(zip(items, sources, strict=True)))]
    assert got[0]["pages"] == 2


def test_revisit_original_in_another_file_and_first_capture_wins(tmp_path: Path) -> None:
    page = wf.small_pages()[0]
    early = wf.exchange(page.url, page.body)
    late = wf.exchange(page.url, page.body, fetched=wf.DEFAULT_FETCHED + timedelta(hours=1))
    # Two writer lanes: the later capture's file sorts first by name ("a" < "b").
    with WarcWriter(tmp_path, ArchiveSettings(prefix="t", gzip_level=2), warcinfo={}, host="b") as writer:
        first = writer.write_exchange(early)
        known = writer.known_payloads()
    with WarcWriter(tmp_path, ArchiveSettings(prefix="t", gzip_level=2), warcinfo={}, host="a",
                    known_payloads=known) as writer:
        writer.write_exchange(late)  # a revisit of the first
    got, summary = _replay(tmp_path, workers=2)
    assert summary.duplicates == 1
    assert [a["source"] for a in got] == [first.__dict__]


@pytest.mark.parametrize("workers", [1, 2])
def test_sites_filter_and_counts(tmp_path: Path, workers: int) -> None:
    pages = [p for p in wf.fixture_pages(["kompas", "suara", "viva"]) if p.is_article]
    _write(tmp_path, wf.fixture_exchanges(pages), host="h", rollover=60_000)
    out = io.StringIO()
    summary = replay([tmp_path], out, ReplayOptions(sites=frozenset({"suara"})), workers=workers)
    sites = {json.loads(line)["site"] for line in out.getvalue().splitlines()}
    assert sites == {"suara"} and summary.articles == 3 and summary.files >= 2
    assert summary.records == 1 * summary.files + 2 * len(pages)
