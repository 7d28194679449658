"""The frontier contract: what the crawl loop relies on, run on every store (SQLite under the
archive directory, Redis on a real redis-server on loopback)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crawler.errors import FrontierError
from crawler.frontier import Frontier, Kind, NewUrl, Status
from crawler.frontier_protocol import FrontierStore
from tests.support.redisserver import RedisServer

Opener = Callable[[], FrontierStore]
_names = itertools.count()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the store of one crawl (again: a process restarting on the same crawl)."""
    opened: list[FrontierStore] = []
    if request.param == "sqlite":
        def open_store() -> FrontierStore:
            opened.append(Frontier.open(tmp_path))
            return opened[-1]
    else:
        from crawler.frontier_redis import RedisFrontier

        server: RedisServer = request.getfixturevalue("redis_server")
        crawl = f"contract-{next(_names)}"

        def open_store() -> FrontierStore:
            opened.append(RedisFrontier.open(server.url, crawl, lease_s=30.0))
            return opened[-1]
    yield open_store
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> FrontierStore:
    frontier = opener()
    frontier.begin_run()
    return frontier


def _urls(hosts: int, per_host: int, kind: Kind = Kind.ARTICLE) -> list[NewUrl]:
    return [
        NewUrl(url=f"http://h{h}.example/a/{i}", site="s", kind=kind)
        for i in range(per_host) for h in range(hosts)
    ]


NOW = time.time()


def test_add_is_a_seen_set(store: FrontierStore) -> None:
    assert store.add(_urls(2, 3)) == 6
    assert store.add(_urls(2, 4)) == 2
    assert store.counts() == {("s", Status.TODO): 8}
    assert store.sites() == {"s"}


def test_claim_spreads_over_hosts_and_keeps_the_cap(store: FrontierStore) -> None:
    store.add(_urls(3, 4))
    first = store.claim(3, NOW)
    assert sorted(c.host for c in first) == ["h0.example", "h1.example", "h2.example"]
    assert all(c.attempts == 1 for c in first)
    assert store.in_progress() == 3
    assert store.counts() == {("s", Status.IN_PROGRESS): 3, ("s", Status.TODO): 9}
    for claimed in first:
        store.mark_done(claimed.id)
    two_per_host = store.claim(6, NOW, per_host=2)
    assert sorted(c.host for c in two_per_host) == sorted(["h0.example", "h1.example", "h2.example"] * 2)
    for claimed in two_per_host:
        store.mark_done(claimed.id)
    others = store.claim(5, NOW, exclude_hosts={"h0.example", "h1.example"})
    assert [c.host for c in others] == ["h2.example"]


def test_claims_take_turns_over_hosts(store: FrontierStore) -> None:
    store.add(_urls(5, 10))
    seen = []
    for _ in range(10):
        (claimed,) = store.claim(1, NOW)
        seen.append(claimed.host)
        store.mark_done(claimed.id)
    assert sorted(seen[:5]) == sorted(set(seen))
    assert sorted(seen[5:]) == sorted(seen[:5])


def test_defer_waits_for_next_attempt(store: FrontierStore) -> None:
    store.add(_urls(1, 1))
    (claimed,) = store.claim(1, NOW)
    store.defer(claimed.id, next_attempt_at=NOW + 100, reason="retry_after")
    assert store.claim(1, NOW + 50) == []
    assert store.next_due() == pytest.approx(NOW + 100)
    assert not store.has_due(NOW + 50)
    assert store.has_due(NOW + 100)
    again = store.claim(1, NOW + 100)
    assert [c.url for c in again] == [claimed.url]
    assert again[0].attempts == 2


