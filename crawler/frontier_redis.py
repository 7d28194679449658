"""The Redis frontier: one crawl state for every worker process on every machine.

Every key of a crawl starts with ``c:{<crawl name>}:`` (one hash tag, so one Redis Cluster
slot holds the whole crawl and every Lua script touches one slot):

========================  ==============================================================
``ids``                   hash url → id: the seen set (an id comes from ``seq``)
``r:<id>``                hash: url, site, host, kind, depth, status, reason, attempts, next
                          (next attempt, the workers' epoch seconds), from, extra, round,
                          warc, offset
``q:<host>``              zset id → next attempt: the host's ``todo`` URLs
``qmin``                  zset host → its earliest next attempt (what is due anywhere)
``ready``                 zset host → when it may be claimed (due, not paused, most recently
                          claimed last); a host at its concurrency cap is left out
``h:<host>``              hash: next (its next request slot, Redis's clock), paused (until,
                          Redis's clock), inflight, cap, lc (last claim)
``lease``                 zset id → lease expiry (Redis's clock); ``owner`` hash id → token
``counts`` / ``reasons``  hash "site\\tstatus[\\treason]" → number of URLs
``wseq``, ``workers``,    worker numbers (a counter, never reused), the set of them, and a
``alive:<n>``             heartbeat key per live worker (expires with the lease time)
``meta``                  hash: round, last_run; ``claimed`` (this run's claims, for
                          ``--max-pages``), ``stop`` (``crawler stop``)
========================  ==============================================================

Every step that must be atomic is one Lua script on Redis's clock (``TIME``): add with the
seen set, claim (which first hands expired leases back: attempts counted, past the limit
``failed:lease_expired``), finish / defer / requeue / renew with the lease token, pause and
book (the host's next request slot, so one pace per host holds across machines whatever their
clocks say). A claimed URL is leased (``lease_s``, renewed every third of it by a heartbeat
thread while in flight); a dead worker's URLs come back when their lease expires, while the
crawl runs: at-least-once, only a dead worker's in-flight URLs are fetched twice.

Durability is Redis's: run it with ``appendonly yes`` and ``appendfsync everysec``. A reply
is sent after the write reached the AOF file (the OS), so a ``kill -9`` of redis-server loses
nothing acknowledged; a power loss can lose the last second, which only means pages fetched
again (discovered links are added before their page is marked done, and the AOF keeps order).
Calls retry for about a minute while Redis is down or restarting.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from crawler.errors import ConfigError, FrontierError
from crawler.frontier import REFRESHED, Claimed, Kind, NewUrl, Row, Shard, Status, pace_key
from crawler.robots import UNAVAILABLE_RETRY_S, Loader, RobotsResponse

if TYPE_CHECKING:  # a type only: the protocol module opens this store, so no import back
    from crawler.frontier_protocol import Halt

log = logging.getLogger(__name__)

LEASE_S = 60.0
LEASE_ATTEMPTS = 3  # a URL whose lease expired this many times (its worker died) ends failed:lease_expired
SLOT_SLACK_S = 0.025  # how late a booked request may still go out
REQUEUE_PER_CLAIM = 50  # expired leases handed back by one claim
TURN_LOOKAHEAD_S = 1.0  # hosts whose turn or pause ends this soon are looked at by a claim
ROBOTS_POLL_S = 0.05  # how often the others look for its copy
DOWN_RETRIES = 120  # calls retried (backoff up to 0.5 s) while Redis is down: about a minute

# ---------------------------------------------------------------- Lua

_COMMON = r"""
local P = ARGV[1]
local function now_redis()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1e6
end
local function num(x, default) return tonumber(x) or default end
local function fmt(x) return string.format('%.6f', math.floor(x * 1e6 + 0.5) / 1e6) end
local function count(site, status, reason, by)
  redis.call('HINCRBY', P .. 'counts', site .. '\t' .. status, by)
  if reason and reason ~= '' then
    redis.call('HINCRBY', P .. 'reasons', site .. '\t' .. status .. '\t' .. reason, by)
  end
end
local function refresh(host)
  local q = P .. 'q:' .. host
  local first = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
  if #first == 0 then
    redis.call('ZREM', P .. 'ready', host)
    redis.call('ZREM', P .. 'qmin', host)
    return
  end
  local due = tonumber(first[2])
  redis.call('ZADD', P .. 'qmin', fmt(due), host)
  local h = redis.call('HMGET', P .. 'h:' .. host, 'inflight', 'cap', 'paused', 'lc')
  if num(h[1], 0) >= num(h[2], 1) then
    redis.call('ZREM', P .. 'ready', host)
  else
    redis.call('ZADD', P .. 'ready', fmt(math.max(due, num(h[3], 0), num(h[4], 0))), host)
  end
