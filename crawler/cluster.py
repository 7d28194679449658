"""Replay on a Dask cluster: one idempotent shard per WARC file, then one cross-file step.

The work is the one-machine replay's (``crawler.replay``), split in three phases of Dask tasks,
each writing its own files under ``-o DIR`` (layout: ``crawler.shards``) so that a task run
twice (Dask recomputes what a dead worker held) writes the same bytes, and a rerun skips
what exists:

1. one task per WARC file: ``replay_file_indexed``, the file's articles to ``parts/<name>.part``
   and its small side output (article keys, consumed captures, pending continuations and
   revisits, the capture index) to ``parts/<name>.side.json``;
2. one task: the side outputs only, ``resolve_pending`` for articles that need other files
   (reading just those pages), ``kept_articles`` for the order and de-duplication of the whole
   job; a plan per part (rows dropped, articles added) and ``merge.json``;
3. one task per WARC file: the part and its plan → ``shards/<name>.jsonl`` or ``.parquet``.

The shards together hold exactly the one-machine replay's records (each shard in its order).
``--cluster local:N`` starts a ``LocalCluster`` of N single-threaded worker processes for the
command; ``--cluster tcp://HOST:8786`` uses a running ``dask scheduler`` (the workers must
see the WARC files and ``DIR`` at the same paths, and have the crawler installed).
"""

from __future__ import annotations

import contextlib
import gzip
import heapq
import json
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crawler.atomic import remove_temporaries
from crawler.errors import ArchiveError, ConfigError, InputError
from crawler.faults import FaultInjector
from crawler.replay import (
    FileIndex,
    FileResult,
    Key,
    Pending,
    ReplayOptions,
    ReplaySummary,
    kept_articles,
    merge_indexes,
    replay_file_indexed,
    resolve_pending,
    taken_positions,
)
from crawler.shards import (
    Layout,
    Plan,
    Side,
    check_manifest,
    manifest_data,
    part_bytes,
    read_part,
    shard_bytes,
    shard_lines,
    write_atomic,
)
from crawler.warc.naming import warc_paths
from crawler.warc.pages import OriginIndex

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["ClusterReport", "expand_inputs", "replay_on_cluster"]

log = logging.getLogger(__name__)

LIST_SUFFIXES = (".paths", ".paths.gz", ".txt")


# ---------------------------------------------------------------------- inputs


def expand_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """WARC files, directories of them and list files (``*.paths[.gz]``, ``*.txt``: one path a
    line, relative to the list's directory, as Common Crawl's ``warc.paths``) → absolute paths."""
    named: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.name.endswith(LIST_SUFFIXES):
            named.extend(_listed(path))
        else:
            named.append(path)
    return [os.path.abspath(path) for path in warc_paths(named)]


