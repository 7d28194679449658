"""What ``crawler crawl`` shows: a live per-site table on a terminal, plain log lines otherwise,
and the summary at the end."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from crawler.frontier import Status
from crawler.pipeline import CrawlSummary, SiteProgress

PLAIN_EVERY_S = 10.0
LIVE_REFRESH_PER_S = 4


def _progress_table(progress: dict[str, SiteProgress]) -> Table:
    table = Table(title="crawl", expand=False)
    for column in ("site", "fetched", "articles", "errors", "skipped", "deferred", "MB", "pages/s"):
        table.add_column(column, justify="left" if column == "site" else "right")
    for site_id, p in sorted(progress.items()):
        table.add_row(
            site_id, str(p.fetched), str(p.articles), str(p.errors), str(p.skipped), str(p.deferred),
            f"{p.bytes / 1e6:.1f}", f"{p.rate():.1f}",
        )
    return table


def _plain_line(site_id: str, p: SiteProgress) -> str:
    return (
        f"{site_id}: fetched {p.fetched}, articles {p.articles}, errors {p.errors}, "
        f"skipped {p.skipped}, deferred {p.deferred}, {p.rate():.1f} pages/s"
    )


class CrawlView:
    """Receives progress callbacks; a rich live table when ``stream`` is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.console = Console(file=stream)
        self.live_display = self.console.is_terminal
        self._progress: dict[str, SiteProgress] = {}
        self._live: Live | None = None
        self._last_line: dict[str, float] = {}

    def __enter__(self) -> CrawlView:
        if self.live_display:
            self._live = Live(
                _progress_table(self._progress), console=self.console,
                refresh_per_second=LIVE_REFRESH_PER_S, transient=False,
            )
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.update(_progress_table(self._progress))
            self._live.__exit__(kind, exc, tb)
            self._live = None
        else:
            for site_id, p in sorted(self._progress.items()):
                self._plain(_plain_line(site_id, p))

    def update(self, site_id: str, progress: SiteProgress) -> None:
        """The pipeline's progress callback."""
        self._progress[site_id] = progress
        if self._live is not None:
            self._live.update(_progress_table(self._progress))
            return
        now = time.monotonic()
        if now - self._last_line.get(site_id, 0.0) >= PLAIN_EVERY_S:
            self._last_line[site_id] = now
            self._plain(_plain_line(site_id, progress))

    def _plain(self, line: str) -> None:
        stamped = f"{time.strftime('%H:%M:%S')} {line}"
        self.console.print(stamped, markup=False, highlight=False, soft_wrap=True)

    def print_summary(self, summary: CrawlSummary) -> None:
        """The end-of-run summary: per-site states, reasons, outputs and why the run ended."""
        self.console.print(summary_table(summary))
        for line in summary_lines(summary):
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def summary_table(summary: CrawlSummary) -> Table:
    table = Table(title="frontier after this run")
    columns = [status for status in Status]
    table.add_column("site")
    for status in columns:
        table.add_column(status.value, justify="right")
    sites = sorted({site for site, _ in summary.counts})
    for site in sites:
        table.add_row(site, *(str(summary.counts.get((site, status), 0)) for status in columns))
    return table


def summary_lines(summary: CrawlSummary) -> list[str]:
    """The summary as plain sentences (also what tests read)."""
    lines = [
        f"articles written: {summary.articles_written} (duplicates dropped: {summary.duplicates}); "
        f"{summary.total(Status.DONE)} done, {summary.total(Status.FAILED)} failed, "
        f"{summary.total(Status.SKIPPED)} skipped, {summary.todo} queued; {summary.elapsed_s:.1f} s",
    ]
    for (site, status, reason), count in sorted(summary.reasons.items()):
        if status in (Status.FAILED, Status.SKIPPED, Status.TODO):
            lines.append(f"  {site}: {count} {status.value}:{reason}")
    lines += [f"WARC: {path}" for path in summary.warcs]
    if summary.torn is not None:
        lines.append(summary.torn.describe())
    lines += [f"recovered: {report}" for report in summary.recovered]
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
