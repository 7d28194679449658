"""Every way a URL can end a run, named in one place: what the live view, the summary, the
exit code and ``--summary-json`` count.

The frontier stores a status and a short reason per URL (``done``, ``done:non_article``,
``done:http_403``, ``failed:timeout``, ``skipped:robots``, ``todo:robots_unavailable`` ...);
``classify`` maps each pair to one ``Outcome``: a ``Group`` (the column it is counted in) and a
detail (the status code or the reason). On top of the counts:

* a URL **failed** when its status is ``failed`` (a 5xx or 429 after every retry, a timeout, a
  refused connection, a broken page ...);
* a site **refused us** when most of its answers were 401, 403, 429 or a bot challenge page
  (what bot-blocking CDNs send): ``refusal``;
* a site was **unreachable** when it was asked and nothing answered: every attempt ended in a
  network failure (``network_cause`` names it: name resolution, connection refused, proxy).

Any of the three makes the run exit 3 (``crawler.crawlrun.CrawlSummary.exit_code``).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.frontier import Kind, Status
from crawler.models import Exchange

if TYPE_CHECKING:
    from crawler.frontier_protocol import FrontierStore


class Group(StrEnum):
    """Where an outcome is counted (the live view's columns, the summary's lines)."""

    ARTICLE = "article"  # an article page read (written, or a duplicate of one written)
    LISTING = "listing"  # a listing, feed or sitemap read for its links
    CONTINUATION = "continuation"  # a later page of an article, joined to it
    READ = "read"  # done without a reason, kind unknown (the cumulative frontier table)
    NOT_ARTICLE = "not_article"  # an article URL whose page holds no article
    BEFORE_SINCE = "before_since"  # an article older than --since: not written
    HTTP_3XX = "http_3xx"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    CHALLENGE = "challenge"  # a bot-challenge page (e.g. ``cf-mitigated: challenge``)
    ROBOTS_DISALLOWED = "robots_disallowed"
    ROBOTS_UNAVAILABLE = "robots_unavailable"  # robots.txt could not be read: waiting for it
    DEFERRED = "deferred"  # queued again for later (Retry-After, a paused host)
    SKIPPED = "skipped"  # out of scope, declared too large, site removed ...
    FAILED = "failed"  # by reason: timeout, connect, protocol, tls, too_large, ssrf ...
    QUEUED = "queued"  # still to do (a run cut by --max-pages or a stop)


# Answers a site sends to crawlers it does not want (a bot-blocking CDN, a rate limit).
REFUSAL_STATUSES = frozenset({"401", "403", "429"})
# Groups that mean the site answered this URL.
ANSWERED = frozenset({
    Group.ARTICLE, Group.LISTING, Group.CONTINUATION, Group.READ, Group.NOT_ARTICLE,
    Group.BEFORE_SINCE, Group.HTTP_3XX, Group.HTTP_4XX, Group.HTTP_5XX, Group.CHALLENGE,
})
_HTTP_REASON = re.compile(r"^http_(\d{3})$")
_HTTP_GROUPS = {"3": Group.HTTP_3XX, "4": Group.HTTP_4XX, "5": Group.HTTP_5XX}
_KIND_GROUPS = {Kind.ARTICLE: Group.ARTICLE, Kind.CONTINUATION: Group.CONTINUATION}
CHALLENGE_REASON = "challenge"
UNREACHABLE_FILE = "unreachable.json"  # in the state directory: sites the last run could not reach


@dataclass(frozen=True, order=True)
class Outcome:
    """What became of one URL: its group and a detail (status code, reason), and whether it
    counts as a failure (its frontier status is ``failed``)."""

    group: Group
    detail: str = ""
    failed: bool = False

    @property
    def key(self) -> str:
        """``group`` or ``group:detail``: the name used in ``--summary-json``."""
        return f"{self.group.value}:{self.detail}" if self.detail else self.group.value

    @property
    def label(self) -> str:
        """How the summary names it: ``HTTP 403``, ``failed: timeout``, ``not an article`` ..."""
        if self.group in (Group.HTTP_3XX, Group.HTTP_4XX, Group.HTTP_5XX):
            return f"HTTP {self.detail}" + (" (failed after retries)" if self.failed else "")
        text = _LABELS.get(self.group, self.group.value.replace("_", " "))
        return f"{text}: {self.detail}" if self.detail else text

    @property
    def refusal(self) -> bool:
        """A 401/403/429 or a challenge page: the site does not want us."""
        if self.group is Group.CHALLENGE:
            return True
        return self.detail in REFUSAL_STATUSES or self.detail == "http_429"


_LABELS = {
    Group.ARTICLE: "article pages",
    Group.LISTING: "listing/feed/sitemap pages",
    Group.CONTINUATION: "continuation pages",
    Group.READ: "pages read",
    Group.NOT_ARTICLE: "not an article",
    Group.BEFORE_SINCE: "before --since",
    Group.CHALLENGE: "bot challenge page",
    Group.ROBOTS_DISALLOWED: "disallowed by robots.txt",
    Group.ROBOTS_UNAVAILABLE: "waiting for robots.txt",
    Group.DEFERRED: "deferred",
    Group.SKIPPED: "skipped",
    Group.FAILED: "failed",
    Group.QUEUED: "queued",
}


def classify(status: Status, reason: str | None, kind: Kind | None = None) -> Outcome:
    """The outcome of a frontier row (``status``, ``reason``); ``kind`` splits plain ``done``."""
    failed = status is Status.FAILED
    if reason:
        http = _HTTP_REASON.match(reason)
        if http is not None:
            code = http.group(1)
            if status is Status.TODO:
                return Outcome(Group.DEFERRED, reason)
            return Outcome(_HTTP_GROUPS.get(code[0], Group.FAILED), code, failed)
        if reason == "not_found":  # what earlier versions stored for a 404 or a 410
            return Outcome(Group.HTTP_4XX, "404", failed)
    if status in (Status.TODO, Status.IN_PROGRESS):
        if reason == "robots_unavailable":
            return Outcome(Group.ROBOTS_UNAVAILABLE)
        return Outcome(Group.DEFERRED, reason) if reason else Outcome(Group.QUEUED)
    if reason == "before_since":
        return Outcome(Group.BEFORE_SINCE)
    if failed:
        return Outcome(Group.FAILED, reason or "error", True)
    if status is Status.SKIPPED:
        if reason == "robots":
            return Outcome(Group.ROBOTS_DISALLOWED)
        return Outcome(Group.SKIPPED, reason or "")
    return _done(reason, kind)


def _done(reason: str | None, kind: Kind | None) -> Outcome:
    if reason is None:
        if kind is None:
            return Outcome(Group.READ)
        return Outcome(_KIND_GROUPS.get(kind, Group.LISTING))
    if reason == "non_article":
        return Outcome(Group.NOT_ARTICLE)
    if reason == CHALLENGE_REASON:
        return Outcome(Group.CHALLENGE)
    if reason == "continuation":
        return Outcome(Group.CONTINUATION)
    if reason.startswith("continuation_unavailable"):
        return Outcome(Group.CONTINUATION, reason.replace("continuation_", "", 1))
    return Outcome(Group.READ, reason)


def is_challenge(exchange: Exchange) -> bool:
    """Whether a response is a bot-challenge page rather than the page asked for (CDNs mark
    theirs in a header: Cloudflare ``cf-mitigated: challenge``, DataDome ``x-datadome``)."""
    if (exchange.header("cf-mitigated") or "").strip().lower() == "challenge":
        return True
    return exchange.status in (403, 429) and exchange.header("x-datadome") is not None


# ---------------------------------------------------------------- site verdicts


def refusal(outcomes: Mapping[Outcome, int]) -> tuple[int, int] | None:
    """(refusals, answers) when most of a site's answers refused us, else None."""
    answers = sum(count for outcome, count in outcomes.items()
                  if outcome.group in ANSWERED or outcome.refusal)
    refused = sum(count for outcome, count in outcomes.items() if outcome.refusal)
    if refused and refused * 2 > answers:
        return refused, answers
    return None


