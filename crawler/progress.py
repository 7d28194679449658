"""What ``crawler crawl`` shows: a live per-site table on a terminal (with a total row, queue
sizes and the elapsed time; log lines print above it, not across it), one line per change
every ``PLAIN_EVERY_S`` otherwise, and the summary at the end: this run's outcomes by reason,
what needs the user (refusals, unreachable hosts, deferrals with their time), the layout
health of the run's articles (``crawler.health``), and the frontier's cumulative table.
``summary_document`` is the same summary as JSON (``--summary-json``, schema in the README).
Outcomes are named by ``crawler.outcomes``.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from rich import box
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.table import Table

from crawler.atomic import write_whole
from crawler.crawlrun import CrawlSummary, SiteProgress
from crawler.errors import InputError
from crawler.frontier import Status
from crawler.health import summary_lines as health_lines
from crawler.outcomes import Group, Outcome, answered, classify, failures, refusal, refusal_hint

PLAIN_EVERY_S = 10.0
LIVE_REFRESH_PER_S = 4
SUMMARY_SCHEMA = "crawler-summary/1"
_READ = frozenset({Group.ARTICLE, Group.LISTING, Group.CONTINUATION, Group.READ})
_WAITING = frozenset({Group.DEFERRED, Group.ROBOTS_UNAVAILABLE, Group.QUEUED})
# The live view's columns beyond fetched/articles, each a test on an outcome; the caption
# lists every outcome of "other", "failed" and "deferred" by reason.
_COLUMNS: dict[str, Callable[[Outcome], bool]] = {
    "other": lambda o: not o.failed and o.group not in _READ | _WAITING,  # not an article, HTTP 4xx ...
    "failed": lambda o: o.failed,
    "deferred": lambda o: o.group in _WAITING,
}


def _count(progress: SiteProgress, wanted: Callable[[Outcome], bool]) -> int:
    return sum(count for outcome, count in progress.outcomes.items() if wanted(outcome))


def _total(progress: Mapping[str, SiteProgress]) -> SiteProgress:
    total = SiteProgress(started=min((p.started for p in progress.values()), default=time.monotonic()))
    for one in progress.values():
        total.merge(one)
    total.queued = sum(one.queued for one in progress.values())
    return total


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _clock(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%H:%M:%S")


def progress_table(progress: Mapping[str, SiteProgress], elapsed_s: float) -> Table:
    """The live view: a row per site and a total row; other outcomes in the caption."""
    total = _total(progress)
    table = Table(
        title=f"crawl  {_elapsed(elapsed_s)} elapsed  queue {total.queued}  {total.bytes / 1e6:.1f} MB",
        box=box.SIMPLE_HEAD, padding=(0, 1), collapse_padding=True, pad_edge=False, show_edge=False,
        caption_justify="left", title_justify="left",
    )
    table.add_column("site", no_wrap=True, min_width=max((len(s) for s in progress), default=4))
    for column in ("fetched", "articles", *_COLUMNS, "queue", "pages/s"):
        table.add_column(column, justify="right", no_wrap=True)
    for site_id, p in sorted(progress.items()):
        table.add_row(site_id, *_cells(p))
    table.add_section()
    table.add_row("total", *_cells(total), style="bold")
    details = [f"{site}: {text}" for site, p in sorted(progress.items()) if (text := _details(p))]
    if details:
        table.caption = "\n".join(details)
    return table


def _cells(p: SiteProgress) -> list[str]:
    counts = [str(_count(p, wanted)) for wanted in _COLUMNS.values()]
    return [str(p.fetched), str(p.articles), *counts, str(p.queued), f"{p.rate():.1f}"]


def _details(p: SiteProgress) -> str:
    """Every outcome the columns lump together, by reason, with the time deferrals are due."""
    parts = [f"{outcome.label} ×{count}" for outcome, count in sorted(p.outcomes.items())
             if outcome.group not in _READ]
    parts += [f"{reason} due {_clock(when)}" for reason, when in sorted(p.due.items())]
    parts += [f"{host}: {cause}" for host, cause in sorted(p.down.items())]
    return " · ".join(parts)


def _plain_counts(site_id: str, p: SiteProgress) -> str:
    counts = ", ".join(f"{name} {_count(p, wanted)}" for name, wanted in _COLUMNS.items())
    return f"{site_id}: fetched {p.fetched}, articles {p.articles}, {counts}, queue {p.queued}"


def plain_line(site_id: str, p: SiteProgress) -> str:
    return f"{_plain_counts(site_id, p)}, {p.rate():.1f} pages/s"


class CrawlView:
    """Receives progress callbacks; a rich live table when ``stream`` is a terminal, else a
    line per site whose counts changed, at most every ``PLAIN_EVERY_S`` (each line once)."""

    def __init__(self, stream: TextIO, *, force_terminal: bool | None = None) -> None:
        self.console = Console(file=stream, force_terminal=force_terminal)
        self.live_display = self.console.is_terminal
        self._progress: dict[str, SiteProgress] = {}
        self._live: Live | None = None
        self._printed: dict[str, str] = {}
        self._last_print = 0.0
        self._started = time.monotonic()
        self._handler: RichHandler | None = None
        self._saved_handlers: list[logging.Handler] = []

    def __enter__(self) -> CrawlView:
        self._started = time.monotonic()
        if self.live_display:
            self._route_logging()
            self._live = Live(
                self._table(), console=self.console, refresh_per_second=LIVE_REFRESH_PER_S,
                transient=False, get_renderable=self._table,
            )
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(kind, exc, tb)
            self._live = None
            self._restore_logging()
        else:
            self._print_changed()

    def _table(self) -> Table:
        return progress_table(self._progress, time.monotonic() - self._started)

    def _route_logging(self) -> None:
        """Log records go through the live display's console, so they print above the table."""
        root = logging.getLogger()
        self._saved_handlers = list(root.handlers)
        level = min((h.level for h in self._saved_handlers), default=logging.WARNING)
        self._handler = RichHandler(console=self.console, show_path=False, level=level,
                                    log_time_format="%H:%M:%S")
        for handler in self._saved_handlers:
            root.removeHandler(handler)
        root.addHandler(self._handler)

    def _restore_logging(self) -> None:
        root = logging.getLogger()
        if self._handler is not None:
            root.removeHandler(self._handler)
        for handler in self._saved_handlers:
            root.addHandler(handler)

    def update(self, site_id: str, progress: SiteProgress) -> None:
        """The pipeline's progress callback."""
        self._progress[site_id] = progress
        if self._live is not None:
            return  # the live display asks for the table itself (get_renderable)
        now = time.monotonic()
        if now - self._last_print >= PLAIN_EVERY_S:
            self._last_print = now
            self._print_changed()

    def _print_changed(self) -> None:
        """A line for each site whose counts changed since its last line (the rate alone does
        not count), and the total after them."""
        rows = dict(sorted(self._progress.items()))
        changed = [site for site, p in rows.items() if self._printed.get(site) != _plain_counts(site, p)]
        if len(rows) > 1 and changed:
            rows["total"] = _total(self._progress)
            changed.append("total")
        elapsed = _elapsed(time.monotonic() - self._started)
        for site in changed:
            self._printed[site] = _plain_counts(site, rows[site])
            self._plain(f"{elapsed} {plain_line(site, rows[site])}")

    def _plain(self, line: str) -> None:
        self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def print_summary(self, summary: CrawlSummary) -> None:
        """The end-of-run summary: this run by outcome, what needs the user, the frontier."""
        for line in summary_lines(summary):
            self._plain(line)
        self.console.print(summary_table(summary))