end
-- set a URL's status and reason, keeping the counts
local function settle(id, status, reason)
  local r = P .. 'r:' .. id
  local old = redis.call('HMGET', r, 'site', 'status', 'reason')
  count(old[1], old[2], old[3], -1)
  count(old[1], status, reason, 1)
  redis.call('HSET', r, 'status', status, 'reason', reason or '')
end
-- forget a lease (the caller settles the URL)
local function unlease(id, host)
  redis.call('ZREM', P .. 'lease', id)
  redis.call('HDEL', P .. 'owner', id)
  local h = P .. 'h:' .. host
  if num(redis.call('HINCRBY', h, 'inflight', -1), 0) < 0 then redis.call('HSET', h, 'inflight', 0) end
end
local REFRESHED = {__REFRESHED__}
-- add URLs from ARGV[first ...], 9 fields each; returns how many were new (or queued again)
local function add(first, round, stamp)
  local added = 0
  for i = first, #ARGV, 9 do
    local url, site, host, kind, depth = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
    local found_on, extra, status, reason = ARGV[i+5], ARGV[i+6], ARGV[i+7], ARGV[i+8]
    local id = redis.call('HGET', P .. 'ids', url)
    if not id then
      id = redis.call('INCR', P .. 'seq')
      redis.call('HSET', P .. 'ids', url, id)
      redis.call('HSET', P .. 'r:' .. id, 'url', url, 'site', site, 'host', host, 'kind', kind,
        'depth', depth, 'status', status, 'reason', reason, 'attempts', 0, 'next', 0,
        'from', found_on, 'extra', extra, 'round', round, 'added', stamp)
      count(site, status, reason, 1)
      if status == 'todo' then
        redis.call('ZADD', P .. 'q:' .. host, 0, id)
        refresh(host)
      end
      added = added + 1
    elseif status == 'todo' then
      local r = P .. 'r:' .. id
      local old = redis.call('HMGET', r, 'round', 'kind', 'status', 'host')
      if num(old[1], 0) < tonumber(round) and REFRESHED[old[2]]
          and (old[3] == 'done' or old[3] == 'failed' or old[3] == 'skipped') then
        settle(id, 'todo', '')
        redis.call('HSET', r, 'next', 0, 'round', round, 'depth', depth, 'extra', extra, 'from', found_on)
        redis.call('ZADD', P .. 'q:' .. old[4], 0, id)
        refresh(old[4])
        added = added + 1
      end
    end
  end
  return added
end
"""

_ADD = _COMMON + r"""
return add(4, ARGV[2], ARGV[3])
"""

# ARGV: prefix, now (workers' clock), n, cap, lease_s, max_lease_attempts, worker, budget
# (-1: none), slack_s, k, k excluded hosts, the sites wanted (none: every site). Each URL comes
# with its host's next request slot booked (seconds to wait), once a booking told the interval.
_CLAIM = _COMMON + r"""
local now, n, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lease_s, max_attempts, worker, budget = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
local excluded, wanted, any_site = {}, {}, true
local slack, k = tonumber(ARGV[9]), tonumber(ARGV[10])
for i = 11, 10 + k do excluded[ARGV[i]] = true end
for i = 11 + k, #ARGV do wanted[ARGV[i]] = true; any_site = false end
local rnow = now_redis()
-- leases of dead workers come back first
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'lease', '-inf', fmt(rnow), 'LIMIT', 0, __REQUEUE__)) do
  local r = P .. 'r:' .. id
  local f = redis.call('HMGET', r, 'host', 'attempts', 'next')
  unlease(id, f[1])
  if num(f[2], 0) >= max_attempts then
    settle(id, 'failed', 'lease_expired')
  else
    settle(id, 'todo', '')
    redis.call('ZADD', P .. 'q:' .. f[1], fmt(num(f[3], 0)), id)
  end
  refresh(f[1])
end
local spent = 0
if budget >= 0 then
  local left = budget - num(redis.call('GET', P .. 'claimed'), 0)
  if left <= 0 then return {1} end
  n = math.min(n, left)