def _listed(listing: Path) -> list[Path]:
    opener = gzip.open if listing.name.endswith(".gz") else open
    try:
        with opener(listing, "rt", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{listing}: cannot read the list of WARC files: {exc}") from exc
    found = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        path = Path(text) if Path(text).is_absolute() else listing.parent / text
        if not path.exists():
            raise InputError(f"{listing}:{number}: {text}: no such file (relative paths are read from "
                             f"{listing.parent}); fetch the file or fix the list")
        found.append(path)
    return found


# ---------------------------------------------------------------------- phase 1 (one task per file)


@dataclass(frozen=True)
class PartTask:
    index: int
    path: str
    part: str
    side: str
    options: ReplayOptions


@dataclass(frozen=True)
class PartDone:
    """What a phase-1 task returns to the driver (small)."""

    index: int
    records: int
    articles: int
    failed: int
    damages: tuple[str, ...]
    skipped: bool


@lru_cache(maxsize=1)
def _faults() -> FaultInjector:
    return FaultInjector.from_env()  # one per worker process: counts visits across its tasks


def replay_part(task: PartTask) -> PartDone:
    """Replay one WARC file into its part and side output (skipped when the side output exists)."""
    side_path = Path(task.side)
    if side_path.exists():
        return _part_done(Side.from_bytes(side_path.read_bytes()), skipped=True)
    result, index = _replay_one(task)
    write_atomic(Path(task.part), part_bytes(result))
    _faults().hit("after_part_write")
    side = Side.of(result, index)
    write_atomic(side_path, side.to_bytes())  # last: the part is done
    return _part_done(side, skipped=False)


def _replay_one(task: PartTask) -> tuple[FileResult, FileIndex]:
    try:
        return replay_file_indexed((task.index, task.path, task.options))
    except (ArchiveError, InputError, OSError) as exc:  # a file that cannot be read at all
        if task.options.strict:
            raise
        message = str(exc) if task.path in str(exc) else f"{task.path}: {exc}"
        return FileResult(index=task.index, path=task.path, damages=[message]), (OriginIndex(), {})


def _part_done(side: Side, *, skipped: bool) -> PartDone:
    return PartDone(side.index, side.records, side.articles, sum(side.failed.values()), tuple(side.damages),
                    skipped)


# ---------------------------------------------------------------------- phase 2 (one task)


@dataclass(frozen=True)
class MergeTask:
    files: tuple[str, ...]
    sides: tuple[str, ...]
    plans: tuple[str, ...]
    merged: str
    options: ReplayOptions


def merge_parts(task: MergeTask) -> dict[str, Any]:
    """The cross-file step, from the side outputs: a plan per part, then ``merge.json`` (the
    job's counts and the damage found while completing articles from other files)."""
    merged = Path(task.merged)
    if merged.exists():
        loaded: dict[str, Any] = json.loads(merged.read_bytes())
        return loaded
    sides = [Side.from_bytes(Path(path).read_bytes()) for path in task.sides]
    summary = _counted(sides)
    consumed = [capture for side in sides for capture in side.consumed]
    pending: list[Pending] = [state for side in sides for state in side.pending]
    late = FileResult(index=-1, path="")
    if pending:
        index = merge_indexes((side.origins, side.by_url) for side in sides)
        late = resolve_pending(pending, task.options, index)
        consumed.extend(late.consumed)
        summary.failed.update(late.failed)
        summary.damaged += len(late.damages)
    plans = _plans(sides, late.articles, taken_positions(task.files, consumed), summary)
    for file_index, plan in plans.items():
        write_atomic(Path(task.plans[file_index]), plan.to_bytes())
    result = {"summary": _summary_data(summary), "damages": late.damages}
    write_atomic(merged, (json.dumps(result, ensure_ascii=False) + "\n").encode("utf-8"))
    return result


def _counted(sides: Sequence[Side]) -> ReplaySummary:
    summary = ReplaySummary(files=len(sides))
    for side in sides:
        summary.records += side.records
        summary.captures += side.captures
        summary.unknown_types += side.unknown_types
        summary.damaged += len(side.damages)
        summary.failed.update(side.failed)
    return summary


Row = tuple[int, int, str]  # (file index, row in its part or -1, JSON line of an added article)


def _plans(sides: Sequence[Side], late: list[tuple[Key, str, str]], taken: set[tuple[int, int]],
           summary: ReplaySummary) -> dict[int, Plan]:
    """The one-machine replay's selection (``kept_articles`` over every key in order), as rows
    each part drops and articles each part gains (the file of the article's first page)."""
    def rows(side: Side) -> Iterator[tuple[Key, str, Row]]:
        return ((key, digest, (side.index, row, "")) for row, (key, digest) in enumerate(side.keys))

    added = sorted((key, digest, (key[1], -1, line)) for key, digest, line in late)
    kept: dict[int, set[int]] = {side.index: set() for side in sides}
    gained: dict[int, list[tuple[Key, str]]] = {}
    ordered = heapq.merge(*map(rows, sides), added)
    for key, _, (file_index, row, line) in kept_articles(ordered, taken, summary):
        if row >= 0:
            kept[file_index].add(row)
        else:
            gained.setdefault(file_index, []).append((key, line))
    plans = {}
    for side in sides:
        dropped = tuple(row for row in range(len(side.keys)) if row not in kept[side.index])
        if dropped or side.index in gained:
            plans[side.index] = Plan(dropped, tuple(gained.get(side.index, ())))
    return plans


def _summary_data(summary: ReplaySummary) -> dict[str, Any]:
    return {"files": summary.files, "records": summary.records, "captures": summary.captures,
            "articles": summary.articles, "duplicates": summary.duplicates, "damaged": summary.damaged,
            "unknown_types": summary.unknown_types, "failed": dict(sorted(summary.failed.items()))}


def _summary_of(data: dict[str, Any]) -> ReplaySummary:
    values = dict(data)
    values["failed"] = Counter(values["failed"])
    return ReplaySummary(**values)


# ---------------------------------------------------------------------- phase 3 (one task per file)


@dataclass(frozen=True)
class ShardTask:
    part: str
    plan: str
    shard: str
    fmt: str


def finish_shard(task: ShardTask) -> bool:
    """The shard of one file from its part and plan; False when it existed already."""
    shard = Path(task.shard)
    if shard.exists():
        return False
    plan_path = Path(task.plan)
    plan = Plan.from_bytes(plan_path.read_bytes()) if plan_path.exists() else Plan()
    lines = shard_lines(read_part(Path(task.part)), plan)
    write_atomic(shard, shard_bytes(lines, task.fmt))
    return True


# ---------------------------------------------------------------------- the driver


@dataclass
class ClusterReport:
    """What the driver tells the CLI as the job goes (``on_part``) and at its end."""

    summary: ReplaySummary = field(default_factory=ReplaySummary)
    parts_skipped: int = 0
    shards_written: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each phase, as the driver saw it


@contextlib.contextmanager
def connect(address: str) -> Iterator[Client]:
    """A client of the scheduler at ``address``, or of a LocalCluster for ``local:N``."""
    from distributed import Client

    if address.startswith("local:"):
        count = _local_workers(address)
        local = local_cluster(count)
        with local, Client(local) as client:
            yield client
        return
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"--cluster {address}: no Dask scheduler answered ({exc}); start one with `dask "
                          "scheduler` (and workers with `dask worker ADDRESS`), or use local:N") from exc
    with client:
        yield client


