"""What ``crawler replay --cluster`` shows: a rich progress bar (files done, records, articles,
errors, rate) on a terminal, a line every few seconds otherwise, damage as it is found, the
summary at the end."""

from __future__ import annotations

import argparse
import logging
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from crawler import errors
from crawler.cluster import PartDone, connect, expand_inputs, replay_on_cluster
from crawler.replay import ReplayOptions
from crawler.shards import FORMATS

PLAIN_EVERY_S = 10.0


class ClusterView:
    def __init__(self, stream: TextIO, total: int) -> None:
        self.console = Console(file=stream, highlight=False)
        self.total = total
        self.done = self.records = self.articles = self.errors = self.skipped = 0
        self._started = time.monotonic()
        self._last_line = self._started
        self._progress = Progress(TextColumn("replay"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                                  console=self.console, transient=False)
        self._task = self._progress.add_task("files", total=total, stats="")

    def __enter__(self) -> ClusterView:
        if self.console.is_terminal:
            self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.console.is_terminal:
            self._progress.stop()

    def part(self, done: PartDone) -> None:
        self.done += 1
        self.skipped += done.skipped
        self.records += done.records
        self.articles += done.articles
        self.errors += done.failed + len(done.damages)
        self._progress.update(self._task, completed=self.done, stats=self.stats())
        now = time.monotonic()
        due = now - self._last_line >= PLAIN_EVERY_S or self.done == self.total
        if not self.console.is_terminal and due:
            self._last_line = now
            self.console.print(f"replay: {self.done}/{self.total} files, {self.stats()}", soft_wrap=True)

    def stats(self) -> str:
        seconds = max(time.monotonic() - self._started, 1e-6)
        skipped = f" ({self.skipped} done before)" if self.skipped else ""
        return (f"{self.records} records, {self.articles} articles, {self.errors} errors, "
                f"{(self.done - self.skipped) / seconds:.1f} files/s, "
                f"{self.records / seconds:.0f} records/s{skipped}")

    def damage(self, message: str) -> None:
        self.console.print(message, markup=False, soft_wrap=True)


def _quiet_dask() -> None:
    """A LocalCluster's scheduler and nannies log every start and stop at INFO (distributed's
    own logging config, applied on import, sets a level on each of its loggers)."""
    import distributed  # noqa: F401

    for name in list(logging.root.manager.loggerDict):
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.WARNING)


def run(args: argparse.Namespace, options: ReplayOptions, stream: TextIO) -> int:
    """``crawler replay PATHS --cluster ADDRESS -o DIR``: exit 0, or 7 when a record was damaged."""
    if args.output == "-":
        raise errors.ConfigError("--cluster writes one shard per WARC file: pass -o DIR (a directory)")
    if args.format not in FORMATS:
        raise errors.ConfigError(f"--format {args.format}: choose one of {', '.join(FORMATS)}")
    total = len(expand_inputs(args.paths))
    if not args.verbose:
        _quiet_dask()
    with connect(args.cluster) as client, ClusterView(stream, total) as view:
        report = replay_on_cluster(args.paths, args.output, options, client=client, fmt=args.format,
                                   force=args.force, on_part=view.part, on_damage=view.damage)
    note = f"; {report.parts_skipped} files done by an earlier run" if report.parts_skipped else ""
    written = f"{report.shards_written} shards written to {args.output}"
    print(f"{report.summary.describe()}; {written}{note}", file=stream)
    return errors.EXIT_ARCHIVE if report.summary.damaged else errors.EXIT_OK