end
local out = {0}
local picked = 0
-- a host's score may run a little past now (turns, pauses): its URLs' own due times decide
local upto = fmt(now + __LOOKAHEAD__)
local hosts = redis.call('ZRANGEBYSCORE', P .. 'ready', '-inf', upto, 'LIMIT', 0, n * 4 + 16)
for _, host in ipairs(hosts) do
  if picked >= n then break end
  if not excluded[host] then
    local h = P .. 'h:' .. host
    local inflight = num(redis.call('HGET', h, 'inflight'), 0)
    local take = math.min(cap - inflight, n - picked)
    if take > 0 then
      local ids = redis.call('ZRANGEBYSCORE', P .. 'q:' .. host, '-inf', fmt(now), 'LIMIT', 0, take)
      for _, id in ipairs(ids) do
        local r = P .. 'r:' .. id
        if not any_site and not wanted[redis.call('HGET', r, 'site')] then break end  -- --sites
        redis.call('ZREM', P .. 'q:' .. host, id)
        local attempts = redis.call('HINCRBY', r, 'attempts', 1)
        settle(id, 'in_progress', '')
        local token = worker .. ':' .. redis.call('INCR', P .. 'leaseseq')
        redis.call('ZADD', P .. 'lease', fmt(rnow + lease_s), id)
        redis.call('HSET', P .. 'owner', id, token)
        redis.call('HINCRBY', h, 'inflight', 1)
        local f = redis.call('HMGET', r, 'url', 'site', 'kind', 'depth', 'from', 'extra')
        table.insert(out, id); table.insert(out, f[1]); table.insert(out, f[2]); table.insert(out, host)
        table.insert(out, f[3]); table.insert(out, f[4]); table.insert(out, attempts)
        table.insert(out, f[5]); table.insert(out, f[6]); table.insert(out, token)
        local slot = redis.call('HMGET', h, 'interval', 'next', 'paused')
        local interval = num(slot[1], 0)
        if interval > 0 then
          local at = math.max(rnow, num(slot[2], 0), num(slot[3], 0))
          redis.call('HSET', h, 'next', fmt(at + interval + slack))
          table.insert(out, fmt(at - rnow))
        else
          table.insert(out, '')
        end
        picked = picked + 1
      end
      -- the latest claim goes last among hosts due at once (a microsecond after any other)
      local turn = math.max(now, num(redis.call('GET', P .. 'lastturn'), 0) + 1e-6)
      redis.call('SET', P .. 'lastturn', fmt(turn))
      redis.call('HSET', h, 'cap', cap, 'lc', fmt(turn))
    end
    refresh(host)
  end
end
if budget >= 0 and picked > 0 then redis.call('INCRBY', P .. 'claimed', picked) end
return out
"""

# ARGV: prefix, id, token, status, reason, warc, offset, round, stamp, settled URLs...
_FINISH = _COMMON + r"""
local id, token = ARGV[2], ARGV[3]
if redis.call('HGET', P .. 'owner', id) ~= token then return 0 end
add(10, ARGV[8], ARGV[9])
local r = P .. 'r:' .. id
local host = redis.call('HGET', r, 'host')
unlease(id, host)
settle(id, ARGV[4], ARGV[5])
if ARGV[6] ~= '' then redis.call('HSET', r, 'warc', ARGV[6], 'offset', ARGV[7]) end
refresh(host)
return 1
"""

# ARGV: prefix, id, token, next attempt ('' keeps it), reason, attempts change
_BACK = _COMMON + r"""
local id, token = ARGV[2], ARGV[3]
if redis.call('HGET', P .. 'owner', id) ~= token then return 0 end
local r = P .. 'r:' .. id
local f = redis.call('HMGET', r, 'host', 'next', 'attempts')
unlease(id, f[1])
settle(id, 'todo', ARGV[5])
local next_at = ARGV[4] ~= '' and tonumber(ARGV[4]) or num(f[2], 0)
redis.call('HSET', r, 'next', fmt(next_at), 'attempts', math.max(0, num(f[3], 0) + tonumber(ARGV[6])))
redis.call('ZADD', P .. 'q:' .. f[1], fmt(next_at), id)
refresh(f[1])
return 1
"""

# ARGV: prefix, lease_s, id, token, id, token, ...
_RENEW = _COMMON + r"""
local until_ = fmt(now_redis() + tonumber(ARGV[2]))
local renewed = 0
for i = 3, #ARGV, 2 do
  if redis.call('HGET', P .. 'owner', ARGV[i]) == ARGV[i+1] then
    redis.call('ZADD', P .. 'lease', 'XX', until_, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
"""

# ARGV: prefix, host, interval_s, slack_s → seconds to wait before the slot (a string)
_BOOK = _COMMON + r"""
local h = P .. 'h:' .. ARGV[2]
local rnow = now_redis()
local f = redis.call('HMGET', h, 'next', 'paused')
local slot = math.max(rnow, num(f[1], 0), num(f[2], 0))
redis.call('HSET', h, 'next', fmt(slot + tonumber(ARGV[3]) + tonumber(ARGV[4])), 'interval', ARGV[3])
return fmt(slot - rnow)
"""

# ARGV: prefix, host, seconds: pauses only extend
_PAUSE = _COMMON + r"""
local h = P .. 'h:' .. ARGV[2]
local until_ = now_redis() + tonumber(ARGV[3])
if until_ > num(redis.call('HGET', h, 'paused'), 0) then redis.call('HSET', h, 'paused', fmt(until_)) end
refresh(ARGV[2])
return 1
"""

# ARGV: prefix, now, sites...: whether a URL of those sites is due (hosts looked at: a bounded
# number, more counts as due)
_HAS_DUE = _COMMON + r"""
local wanted = {}
for i = 3, #ARGV do wanted[ARGV[i]] = true end
local hosts = redis.call('ZRANGEBYSCORE', P .. 'qmin', '-inf', ARGV[2], 'LIMIT', 0, 2001)
for i, host in ipairs(hosts) do
  if i > 2000 then return 1 end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'q:' .. host, '-inf', ARGV[2], 'LIMIT', 0, 1)) do
    if wanted[redis.call('HGET', P .. 'r:' .. id, 'site')] then return 1 end
  end
