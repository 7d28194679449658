"""The SQLite frontier: seen set, claims spread over hosts, terminal states, release after a
crash, corruption (RELIABILITY G2, G3) and the archive lock (F8)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from crawler.errors import EXIT_FRONTIER, ArchiveLocked, FrontierCorrupt, FrontierError
from crawler.frontier import ArchiveLock, Frontier, Kind, NewUrl, Shard, Status, database_path


def _urls(hosts: int, per_host: int) -> list[NewUrl]:
    return [
        NewUrl(url=f"http://h{h}.example/a/{i}", site="s", kind=Kind.ARTICLE)
        for i in range(per_host) for h in range(hosts)
    ]


def test_add_is_a_seen_set(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        assert frontier.add(_urls(2, 3)) == 6
        assert frontier.add(_urls(2, 4)) == 2
        assert frontier.counts() == {("s", Status.TODO): 8}


def test_claim_spreads_over_hosts_round_robin(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(3, 4))
        first = frontier.claim(3, now=1.0)
        assert sorted(c.host for c in first) == ["h0.example", "h1.example", "h2.example"]
        assert all(c.attempts == 1 for c in first)
        two_per_host = frontier.claim(6, now=1.0, per_host=2)
        assert sorted(c.host for c in two_per_host) == sorted(["h0.example", "h1.example", "h2.example"] * 2)
        assert frontier.claim(5, now=1.0, exclude_hosts={"h0.example", "h1.example"})[0].host == "h2.example"


def test_round_robin_does_not_starve_later_hosts(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(5, 10))
        seen = [frontier.claim(1, now=1.0)[0].host for _ in range(10)]
        assert seen[:5] == sorted(set(seen))
        assert seen[5:] == seen[:5]


def test_claim_respects_next_attempt_at_and_defer(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(1, 1))
        (claimed,) = frontier.claim(1, now=10.0)
        frontier.defer(claimed.id, next_attempt_at=100.0, reason="retry_after")
        assert frontier.claim(1, now=50.0) == []
        assert frontier.next_due() == 100.0
        assert not frontier.has_due(50.0)
        again = frontier.claim(1, now=100.0)
        assert [c.url for c in again] == [claimed.url]
        assert again[0].attempts == 2


def test_every_terminal_state_and_reasons(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(3, 1))
        a, b, c = sorted(frontier.claim(3, now=1.0), key=lambda x: x.url)
        frontier.mark_done(a.id, warc="x.warc.gz", offset=0)
        frontier.mark_failed(b.id, "http_503")
        frontier.mark_skipped(c.id, "robots")
        assert frontier.counts() == {("s", Status.DONE): 1, ("s", Status.FAILED): 1, ("s", Status.SKIPPED): 1}
        assert frontier.reasons() == {("s", Status.FAILED, "http_503"): 1, ("s", Status.SKIPPED, "robots"): 1}
        with pytest.raises(FrontierError, match="not in progress"):
            frontier.mark_done(a.id)


def test_release_puts_in_progress_back(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(2, 2))
        frontier.claim(4, now=1.0, per_host=2)
    with Frontier.open(tmp_path) as frontier:
        assert frontier.release() == 4
        assert len(frontier.claim(4, now=1.0, per_host=2)) == 4


def test_requeue_returns_unstarted_claims(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(1, 2))
        claimed = frontier.claim(2, now=1.0, per_host=2)
        frontier.requeue(c.id for c in claimed)
        assert [c.attempts for c in frontier.claim(2, now=1.0, per_host=2)] == [1, 1]


def test_extra_round_trips(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add([NewUrl("http://a.example/?page=1", "s", Kind.LISTING,
                             extra={"template": "http://a.example/?page={page}", "page": 1})])
        (claimed,) = frontier.claim(1, now=1.0)
        assert claimed.extra == {"template": "http://a.example/?page={page}", "page": 1}
        assert claimed.kind is Kind.LISTING


def test_truncated_database_is_refused_not_replaced(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(20, 200))
    path = database_path(tmp_path)
    size = path.stat().st_size
    assert size > 8192
    with path.open("r+b") as handle:
        handle.truncate(size // 2)
    with pytest.raises(FrontierCorrupt, match="reset-frontier") as caught:
        Frontier.open(tmp_path)
    assert caught.value.exit_code == EXIT_FRONTIER
    assert str(path) in str(caught.value)
    assert path.stat().st_size == size // 2  # left as found, for a rebuild
    with Frontier.open(tmp_path, reset=True) as fresh:
        assert fresh.counts() == {}
    assert list(path.parent.glob("frontier.sqlite.*.old"))


def test_garbage_database_is_refused(tmp_path: Path) -> None:
    path = database_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite" * 1000)
    with pytest.raises(FrontierCorrupt, match="damaged"):
        Frontier.open(tmp_path)


def test_archive_lock_names_the_holder(tmp_path: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys, time
        from crawler.frontier import ArchiveLock
        lock = ArchiveLock({str(tmp_path)!r}).acquire()
        print("locked", flush=True)
        sys.stdin.read()
    """)
    process = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == b"locked"
        with pytest.raises(ArchiveLocked, match=f"locked by pid {process.pid}"):
            ArchiveLock(tmp_path).acquire()
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
    with ArchiveLock(tmp_path):  # free again once the holder is gone
        pass