def summary_table(summary: CrawlSummary) -> Table:
    table = Table(title="frontier: every run of this archive (cumulative)", box=box.SIMPLE_HEAD)
    columns = list(Status)
    table.add_column("site", no_wrap=True)
    for status in columns:
        table.add_column(status.value, justify="right")
    for site in sorted({site for site, _ in summary.counts}):
        table.add_row(site, *(str(summary.counts.get((site, status), 0)) for status in columns))
    return table


# ---------------------------------------------------------------- the summary as sentences


def summary_lines(summary: CrawlSummary) -> list[str]:
    """The summary as plain sentences (also what tests read)."""
    total = _total(summary.progress)
    lines = [_this_run_line(summary, total)]
    for site, p in sorted(summary.progress.items()):
        if p.outcomes:
            lines.append(f"  {site}: " + _outcome_counts(p.outcomes))
    lines += _needs_attention(summary)
    if summary.health is not None:
        lines += health_lines(summary.health)
    lines.append(
        f"frontier (every run of this archive): {summary.total(Status.DONE)} done, "
        f"{summary.total(Status.FAILED)} failed, {summary.total(Status.SKIPPED)} skipped, "
        f"{summary.todo} queued"
    )
    for (site, status, reason), count in sorted(summary.reasons.items()):
        if status in (Status.FAILED, Status.SKIPPED, Status.TODO):
            lines.append(f"  {site}: {count} {status.value}:{reason}")
    lines += [f"WARC: {path}" for path in summary.warcs]
    if summary.torn is not None:
        lines.append(summary.torn.describe())
    lines += [f"recovered: {report}" for report in summary.recovered]
    lines += _how_it_ended(summary)
    return lines