def refusal_hint(site: str, counts: tuple[int, int], statuses: Iterable[str]) -> str:
    refused, answers = counts
    return (
        f"{site}: the site refused us: {refused} of {answers} answers were {', '.join(sorted(statuses))} "
        "(bot blocking or rate limiting); set a real contact in crawl.user_agent, slow down "
        f"(sites.{site}.politeness.interval_s), or ask the site for access"
    )


def answered(outcomes: Mapping[Outcome, int]) -> int:
    return sum(count for outcome, count in outcomes.items() if outcome.group in ANSWERED)


_CAUSES = (
    ("name resolution failed", ("name or service not known", "temporary failure in name resolution",
                                "nodename nor servname", "no address associated", "getaddrinfo",
                                "name resolution", "errno -2", "errno -3", "errno -5")),
    ("proxy", ("proxy",)),
    ("connection refused", ("connection refused", "errno 111", "connectionrefused")),
    ("network unreachable", ("network is unreachable", "no route to host", "errno 101", "errno 113")),
    ("timed out", ("timed out", "timeout")),
    ("TLS failed", ("tls", "ssl", "certificate")),
)


def network_cause(message: str) -> str | None:
    """What kept us from a host, from a transport error's message; None if it is no such error."""
    text = message.lower()
    for cause, markers in _CAUSES:
        if any(marker in text for marker in markers):
            return cause
    return None