def test_every_terminal_state_and_reasons(store: FrontierStore) -> None:
    store.add(_urls(3, 1))
    a, b, c = sorted(store.claim(3, NOW), key=lambda x: x.url)
    store.mark_done(a.id, warc="x.warc.gz", offset=0)
    store.mark_failed(b.id, "http_503")
    store.mark_skipped(c.id, "robots")
    assert store.counts() == {("s", Status.DONE): 1, ("s", Status.FAILED): 1, ("s", Status.SKIPPED): 1}
    assert store.reasons() == {("s", Status.FAILED, "http_503"): 1, ("s", Status.SKIPPED, "robots"): 1}
    assert store.in_progress() == 0
    assert not store.has_due(NOW + 1000)
    assert store.next_due() is None
    with pytest.raises(FrontierError, match="not in progress"):
        store.mark_done(a.id)
    row = store.get(b.url)
    assert row is not None and (row.status, row.reason, row.attempts) == (Status.FAILED, "http_503", 1)
    assert store.get("http://never.example/") is None
    assert [r.url for r in store.rows(Status.DONE)] == [a.url]


def test_done_settles_rows_with_it(store: FrontierStore) -> None:
    store.add(_urls(1, 1))
    (claimed,) = store.claim(1, NOW)
    page2 = NewUrl(url="http://h0.example/a/0?page=2", site="s", kind=Kind.CONTINUATION,
                   status=Status.DONE, reason="continuation")
    store.mark_done(claimed.id, settled=[page2])
    assert store.counts() == {("s", Status.DONE): 2}
    row = store.get(page2.url)
    assert row is not None and row.reason == "continuation"


def test_requeue_hands_claims_back_untouched(store: FrontierStore) -> None:
    store.add(_urls(2, 1))
    claims = store.claim(2, NOW)
    store.requeue(c.id for c in claims)
    assert store.in_progress() == 0
    again = store.claim(2, NOW)
    assert sorted(c.url for c in again) == sorted(c.url for c in claims)
    assert all(c.attempts == 1 for c in again)


def test_a_restarted_process_releases_what_a_dead_one_held(opener: Opener) -> None:
    first = opener()
    first.begin_run()
    first.add(_urls(2, 2))
    held = first.claim(4, NOW, per_host=2)
    assert len(held) == 4
    first.close()  # its process died holding four URLs
    second = opener()
    assert second.release() == 4
    second.begin_run()
    assert second.in_progress() == 0
    assert sorted(c.url for c in second.claim(4, NOW, per_host=2)) == sorted(c.url for c in held)


def test_rounds_fetch_listings_again_never_articles(opener: Opener) -> None:
    store = opener()
    assert store.begin_run() == 0
    listing = NewUrl(url="http://h0.example/list", site="s", kind=Kind.LISTING)
    article = NewUrl(url="http://h0.example/a/1", site="s", kind=Kind.ARTICLE)
    store.add([listing, article])
    for claimed in store.claim(2, NOW, per_host=2):
        store.mark_done(claimed.id)
    store.end_run(complete=False)
    assert store.begin_run() == 0  # a resume: same round
    assert store.add([listing, article]) == 0
    store.end_run(complete=True)
    store.close()
    again = opener()
    assert again.begin_run() == 1
    assert again.add([listing, article]) == 1
    assert [c.url for c in again.claim(5, NOW, per_host=5)] == [listing.url]


def test_claims_keep_to_the_sites_asked(store: FrontierStore) -> None:
    store.add(_urls(2, 2))
    store.add([NewUrl(url="http://other.example/a", site="other", kind=Kind.ARTICLE)])
    assert store.has_due(NOW, {"other"}) and store.has_due(NOW, {"s"})
    assert [c.site for c in store.claim(5, NOW, per_host=5, sites={"other"})] == ["other"]
    assert not store.has_due(NOW, {"other"}) and store.has_due(NOW, {"s"})
    assert {c.site for c in store.claim(5, NOW, per_host=5, sites={"s"})} == {"s"}


def test_skip_where_settles_a_removed_site(store: FrontierStore) -> None:
    store.add(_urls(2, 2))
    store.add([NewUrl(url="http://other.example/a", site="gone", kind=Kind.ARTICLE)])
    store.claim(1, NOW, exclude_hosts={"h0.example", "h1.example"})
    assert store.skip_where("gone", "site_removed") == 1
    assert store.counts()[("gone", Status.SKIPPED)] == 1
    assert store.in_progress() == 0


def test_crawl_wide_answers(store: FrontierStore) -> None:
    assert store.halted() is None
    if store.shared:
        assert store.worker is not None and store.pace() is not None
    else:
        assert store.worker is None and store.pace() is None
