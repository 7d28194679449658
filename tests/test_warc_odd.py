"""WARC tools on odd records (fault matrix group P, rows P1-P4): ``crawler verify``, ``replay``
and ``index`` as real processes, checked against warcio and cdxj-indexer.

Fixtures under ``tests/fixtures/warc/`` come from ``tests.support.warcfactory.odd_records``;
each holds good records before and after the odd one. The record over 64 MiB is made here
(gzip of a repeated byte: a few hundred KiB on disk).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import tracemalloc
import zlib
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from crawler.warc.reader import DEFAULT_MAX_BLOCK_BYTES, iter_records
from crawler.warc.verify import verify_file
from tests.support import warcfactory as wf

WARCS = wf.WARC_FIXTURES


def _crawler(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["crawler", *args], capture_output=True, text=True)


def _urls(jsonl: str) -> list[str]:
    return sorted(json.loads(line)["url"] for line in jsonl.splitlines())


def _huge_member(path: Path, *, wrong: str | None) -> int:
    """A WARC.gz: warcinfo, then a response whose block is over 64 MiB, then a small response.
    ``wrong``: ``block``, one payload byte changed after both digests were computed; ``payload``,
    a payload digest of other bytes (the block digest right). Returns the big record's offset."""
    body = b"<html><body>" + b"a" * (DEFAULT_MAX_BLOCK_BYTES + 1024) + b"</body></html>"
    block = wf.http_response(body, [("Content-Type", "text/html")])
    payload = body if wrong != "payload" else body[:-1] + b"!"
    record = wf.raw_record("response", b"", uri="https://www.suara.com/big", payload=payload,
                           record_id="<urn:uuid:00000000-0000-4000-8000-000000000099>")
    head = record[: -len(b"\r\n\r\n")]  # the record's head for an empty block: give it the real one
    head = head.replace(f"WARC-Block-Digest: {wf.sha1_digest(b'')}".encode(),
                        f"WARC-Block-Digest: {wf.sha1_digest(block)}".encode())
    if wrong == "block":
        block = wf.flip_byte(block)  # in the middle of the payload, under valid gzip
    head = head.replace(b"Content-Length: 0\r\n", f"Content-Length: {len(block)}\r\n".encode())
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    big = compressor.compress(head) + compressor.compress(block) + compressor.compress(b"\r\n\r\n")
    big += compressor.flush()
    first, _, third = wf.small_pages()
    info = gzip.compress(wf.raw_record("warcinfo", b"software: tests\r\n",
                                       content_type="application/warc-fields"), mtime=0)
    after = gzip.compress(wf.raw_record("response", wf.http_response(third.body), uri=third.url,
                                        payload=third.body), mtime=0)
    path.write_bytes(info + big + after)
    return len(info)


def test_P1_a_wrong_digest_on_a_block_over_64_mib_is_found_streaming_in_bounded_memory(
    tmp_path: Path,
) -> None:
    good, block_bad = tmp_path / "good.warc.gz", tmp_path / "block.warc.gz"
    payload_bad = tmp_path / "pay.warc.gz"
    _huge_member(good, wrong=None)
    offset = _huge_member(block_bad, wrong="block")
    _huge_member(payload_bad, wrong="payload")
    assert verify_file(good).ok, verify_file(good).lines()
    tracemalloc.start()
    try:
        report = verify_file(block_bad)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024, f"verify held {peak} bytes for a 64 MiB block"
    assert not report.ok and report.records == 2, "the records around it are read"
    assert report.problems[0].offset == offset and "WARC-Block-Digest" in str(report.problems[0])
    done = _crawler("verify", str(block_bad), str(payload_bad))
    assert done.returncode == 7, done.stdout + done.stderr
    assert f"block.warc.gz offset {offset}" in done.stdout and "WARC-Block-Digest" in done.stdout
    assert f"pay.warc.gz offset {offset}" in done.stdout and "WARC-Payload-Digest" in done.stdout
    assert "Traceback" not in done.stderr
    check = subprocess.run(["warcio", "check", str(block_bad)], capture_output=True, text=True)
    assert check.returncode != 0, "warcio check agrees the digest is wrong"