def _this_run_line(summary: CrawlSummary, total: SiteProgress) -> str:
    failed = failures(total.outcomes)
    return (
        f"this run: articles written: {summary.articles_written} (duplicates dropped: {summary.duplicates}); "
        f"{sum(total.outcomes.values())} URLs settled, {total.fetched} answered, {failed} failed; "
        f"{summary.elapsed_s:.1f} s"
    )


def _outcome_counts(outcomes: Mapping[Outcome, int]) -> str:
    return ", ".join(f"{count} {outcome.label}" for outcome, count in sorted(outcomes.items()))


def _needs_attention(summary: CrawlSummary) -> list[str]:
    lines = []
    if summary.unreachable and len(summary.unreachable) == len(summary.progress):
        lines.append("no host could be reached: nothing was fetched; check the network or proxy")
    for site, hosts in sorted(summary.unreachable.items()):
        causes = ", ".join(f"{host}: {cause}" for host, cause in sorted(hosts.items()))
        when = summary.unreachable_at.get(site)
        since = f" (found at {_clock(when)}; its URLs wait until their next attempt)" if when else ""
        via = f" via proxy {', '.join(summary.proxies)}" if summary.proxies else ""
        lines.append(f"{site}: no host reachable{via} ({causes}){since}; check the network or proxy")
    for site, counts in sorted(summary.refused().items()):
        statuses = {outcome.label for outcome in summary.progress[site].outcomes if outcome.refusal}
        lines.append(refusal_hint(site, counts, statuses))
    for (site, reason), (count, due) in sorted(summary.deferrals.items()):
        lines.append(f"  {site}: {count} deferred ({reason}) until {_clock(due)}")
    return lines


def _how_it_ended(summary: CrawlSummary) -> list[str]:
    lines = []
    if summary.deferred:
        lines.append(
            f"{summary.deferred} URLs are deferred (Retry-After, robots.txt unavailable, ...) and stay "
            "queued: run the same command later to fetch them"
        )
    for host, until, why in summary.paused_hosts:
        moment = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(f"host {host} deferred until {moment} ({why}); run again after that time for its URLs")
    for host in summary.robots_unavailable:
        lines.append(f"robots.txt unavailable, nothing fetched from {host} yet")
    if summary.hit_max_pages:
        lines.append("stopped at --max-pages; run the same command again to continue")
    if summary.interrupted:
        lines.append("interrupted: the archive is closed and consistent; run the same command to resume")
    return lines


