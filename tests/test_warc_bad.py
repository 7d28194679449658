"""Bad WARC input (RELIABILITY group H): each broken fixture gets its named error, with file and
offset, and the rest of the file is still read and replayed.

The fixtures under ``tests/fixtures/warc/`` are made by ``python -m tests.support.warcfactory``
from ``good.warc.gz`` (written by the crawler's writer) or record by record.
"""

from __future__ import annotations

import io
import json
import subprocess
import tracemalloc
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.errors import ArchiveCorrupt, DigestMismatch, ReplayError
from crawler.replay import ReplayOptions, ReplaySummary, replay
from crawler.warc.reader import Damage, WarcRecord, iter_records
from crawler.warc.verify import verify_file
from tests.support import warcfactory as wf

WARCS = wf.WARC_FIXTURES
GOOD = WARCS / "good.warc.gz"


def _read(path: Path) -> tuple[list[WarcRecord], list[Damage]]:
    damages: list[Damage] = []
    return list(iter_records(path, on_damage=damages.append)), damages


def _replay(*paths: Path) -> tuple[list[dict[str, object]], ReplaySummary, list[str]]:
    out = io.StringIO()
    messages: list[str] = []
    summary = replay(paths, out, ReplayOptions(), workers=1, on_damage=messages.append)
    return [json.loads(line) for line in out.getvalue().splitlines()], summary, messages


def _urls(articles: list[dict[str, object]]) -> list[object]:
    return sorted(article["url"] for article in articles)


GOOD_ARTICLES = _urls(_replay(GOOD)[0])


def test_good_fixture_replays_to_four_articles_and_verifies() -> None:
    assert len(GOOD_ARTICLES) == 4
    assert verify_file(GOOD).ok
    assert verify_file(WARCS / "good.warc").ok
    assert _urls(_replay(WARCS / "good.warc")[0]) == GOOD_ARTICLES


def test_H1_tail_cut_inside_last_member_is_reported_not_dropped() -> None:
    _check_tail_cut(WARCS / "cut-tail-30.warc.gz")


def test_H2_tail_cut_dropping_a_whole_record_is_reported_like_H1() -> None:
    _check_tail_cut(WARCS / "cut-tail-200.warc.gz")


def _check_tail_cut(path: Path) -> None:
    records, damages = _read(path)
    last = wf.member_offsets(GOOD.read_bytes())[-1]
    assert len(damages) == 1 and isinstance(damages[0].error, ArchiveCorrupt)
    assert damages[0].offset == last and "incomplete gzip member" in str(damages[0])
    assert f"offset {last}" in str(damages[0]) and path.name in str(damages[0])
    assert len(records) == len(list(iter_records(GOOD))) - 1
    with open(path, "rb") as stream:  # warcio alone stays silent: why this reader exists
        assert len(list(ArchiveIterator(stream))) >= len(records)
    articles, summary, messages = _replay(path)
    assert _urls(articles) == GOOD_ARTICLES and summary.damaged == 1 and messages