end
return 0
"""

# ARGV: prefix, worker → the round; a new one only when no other worker is alive
_BEGIN = _COMMON + r"""
local me = ARGV[2]
for _, w in ipairs(redis.call('SMEMBERS', P .. 'workers')) do
  if w ~= me and redis.call('EXISTS', P .. 'alive:' .. w) == 1 then
    redis.call('HSET', P .. 'meta', 'last_run', 'running')
    return num(redis.call('HGET', P .. 'meta', 'round'), 0)
  end
end
local round = num(redis.call('HGET', P .. 'meta', 'round'), 0)
if redis.call('HGET', P .. 'meta', 'last_run') == 'complete' then round = round + 1 end
redis.call('HSET', P .. 'meta', 'round', round, 'last_run', 'running')
redis.call('DEL', P .. 'claimed', P .. 'stop')
return round
"""

# ARGV: prefix: leases held by workers without a heartbeat go back to todo (untouched)
_RELEASE = _COMMON + r"""
local released = 0
for _, id in ipairs(redis.call('ZRANGE', P .. 'lease', 0, -1)) do
  local token = redis.call('HGET', P .. 'owner', id) or ':'
  local worker = string.match(token, '^([^:]*):')
  if redis.call('EXISTS', P .. 'alive:' .. (worker or '')) == 0 then
    local r = P .. 'r:' .. id
    local f = redis.call('HMGET', r, 'host', 'next')
    unlease(id, f[1])
    settle(id, 'todo', '')
    redis.call('ZADD', P .. 'q:' .. f[1], fmt(num(f[2], 0)), id)
    refresh(f[1])
    released = released + 1
  end
end
return released
"""

# ARGV: prefix, site, reason: every unfinished URL of the site skipped
_SKIP_SITE = _COMMON + r"""
local skipped = 0
for _, id in ipairs(redis.call('HVALS', P .. 'ids')) do
  local r = P .. 'r:' .. id
  local f = redis.call('HMGET', r, 'site', 'status', 'host')
  if f[1] == ARGV[2] and (f[2] == 'todo' or f[2] == 'in_progress') then
    if f[2] == 'in_progress' then unlease(id, f[3]) end
    redis.call('ZREM', P .. 'q:' .. f[3], id)
    settle(id, 'skipped', ARGV[3])
    refresh(f[3])
    skipped = skipped + 1
  end
end
return skipped
"""


def _lua(script: str) -> str:
    refreshed = ", ".join(f"{kind.value}=true" for kind in REFRESHED)
    return script.replace("__REFRESHED__", refreshed).replace("__REQUEUE__", str(REQUEUE_PER_CLAIM)).replace(
        "__LOOKAHEAD__", str(TURN_LOOKAHEAD_S))


# ---------------------------------------------------------------- the store


@dataclass(frozen=True)
class RedisAddress:
    """Where the crawl state is: a ``redis://HOST:PORT/DB`` URL and the crawl name."""

    url: str
    crawl: str

    @property
    def prefix(self) -> str:
        return f"c:{{{self.crawl}}}:"