# ---------------------------------------------------------------- the summary as JSON


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _keys(outcomes: Mapping[Outcome, int]) -> dict[str, int]:
    merged: Counter[str] = Counter()
    for outcome, count in outcomes.items():
        merged[outcome.key] += count
    return dict(sorted(merged.items()))


def summary_document(summary: CrawlSummary) -> dict[str, Any]:
    """``--summary-json``: the run for cron and monitoring (README "Summary JSON")."""
    total = _total(summary.progress)
    return {
        "schema": SUMMARY_SCHEMA,
        "started": _iso(summary.started_at),
        "elapsed_s": round(summary.elapsed_s, 3),
        "exit_code": summary.exit_code,
        "ended": _ended(summary),
        "articles_written": summary.articles_written,
        "duplicates": summary.duplicates,
        "fetched": total.fetched,
        "failed": failures(total.outcomes),
        "outcomes": _keys(total.outcomes),
        "sites": {site: _site_document(summary, site, p) for site, p in sorted(summary.progress.items())},
        "frontier": _frontier_document(summary),
        "warcs": [str(path) for path in summary.warcs],
        "robots_unavailable": list(summary.robots_unavailable),
        "proxies": list(summary.proxies),
        "recovered": list(summary.recovered),
        "health": None if summary.health is None else _health_document(summary),
    }


def _health_document(summary: CrawlSummary) -> dict[str, Any]:
    """The layout health of this run (``crawler sites --health --json`` without ``archive``)."""
    assert summary.health is not None
    document = summary.health.to_json()
    del document["archive"]
    return document


def _ended(summary: CrawlSummary) -> str:
    if summary.interrupted:
        return "interrupted"
    if summary.hit_max_pages:
        return "max_pages"
    return "deferred" if summary.deferred else "complete"


def _site_document(summary: CrawlSummary, site: str, p: SiteProgress) -> dict[str, Any]:
    refused = refusal(p.outcomes)
    hosts = summary.unreachable.get(site)
    return {
        "fetched": p.fetched,
        "articles_written": p.articles,
        "answered": answered(p.outcomes),
        "failed": failures(p.outcomes),
        "outcomes": _keys(p.outcomes),
        "deferred": [
            {"reason": reason, "urls": count, "due": _iso(due)}
            for (where, reason), (count, due) in sorted(summary.deferrals.items()) if where == site
        ],
        "refused": None if refused is None else {"refusals": refused[0], "answers": refused[1]},
        "unreachable": None if hosts is None else {
            "hosts": dict(sorted(hosts.items())),
            "found": _iso(summary.unreachable_at.get(site, summary.started_at)),
        },
    }


def _frontier_document(summary: CrawlSummary) -> dict[str, dict[str, Any]]:
    """Cumulative: every URL of the archive by status, and by outcome where a reason says more."""
    found: dict[str, dict[str, Any]] = {}
    for (site, status), count in sorted(summary.counts.items()):
        found.setdefault(site, {"statuses": {}, "outcomes": {}})["statuses"][status.value] = count
    for site, outcomes in _frontier_outcomes(summary):
        found.setdefault(site, {"statuses": {}, "outcomes": {}})["outcomes"] = _keys(outcomes)
    return found


def _frontier_outcomes(summary: CrawlSummary) -> Iterator[tuple[str, Counter[Outcome]]]:
    per_site: dict[str, Counter[Outcome]] = {}
    for (site, status, reason), count in summary.reasons.items():
        per_site.setdefault(site, Counter())[classify(status, reason)] += count
    yield from sorted(per_site.items())


def write_summary_json(path: Path, summary: CrawlSummary) -> None:
    """``summary_document`` to ``path``, whole or not at all (a temporary file renamed)."""
    try:
        write_whole(path, (json.dumps(summary_document(summary), indent=1) + "\n").encode("utf-8"))
    except OSError as exc:
        raise InputError(f"--summary-json {path}: cannot write: {exc.strerror or exc}") from exc