def test_claims_stay_cheap_on_a_large_frontier(tmp_path: Path) -> None:
    with Frontier.open(tmp_path) as frontier:
        frontier.add(_urls(50, 400))
        import time

        started = time.perf_counter()
        for _ in range(50):
            frontier.claim(16, now=1.0)
        per_claim = (time.perf_counter() - started) / 50
        assert per_claim < 0.02, f"a claim took {per_claim * 1000:.1f} ms on 20,000 rows"


def test_rounds_refresh_listings_but_never_articles(tmp_path: Path) -> None:
    listing = NewUrl("http://a.example/indeks", "s", Kind.LISTING)
    article = NewUrl("http://a.example/read/1", "s", Kind.ARTICLE)
    with Frontier.open(tmp_path) as frontier:
        assert frontier.begin_run() == 0
        frontier.add([listing, article])
        for claimed in frontier.claim(2, now=1.0, per_host=2):
            frontier.mark_done(claimed.id)
        frontier.end_run(complete=False)  # killed or stopped: the next run resumes
    with Frontier.open(tmp_path) as frontier:
        assert frontier.begin_run() == 0
        assert frontier.add([listing, article]) == 0
        frontier.end_run(complete=True)
    with Frontier.open(tmp_path) as frontier:
        assert frontier.begin_run() == 1
        assert frontier.add([listing, article]) == 1
        assert [c.url for c in frontier.claim(5, now=1.0, per_host=5)] == [listing.url]
        assert frontier.add([listing]) == 0  # in progress: left alone


def test_each_host_goes_to_one_process_in_turn_and_stays(tmp_path: Path) -> None:
    """``crawl.processes`` > 1: two connections as two processes. A host is given to a process
    the first time a claim meets it, in turn (first host to 0, second to 1, ...), and its URLs
    go to that process only; a new run forgets the owners."""
    urls = [NewUrl(url=f"https://{host}/read/{n}", site="s", kind=Kind.ARTICLE, host=host)
            for host in ("a.example", "b.example") for n in range(3)]
    first, second = Shard(0, 2), Shard(1, 2)
    with Frontier.open(tmp_path) as one, Frontier.open(tmp_path) as two:
        one.add(urls)
        got_one = one.claim(2, time.time(), per_host=2, shard=first)
        assert {c.host for c in got_one} == {"a.example"}
        got_two = two.claim(10, time.time(), per_host=10, shard=second)
        assert {c.host for c in got_two} == {"b.example"}, "a.example belongs to the first process"
        assert two.claim(10, time.time(), per_host=10, shard=second) == []
        assert {c.host for c in one.claim(10, time.time(), per_host=10, shard=first)} == {"a.example"}
        one.forget_owners()
    with Frontier.open(tmp_path) as later:
        later.release()
        later.forget_owners()
        one_process = later.claim(10, time.time(), per_host=10, shard=Shard(0, 1))
        assert {c.host for c in one_process} == {"a.example", "b.example"}, "one process owns all"