def connect(url: str, retries: int = DOWN_RETRIES) -> redis.Redis:
    """A client that retries for about a minute while Redis is down (a restart)."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"frontier {url!r}: expected redis://HOST:PORT/DB (or rediss://, unix://)")
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=10, socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


class RedisFrontier:
    """The Redis frontier of one worker process (``FrontierStore``). Open with :meth:`open`."""

    def __init__(
        self, client: redis.Redis, address: RedisAddress, *, lease_s: float = LEASE_S,
        lease_attempts: int = LEASE_ATTEMPTS, max_pages: int | None = None, slack_s: float = SLOT_SLACK_S,
    ) -> None:
        self._r = client
        self.address = address
        self._p = address.prefix
        self.lease_s = self._lease_s = lease_s
        self._lease_attempts = lease_attempts
        self._max_pages = max_pages
        self._slack_s = slack_s
        self._scripts = {
            name: client.register_script(_lua(text)) for name, text in {
                "add": _ADD, "claim": _CLAIM, "finish": _FINISH, "back": _BACK, "renew": _RENEW,
                "book": _BOOK, "pause": _PAUSE, "begin": _BEGIN, "release": _RELEASE, "skip": _SKIP_SITE,
                "has_due": _HAS_DUE,
            }.items()
        }
        self._tokens: dict[int, str] = {}  # id → lease token of what this worker holds
        # host → request windows (time.monotonic()) its claims booked, in order
        self._booked: dict[str, collections.deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()
        self._budget_spent = False
        self._stop_asked = False
        self.round = int(self._r.hget(self._p + "meta", "round") or 0)
        self._worker = int(self._r.incr(self._p + "wseq"))
        self._r.sadd(self._p + "workers", self._worker)
        self._beat()
        self._closing = threading.Event()
        self._heart = threading.Thread(target=self._heartbeats, name="crawler-redis-heartbeat", daemon=True)
        self._heart.start()

    @classmethod
    def open(cls, url: str, crawl: str, **options: Any) -> RedisFrontier:
        client = connect(url)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise _unreachable(url, exc) from exc
        return cls(client, RedisAddress(url, crawl), **options)

    def close(self) -> None:
        self._closing.set()
        self._heart.join(timeout=5)
        try:
            self._r.delete(self._alive(self._worker))
        finally:
            self._r.close()

    def __enter__(self) -> RedisFrontier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------ heartbeats and leases

    def _alive(self, worker: int | str) -> str:
        return f"{self._p}alive:{worker}"

    def _beat(self) -> None:
        ttl_ms = max(int(self._lease_s * 1000), 1000)
        self._r.set(self._alive(self._worker), f"{socket.gethostname()} pid {os.getpid()}", px=ttl_ms)

    def _heartbeats(self) -> None:
        """Every third of the lease: the heartbeat, lease renewals, the crawl-wide stop."""
        while not self._closing.wait(max(self._lease_s / 3, 0.1)):
            try:
                self._beat()
                self.renew()
                self._stop_asked = bool(self._r.exists(self._p + "stop"))
            except redis.RedisError as exc:  # the next beat tries again; the lease time covers gaps
                log.warning("frontier %s: heartbeat failed: %s", self.address.url, exc)

    def renew(self) -> int:
        """Extend the lease of every URL this worker holds; how many were still its own."""
        with self._lock:
            held = list(self._tokens.items())
        if not held:
            return 0
        args: list[Any] = [self._p, self._lease_s]
        for url_id, token in held:
            args += [url_id, token]
        return int(self._scripts["renew"](keys=[self._p + "lease"], args=args))

    # ------------------------------------------------------------ runs and rounds

    def begin_run(self) -> int:
        self.round = int(self._scripts["begin"](keys=[self._p + "meta"], args=[self._p, self._worker]))
        self._budget_spent = self._stop_asked = False
        return self.round

    def end_run(self, complete: bool) -> None:
        self._r.hset(self._p + "meta", "last_run", "complete" if complete else "incomplete")

    def release(self) -> int:
        """Hand back the leases of workers that are gone (their heartbeat expired)."""
        return int(self._scripts["release"](keys=[self._p + "lease"], args=[self._p]))

    def forget_owners(self) -> None:
        """Hosts are not owned on Redis: every worker claims any host, paced crawl-wide."""

    # ------------------------------------------------------------ adding and claiming

    def add(self, urls: Iterable[NewUrl], now: float | None = None) -> int:
        stamp = time.time() if now is None else now
        fields = _url_fields(urls)
        added = 0
        for start in range(0, len(fields), 9 * 500):
            chunk = fields[start:start + 9 * 500]
            args = [self._p, self.round, stamp, *chunk]
            added += int(self._scripts["add"](keys=[self._p + "ids"], args=args))
        return added

    def claim(
        self, n: int, now: float, *, per_host: int = 1, exclude_hosts: Iterable[str] = (),
        sites: Iterable[str] | None = None, shard: Shard | None = None,
    ) -> list[Claimed]:
        """Up to ``n`` due URLs of ``sites`` (None: any), at most ``per_host`` in flight per
        host crawl-wide. ``shard`` does not apply: every worker claims any host."""
        if n <= 0:
            return []
        budget = -1 if self._max_pages is None else self._max_pages
        excluded = list(exclude_hosts)
        sent = time.monotonic()
        reply = self._scripts["claim"](
            keys=[self._p + "ready"],
            args=[self._p, _micro(now), n, per_host, self._lease_s, self._lease_attempts, self._worker,
                  budget, self._slack_s, len(excluded), *excluded, *(sites or ())],
        )
        replied = time.monotonic()
        if int(reply[0]) == 1:
            self._budget_spent = True
        claimed = []
        for i in range(1, len(reply), 11):
            url_id, url, site, host, kind, depth, attempts, found_on, extra, token, wait = reply[i:i + 11]
            if wait:
                window = (replied + float(wait), sent + float(wait) + self._slack_s)
                self._booked.setdefault(host, collections.deque()).append(window)
            claimed.append(Claimed(
                id=int(url_id), url=url, site=site, host=host, kind=Kind(kind), depth=int(depth),
                attempts=int(attempts), discovered_from=found_on or None, extra=_json(extra),
            ))
            with self._lock:
                self._tokens[int(url_id)] = token
        return claimed

    def requeue(self, url_ids: Iterable[int]) -> None:
        for url_id in list(url_ids):
            self._back(url_id, None, "", -1, missing_ok=True)

    # ------------------------------------------------------------ finishing

    def mark_done(
        self, url_id: int, reason: str | None = None, *, warc: str | None = None,
        offset: int | None = None, settled: Iterable[NewUrl] = (),
    ) -> None:
        self._finish(url_id, Status.DONE, reason, warc, offset, settled)

    def mark_failed(self, url_id: int, reason: str) -> None:
        self._finish(url_id, Status.FAILED, reason)

    def mark_skipped(self, url_id: int, reason: str) -> None:
        self._finish(url_id, Status.SKIPPED, reason)

    def mark_internal_failure(self, url_id: int, error: str) -> bool:
        """``failed:internal`` with the exception kept in the crawl's ``err`` hash; False when
        this worker no longer holds the URL (it was settled before the exception)."""
        with self._lock:
            held = url_id in self._tokens
        if not held:
            return False
        self._r.hset(self._p + "err", str(url_id), error)
        self._finish(url_id, Status.FAILED, "internal")
        return True

    def defer(self, url_id: int, next_attempt_at: float, reason: str | None = None) -> None:
        self._back(url_id, next_attempt_at, reason or "", 0)

    def skip_where(self, site: str, reason: str) -> int:
        return int(self._scripts["skip"](keys=[self._p + "ids"], args=[self._p, site, reason]))

    def _token(self, url_id: int, status: str) -> str:
        with self._lock:
            token = self._tokens.pop(url_id, None)
        if token is None:
            raise FrontierError(
                f"frontier {self.address.url} crawl {self.address.crawl!r}: URL id {url_id} is not in "
                f"progress in this worker, cannot mark it {status}"
            )
        return token

    def _finish(
        self, url_id: int, status: Status, reason: str | None, warc: str | None = None,
        offset: int | None = None, settled: Iterable[NewUrl] = (),
    ) -> None:
        token = self._token(url_id, status.value)
        ok = self._scripts["finish"](
            keys=[self._p + "owner"],
            args=[self._p, url_id, token, status.value, reason or "", warc or "",
                  "" if offset is None else offset, self.round, time.time(), *_url_fields(settled)],
        )
        if not int(ok):
            self._lost(url_id, status.value)

    def _back(self, url_id: int, next_at: float | None, reason: str, attempts: int, *,
              missing_ok: bool = False) -> None:
        try:
            token = self._token(url_id, "todo")
        except FrontierError:
            if missing_ok:
                return
            raise
        ok = self._scripts["back"](
            keys=[self._p + "owner"],
            args=[self._p, url_id, token, "" if next_at is None else _micro(next_at), reason, attempts],
        )
        if not int(ok):
            self._lost(url_id, "todo")

    def _lost(self, url_id: int, status: str) -> None:
        log.warning(
            "frontier %s: the lease of URL id %d expired before it was marked %s (this worker was "
            "too slow or cut off); another worker fetches it again", self.address.url, url_id, status,
        )

    # ------------------------------------------------------------ reading

    def counts(self) -> dict[tuple[str, Status], int]:
        found = cast(dict[str, str], self._r.hgetall(self._p + "counts"))
        result = {}
        for key, value in found.items():
            site, status = key.split("\t")
            if int(value):
                result[(site, Status(status))] = int(value)
        return result

    def reasons(self) -> dict[tuple[str, Status, str], int]:
        found = cast(dict[str, str], self._r.hgetall(self._p + "reasons"))
        result = {}
        for key, value in found.items():
            site, status, reason = key.split("\t", 2)
            if int(value):
                result[(site, Status(status), reason)] = int(value)
        return result

    def in_progress(self) -> int:
        return int(self._r.zcard(self._p + "lease"))

    def next_due(self) -> float | None:
        first = cast(list[tuple[str, float]], self._r.zrange(self._p + "qmin", 0, 0, withscores=True))
        return float(first[0][1]) if first else None

    def has_due(self, now: float, sites: Iterable[str] | None = None) -> bool:
        if sites is not None:
            args = [self._p, _micro(now), *sites]
            return bool(int(self._scripts["has_due"](keys=[self._p + "qmin"], args=args)))
        return bool(self._r.zrangebyscore(self._p + "qmin", "-inf", _micro(now), start=0, num=1))

    def get(self, url: str) -> Row | None:
        url_id = cast(str | None, self._r.hget(self._p + "ids", url))
        if url_id is None:
            return None
        return _row(cast(dict[str, str], self._r.hgetall(f"{self._p}r:{url_id}")))

    def rows(self, status: Status | None = None) -> Iterator[Row]:
        last = int(self._r.get(self._p + "seq") or 0)
        for start in range(1, last + 1, 500):
            pipe = self._r.pipeline(transaction=False)
            for url_id in range(start, min(start + 500, last + 1)):
                pipe.hgetall(f"{self._p}r:{url_id}")
            for found in pipe.execute():
                if found and (status is None or found["status"] == status.value):
                    yield _row(found)

    def sites(self) -> set[str]:
        return {site for site, _ in self.counts()}

    # ------------------------------------------------------------ crawl-wide

    @property
    def shared(self) -> bool:
        return True

    @property
    def worker(self) -> int | None:
        return self._worker

    def halted(self) -> Halt | None:
        if self._stop_asked:
            return "stop"
        return "max_pages" if self._budget_spent else None

    def pace(self) -> RedisPace:
        return RedisPace(self)

    def robots(self) -> RedisRobots:
        return RedisRobots(self)

    def book(self, key: str, interval_s: float) -> tuple[float, float]:
        """The host's next request slot: one a claim booked, else a new booking."""
        booked = self._booked.get(key)
        now = time.monotonic()
        while booked:
            opens, closes = booked.popleft()
            if closes > now:
                wait = max(0.0, opens - now)
                return wait, closes - now - wait
        wait = self._scripts["book"](keys=[self._p + "ready"], args=[self._p, key, interval_s, self._slack_s])
        return float(wait), self._slack_s

    def pause_host(self, host: str, until: float, reason: str) -> None:
        """Keep ``host`` unasked until ``until`` (epoch seconds) across runs, for every worker;
        a later pause wins (the crawl-wide slot pause is :meth:`pause`)."""
        self._r.eval(_PAUSE_HOST, 1, self._p + "hpause", host, repr(until), reason)

    def host_pauses(self, now: float) -> dict[str, tuple[float, str]]:
        """Pauses still running at ``now``: pacing key → (until, reason)."""
        found: dict[str, tuple[float, str]] = {}
        for host, raw in cast(dict[str, str], self._r.hgetall(self._p + "hpause")).items():
            until, _, reason = raw.partition(" ")
            if float(until) > now:
                found[host] = (float(until), reason)
        return dict(sorted(found.items()))

    def pause(self, key: str, seconds: float) -> None:
        self._scripts["pause"](keys=[self._p + "ready"], args=[self._p, key, seconds])

    def live_workers(self) -> dict[int, str]:
        """Worker number → what its heartbeat says (host and pid), for the live ones."""
        workers = sorted(int(w) for w in cast(set[str], self._r.smembers(self._p + "workers")))
        return _alive(self._r, self._p, workers)