@pytest.mark.parametrize("cut", [30, 200])
def test_H1_H2_verify_exits_non_zero_naming_the_offset(cut: int) -> None:
    command = ["crawler", "verify", str(WARCS / f"cut-tail-{cut}.warc.gz")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 7
    assert "incomplete gzip member" in done.stdout and "offset" in done.stdout


def test_H3_cut_inside_record_headers_is_archive_corrupt_not_a_traceback() -> None:
    path = WARCS / "cut-tail-600.warc.gz"
    records, damages = _read(path)
    assert len(damages) == 1 and isinstance(damages[0].error, ArchiveCorrupt)
    assert records and all(record.block is not None for record in records)
    with pytest.raises(ArchiveCorrupt, match="offset"):
        list(iter_records(path))  # without on_damage the first damage is raised, typed
    assert _urls(_replay(path)[0]) == GOOD_ARTICLES


def test_H4_flipped_byte_is_reported_at_its_member_and_reading_goes_on() -> None:
    path = WARCS / "flipped-byte.warc.gz"
    data = path.read_bytes()
    records, damages = _read(path)
    offsets = wf.member_offsets(GOOD.read_bytes())
    hit = max(offset for offset in offsets if offset <= len(data) // 2)
    assert [d.offset for d in damages] == [hit]
    assert {r.offset for r in records} == set(offsets) - {hit}, "every other record read"
    articles, summary, _ = _replay(path)
    assert summary.damaged == 1 and 0 < len(articles) < len(GOOD_ARTICLES)


def test_H5_digest_mismatch_with_valid_gzip_skips_that_record() -> None:
    path = WARCS / "bad-digest-valid-gzip.warc.gz"
    records, damages = _read(path)
    assert len(damages) == 1 and isinstance(damages[0].error, DigestMismatch)
    assert damages[0].record_id and damages[0].record_id in str(damages[0])
    assert damages[0].record_id not in {r.record_id for r in records}
    articles, summary, messages = _replay(path)
    assert summary.damaged >= 1 and len(articles) == len(GOOD_ARTICLES) - 2, "the page and its revisit"
    assert any("does not match" in message for message in messages)


def test_H6_whole_file_gzip_gets_the_recompress_hint_and_is_still_read() -> None:
    path = WARCS / "whole-file-gzip.warc.gz"
    records, damages = _read(path)
    assert len(damages) == 1 and "warcio recompress" in str(damages[0])
    assert len(records) == len(list(iter_records(GOOD)))
    assert _urls(_replay(path)[0]) == GOOD_ARTICLES


def test_H7_trailing_garbage_is_flagged() -> None:
    path = WARCS / "trailing-garbage.warc.gz"
    records, damages = _read(path)
    assert len(damages) == 1 and "trailing garbage" in str(damages[0])
    assert damages[0].offset == GOOD.stat().st_size
    assert len(records) == len(list(iter_records(GOOD)))
    assert not verify_file(path).ok


def test_H8_revisit_without_original_is_a_replay_error_for_that_record_only() -> None:
    path = WARCS / "revisit-without-original.warc.gz"
    _, damages = _read(path)
    assert damages == [], "the file itself is sound"
    articles, summary, messages = _replay(path)
    assert any("original not found" in message for message in messages)
    assert summary.damaged == 1 and len(articles) == len(GOOD_ARTICLES) - 2
    with pytest.raises(ReplayError, match="original not found"):
        replay([path], io.StringIO(), ReplayOptions(strict=True), workers=1)


def test_H9_revisit_without_refers_to_is_found_by_payload_digest_or_refused() -> None:
    articles, summary, messages = _replay(WARCS / "revisit-missing-refers-to.warc.gz")
    urls = _urls(articles)
    assert wf.DUPLICATE_URL in urls, "found by its payload digest"
    assert wf.DUPLICATE_URL + "-2" not in urls, "no digest, no refers-to: never a guessed article"
    assert summary.damaged == 1 and "original not found" in messages[0]
    by_url = {article["url"]: article for article in articles}
    original = by_url[wf.small_pages()[0].url]
    assert by_url[wf.DUPLICATE_URL]["body"] == original["body"]


@pytest.mark.parametrize("name", ["huge-declared-length.warc.gz", "huge-declared-length.warc"])
def test_H10_huge_declared_length_is_a_bounded_short_block(name: str) -> None:
    tracemalloc.start()
    try:
        records, damages = _read(WARCS / name)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, f"reading allocated {peak} bytes"
    assert len(damages) == 1 and "declares Content-Length 10000000000" in str(damages[0])
    assert [r.rec_type for r in records] == ["warcinfo", "response"]
    assert _urls(_replay(WARCS / name)[0]) == [wf.small_pages()[2].url]


def test_H11_chunked_body_stored_either_way_gives_the_same_article() -> None:
    chunked, _, _ = _replay(WARCS / "chunked-stored-chunked.warc.gz")
    dechunked, _, _ = _replay(WARCS / "chunked-header-dechunked-body.warc.gz")
    assert len(chunked) == 1 and len(dechunked) == 1
    assert {k: v for k, v in chunked[0].items() if k != "source"} == \
        {k: v for k, v in dechunked[0].items() if k != "source"}
    good = {a["url"]: a for a in _replay(GOOD)[0]}[chunked[0]["url"]]
    assert chunked[0]["body"] == good["body"] and chunked[0]["title"] == good["title"]


def test_H12_hostile_target_uris_are_never_paths_and_non_http_is_skipped(tmp_path: Path) -> None:
    path = WARCS / "hostile-target-uri.warc.gz"
    records, damages = _read(path)
    assert not damages and "http://x/../../etc/passwd" in {r.target_uri for r in records}
    articles, summary, _ = _replay(path)
    assert _urls(articles) == [wf.small_pages()[2].url]
    assert summary.damaged == 0


def test_H13_warc_1_0_and_1_1_are_read_and_unknown_types_counted() -> None:
    path = WARCS / "warc10-and-unknown-type.warc.gz"
    records, damages = _read(path)
    assert not damages
    assert {r.version for r in records} == {"WARC/1.0", "WARC/1.1"}
    articles, summary, _ = _replay(path)
    assert summary.unknown_types == 1 and len(articles) == 2


def test_H13_arc_files_are_read_as_warc_records() -> None:
    records, damages = _read(WARCS / "tiny.arc")
    assert not damages and [r.rec_type for r in records] == ["warcinfo"]
    for name in ("article.arc", "article.arc.gz"):  # an HTTP capture of a fixture page in each
        records, damages = _read(WARCS / name)
        assert not damages and records[0].rec_type == "warcinfo" and records[1].rec_type == "response"
        assert records[1].target_uri == wf.small_pages()[0].url and records[1].date is not None
    articles, summary, messages = _replay(WARCS / "article.arc.gz")
    assert _urls(articles) == sorted([wf.small_pages()[0].url, wf.small_pages()[2].url]) and not messages


def test_replay_cli_reports_damage_on_stderr_and_exits_7(tmp_path: Path) -> None:
    out = tmp_path / "articles.jsonl"
    done = subprocess.run(["crawler", "replay", str(WARCS / "cut-tail-30.warc.gz"), "-o", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 7
    assert "cut-tail-30.warc.gz: offset" in done.stderr and "1 damaged" in done.stderr
    assert len(out.read_text().splitlines()) == len(GOOD_ARTICLES)
    strict = subprocess.run(["crawler", "replay", str(WARCS / "cut-tail-30.warc.gz"), "--strict", "-o",
                             str(tmp_path / "strict.jsonl")], capture_output=True, text=True)
    assert strict.returncode == 7 and "incomplete gzip member" in strict.stderr
    assert not (tmp_path / "strict.jsonl").exists(), "no half output"