@dataclass
class SiteProgress:
    """Running counts for one site in this run (what the progress display shows).

    ``fetched`` counts URLs that got a response; ``outcomes`` every URL settled, by
    ``crawler.outcomes.Outcome``; ``due`` the earliest next attempt per deferral reason;
    ``down`` the hosts that could not be reached, with the cause. ``queued`` is the site's
    queue (todo and in progress), refreshed now and then.
    """

    fetched: int = 0
    articles: int = 0
    errors: int = 0
    skipped: int = 0
    deferred: int = 0
    bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    outcomes: Counter[Outcome] = field(default_factory=Counter)
    due: dict[str, float] = field(default_factory=dict)
    down: dict[str, str] = field(default_factory=dict)
    queued: int = 0

    def rate(self) -> float:
        """Fetched pages per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.fetched / elapsed if elapsed > 0 else 0.0

    def settle(
        self, status: Status, reason: str | None, kind: Kind | None = None, *, due: float | None = None,
        message: str | None = None,
    ) -> Outcome:
        """Count one URL's end in this run (``due``: when a deferred URL is tried again;
        ``message``: the error, which names a host that could not be reached)."""
        outcome = classify(status, reason, kind)
        self.outcomes[outcome] += 1
        if status is Status.FAILED:
            self.errors += 1
        elif status is Status.SKIPPED:
            self.skipped += 1
        elif status is Status.TODO:
            self.deferred += 1
            if due is not None:
                key = reason or "later"
                self.due[key] = min(due, self.due.get(key, due))
        cause = network_cause(message) if message and reason in NETWORK_REASONS else None
        if cause is not None and message is not None:
            self.down[_host_of(message)] = cause
        return outcome

    def merge(self, other: SiteProgress) -> None:
        """Add another process's counts of the same site."""
        for name in ("fetched", "articles", "errors", "skipped", "deferred", "bytes"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.queued = max(self.queued, other.queued)
        self.outcomes.update(other.outcomes)
        for reason, when in other.due.items():
            self.due[reason] = min(when, self.due.get(reason, when))
        self.down.update(other.down)
        self.started = min(self.started, other.started)


# failures that say the host was not reached at all
NETWORK_REASONS = frozenset({"connect", "timeout", "tls", "robots_unavailable"})


def _host_of(message: str) -> str:
    found = re.search(r"https?://([^/\s:]+)", message)
    return found.group(1) if found else "?"


# ---------------------------------------------------------------- the summary's inputs


def deferrals(frontier: FrontierStore, now: float) -> dict[tuple[str, str], tuple[int, float]]:
    """(site, reason) → (queued URLs not due before ``now``, the earliest next attempt)."""
    found: dict[tuple[str, str], tuple[int, float]] = {}
    for row in frontier.rows(Status.TODO):
        if row.next_attempt_at > now:
            key = (row.site, row.reason or "later")
            count, first = found.get(key, (0, row.next_attempt_at))
            found[key] = (count + 1, min(first, row.next_attempt_at))
    return found


def unreachable(
    state: Path, progress: Mapping[str, SiteProgress], deferrals: dict[tuple[str, str], tuple[int, float]],
    now: float,
) -> tuple[dict[str, dict[str, str]], dict[str, float]]:
    """Sites none of whose hosts answered: those asked this run with no answer, and those the
    last run found unreachable that could not be asked again yet (their URLs all deferred).
    Kept in ``state/unreachable.json`` for that second case."""
    path = state / UNREACHABLE_FILE
    try:
        before = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        before = {}
    found: dict[str, dict[str, str]] = {}
    when: dict[str, float] = {}
    waiting = {site for site, _ in deferrals}
    for site, one in progress.items():
        if one.outcomes and one.down and not answered(one.outcomes):
            found[site], when[site] = dict(one.down), now
        elif not one.outcomes and site in waiting and isinstance(before.get(site), dict):
            found[site] = {str(k): str(v) for k, v in before[site].get("hosts", {}).items()}
            when[site] = float(before[site].get("at", 0.0))
    record = {site: {"hosts": hosts, "at": when[site]} for site, hosts in found.items()}
    with contextlib.suppress(OSError):
        path.write_text(json.dumps(record), encoding="utf-8")
    return found, {site: at for site, at in when.items() if at != now}


def failures(outcomes: Mapping[Outcome, int]) -> int:
    return sum(count for outcome, count in outcomes.items() if outcome.failed)


def tally(pairs: Iterable[tuple[Outcome, int]]) -> Counter[Outcome]:
    counter: Counter[Outcome] = Counter()
    for outcome, count in pairs:
        counter[outcome] += count
    return counter


__all__ = [
    "Group", "Outcome", "SiteProgress", "answered", "classify", "deferrals", "failures", "is_challenge",
    "network_cause", "refusal", "refusal_hint", "tally", "unreachable",
]