QUIET_DASK = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


def local_cluster(workers: int) -> Any:
    """A LocalCluster of ``workers`` single-threaded processes on loopback, no dashboard; its
    HTTP endpoints (health, metrics) on a free port, not on 8787 that another cluster may hold.

    Measured here, and set for the cluster's processes (``QUIET_DASK``): the workers' sampling
    profiler (the task's stack every 10 ms) cost 40 % more CPU per replayed file, and the
    20 ms event-loop tick, 100 ms memory monitor and 500 ms system monitor cost an idle
    worker 1.7 % and the scheduler with its nannies 4 % of a core (0.3 % and 0.8 % with the
    intervals below)."""
    import dask
    from distributed import LocalCluster

    with dask.config.set(QUIET_DASK):  # read by the scheduler and nannies at start, handed to the workers
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                            dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})


def _local_workers(address: str) -> int:
    text = address.removeprefix("local:")
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--cluster {address}: local:N needs N, the number of worker processes (1 or more)")
    return int(text)


def replay_on_cluster(
    paths: Iterable[str | os.PathLike[str]],
    root: str | os.PathLike[str],
    options: ReplayOptions,
    *,
    client: Client,
    fmt: str = "jsonl",
    force: bool = False,
    on_part: Callable[[PartDone], None] | None = None,
    on_damage: Callable[[str], None] | None = None,
) -> ClusterReport:
    """Replay ``paths`` on ``client``'s cluster into shards under ``root``; see the module docstring."""
    from distributed import as_completed

    files = expand_inputs(paths)
    if options.config_path:  # workers may run in another directory
        options = replace(options, config_path=os.path.abspath(options.config_path))
    layout = Layout.for_inputs(Path(root), files, fmt)
    check_manifest(layout, manifest_data(layout, files, options), force=force)
    report = ClusterReport()
    started = time.perf_counter()
    say = on_damage or (lambda message: log.warning("%s", message))
    parts = [PartTask(i, path, str(layout.part(i)), str(layout.side(i)), options)
             for i, path in enumerate(files)]
    job = uuid.uuid4().hex[:12]  # task keys unique to this run: a shared cluster may hold another's
    futures = client.map(replay_part, parts, key=[f"replay-part-{job}-{name}" for name in layout.names],
                         pure=False)
    for future in as_completed(futures):
        done: PartDone = future.result()
        report.parts_skipped += done.skipped
        for message in done.damages:
            say(message)
        if on_part is not None:
            on_part(done)
    report.seconds["files"] = time.perf_counter() - started
    plans = tuple(str(layout.plan(i)) for i in range(len(files)))
    merge = MergeTask(tuple(files), tuple(p.side for p in parts), plans, str(layout.merged), options)
    merged = client.submit(merge_parts, merge, key=f"replay-merge-{job}", pure=False).result()
    for message in merged["damages"]:
        say(message)
    report.seconds["merge"] = time.perf_counter() - started - sum(report.seconds.values())
    shards = [ShardTask(p.part, str(layout.plan(p.index)), str(layout.shard(p.index)), fmt) for p in parts]
    written = client.map(finish_shard, shards, key=[f"replay-shard-{job}-{name}" for name in layout.names],
                         pure=False)
    report.shards_written = sum(bool(f.result()) for f in as_completed(written))
    remove_temporaries(layout.root)
    report.seconds["shards"] = time.perf_counter() - started - sum(report.seconds.values())
    report.summary = _summary_of(merged["summary"])
    return report