_PAUSE_HOST = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and tonumber(string.match(old, '^(%S+)')) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return 1
"""


class RedisRobots:
    """``SharedRobots`` through a Redis frontier: ``robots:<origin>`` holds the response for
    the TTL (an unavailable one for ``UNAVAILABLE_RETRY_S``), ``robots-lock:<origin>`` names
    the worker fetching it (for a lease time, extended while it fetches); the others wait for
    the copy, or take the lock over when its holder died."""

    def __init__(self, frontier: RedisFrontier) -> None:
        self._frontier = frontier

    async def load(self, origin: str, load: Loader, ttl_s: float) -> RobotsResponse:
        r, prefix = self._frontier._r, self._frontier.address.prefix
        key, lock = f"{prefix}robots:{origin}", f"{prefix}robots-lock:{origin}"
        while True:
            cached = cast(str | None, r.get(key))
            if cached is not None:
                return _robots_from_json(cached)
            hold_ms = int(self._frontier.lease_s * 1000)
            if r.set(lock, str(self._frontier.worker), nx=True, px=hold_ms):
                keeper = asyncio.create_task(self._keep(lock, hold_ms))  # the lock lives while we do
                try:
                    response = await load(origin)
                    usable = response.status is not None and response.status != 429 and response.status < 500
                    keep_s = ttl_s if usable or response.too_many_redirects else UNAVAILABLE_RETRY_S
                    r.set(key, _robots_to_json(response), px=max(1, int(keep_s * 1000)))
                    return response
                finally:
                    keeper.cancel()
                    r.delete(lock)
            await asyncio.sleep(ROBOTS_POLL_S)

    async def _keep(self, lock: str, hold_ms: int) -> None:
        while True:
            await asyncio.sleep(hold_ms / 3000)
            self._frontier._r.pexpire(lock, hold_ms)


class RedisPace:
    """``SharedPace`` through a Redis frontier."""

    def __init__(self, frontier: RedisFrontier) -> None:
        self._frontier = frontier

    def book(self, key: str, interval_s: float) -> tuple[float, float]:
        return self._frontier.book(key, interval_s)

    def pause(self, key: str, seconds: float) -> None:
        self._frontier.pause(key, seconds)


# ---------------------------------------------------------------- crawl-wide control without a worker


def request_stop(url: str, crawl: str) -> None:
    """``crawler stop``: every worker of the crawl stops taking work (in-flight pages finish)."""
    client = connect(url, retries=3)
    try:
        client.set(RedisAddress(url, crawl).prefix + "stop", "1")
    except redis.RedisError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        client.close()


def _unreachable(url: str, exc: BaseException) -> FrontierError:
    return FrontierError(f"frontier {url}: Redis does not answer ({exc}); check that redis-server "
                         "runs there and the URL (redis://HOST:PORT/DB)")


def status(url: str, crawl: str) -> tuple[dict[tuple[str, Status], int], dict[int, str]]:
    """``crawler status``: (site, status) → count, and the live workers."""
    address = RedisAddress(url, crawl)
    client = connect(url, retries=3)
    try:
        found = cast(dict[str, str], client.hgetall(address.prefix + "counts"))
        counts = {}
        for key, value in found.items():
            site, state = key.split("\t")
            if int(value):
                counts[(site, Status(state))] = int(value)
        workers = sorted(int(w) for w in cast(set[str], client.smembers(address.prefix + "workers")))
        return counts, _alive(client, address.prefix, workers)
    except redis.RedisError as exc:
        raise _unreachable(url, exc) from exc
    finally:
        client.close()


# ---------------------------------------------------------------- helpers


def _url_fields(urls: Iterable[NewUrl]) -> list[Any]:
    fields: list[Any] = []
    for new in urls:
        fields += [
            new.url, new.site, new.host or pace_key(new.url), new.kind.value, new.depth,
            new.discovered_from or "", json.dumps(dict(new.extra)) if new.extra else "",
            new.status.value, new.reason or "",
        ]
    return fields


def _alive(client: redis.Redis, prefix: str, workers: list[int]) -> dict[int, str]:
    if not workers:
        return {}
    values = cast(list[str | None], client.mget([f"{prefix}alive:{w}" for w in workers]))
    return {w: v for w, v in zip(workers, values, strict=True) if v is not None}


def _robots_to_json(response: RobotsResponse) -> str:
    return json.dumps({
        "status": response.status, "body": base64.b64encode(response.body).decode("ascii"),
        "content_encoding": response.content_encoding, "truncated": response.truncated,
        "too_many_redirects": response.too_many_redirects, "error": response.error,
    })


def _robots_from_json(text: str) -> RobotsResponse:
    data = json.loads(text)
    return RobotsResponse(
        status=data["status"], body=base64.b64decode(data["body"]), content_encoding=data["content_encoding"],
        truncated=data["truncated"], too_many_redirects=data["too_many_redirects"], error=data["error"],
    )


def _micro(seconds: float) -> str:
    """Seconds rounded down to the microsecond, as the scripts store them (a claim at ``now``
    sees everything due at ``now``)."""
    return f"{math.floor(seconds * 1e6) / 1e6:.6f}"


def _json(text: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(text)) if text else {}


def _row(found: dict[str, str]) -> Row:
    return Row(
        url=found["url"], site=found["site"], kind=Kind(found["kind"]), status=Status(found["status"]),
        reason=found.get("reason") or None, attempts=int(found.get("attempts") or 0),
        next_attempt_at=float(found.get("next") or 0), depth=int(found.get("depth") or 0),
        discovered_from=found.get("from") or None,
    )