def test_P2_content_length_in_superscript_digits_is_damage_with_its_offset_and_the_rest_is_read() -> None:
    names = ("content-length-superscript.warc.gz", "content-length-superscript.warc")
    paths = [str(WARCS / name) for name in names]
    for path in paths:
        damages: list[object] = []
        assert len(list(iter_records(path, on_damage=damages.append))) == 3 and len(damages) == 1
    verified = _crawler("verify", *paths)
    replayed = _crawler("replay", *paths, "--workers", "1")
    indexed = _crawler("index", *paths)
    for name in names:
        assert f"{name}: offset " in verified.stdout and f"{name}: offset " in replayed.stderr
        assert f"{name}: offset " in indexed.stderr
    assert verified.stdout.count("Content-Length ('²')") == 2
    assert verified.returncode == replayed.returncode == indexed.returncode == 7
    first, _, third = wf.small_pages()
    assert _urls(replayed.stdout) == sorted([first.url, third.url]), "the records before and after (once)"
    assert len(indexed.stdout.splitlines()) == 4
    assert "Traceback" not in verified.stderr + replayed.stderr + indexed.stderr


def test_P2_an_unknown_digest_algorithm_is_reported_with_its_offset_and_the_record_still_read() -> None:
    path = WARCS / "unknown-digest-algorithm.warc.gz"
    offset = wf.member_offsets(path.read_bytes())[2]
    verified = _crawler("verify", str(path))
    assert verified.returncode == 7 and f"offset {offset}" in verified.stdout
    assert "shake_128" in verified.stdout and "not checked" in verified.stdout
    replayed = _crawler("replay", str(path), "--workers", "1")
    assert replayed.returncode == 7 and f"offset {offset}" in replayed.stderr
    assert len(_urls(replayed.stdout)) == 3, "nothing is wrong with the bytes: all three articles"
    indexed = _crawler("index", str(path))
    assert indexed.returncode == 7 and len(indexed.stdout.splitlines()) == 3
    assert "Traceback" not in verified.stderr + replayed.stderr + indexed.stderr


def test_P3_a_revisit_with_an_empty_block_from_warcio_is_resolved_through_its_original() -> None:
    path = WARCS / "empty-block-revisit.warc.gz"
    with open(path, "rb") as stream:
        revisits = [r for r in ArchiveIterator(stream) if r.rec_type == "revisit"]
        assert len(revisits) == 1 and revisits[0].length == 0, "warcio wrote a revisit with no block"
    assert verify_file(path).ok
    replayed = _crawler("replay", str(path), "--workers", "1")
    assert replayed.returncode == 0, replayed.stderr
    articles = [json.loads(line) for line in replayed.stdout.splitlines()]
    assert [a["url"] for a in articles] == [wf.small_pages()[0].url, wf.DUPLICATE_URL]
    original, revisit = articles
    assert revisit["title"] == original["title"] and revisit["body"] == original["body"]
    assert revisit["source"]["offset"] != original["source"]["offset"]
    indexed = _crawler("index", str(path))
    assert indexed.returncode == 0 and "warc/revisit" in indexed.stdout


def test_P4_header_lines_ending_cr_cr_lf_are_accepted_with_a_warning_as_warcio_accepts_them() -> None:
    path = WARCS / "crcrlf-header-lines.warc"
    assert b"\r\r\nWARC-Type: response\r\r\n" in path.read_bytes(), "the shape of pywb's sample"
    with open(path, "rb") as stream:
        by_warcio = [(r.rec_type, r.http_headers.get_statuscode() if r.http_headers else None)
                     for r in ArchiveIterator(stream)]
    verified = _crawler("verify", str(path))
    assert verified.returncode == 0 and ": OK (3 records" in verified.stdout
    assert "CR CR LF" in verified.stderr and "offset" in verified.stderr, "accepted with a warning"
    records = list(iter_records(path))
    assert [r.rec_type for r in records] == [kind for kind, _ in by_warcio]
    replayed = _crawler("replay", str(path), "--workers", "1")
    first, _, third = wf.small_pages()
    assert replayed.returncode == 0 and _urls(replayed.stdout) == sorted([first.url, third.url])
