"""Layout-drift alarm: which rules built an archive's articles, per site and generation.

Every article records the rules that built it (``Article.built_by``): ``<site>/<generation>``
when a layout generation of the site matched, ``<site>/generic`` when the site's rules found no
generation and the generic extractor read the page, ``generic`` for pages of no known site.
Article URLs the extraction failed on (frontier rows ``failed:extract_empty`` and the like)
count as failed. A portal that changed its template shows as a falling share of articles built
by its rules: ``check`` warns when a site's rule share in this run is below
``MIN_RULE_SHARE`` or ``MAX_DROP`` below its own share in the recorded runs, and names the
generation that stopped matching (the last one that built an article before the fallback took
over).

Runs are told apart by a small history file in the archive's state directory
(``health-history.json``): each recorded run stores its per-site tallies and how far into
``articles.jsonl`` it read, so the next report covers only what came after. Every
``Crawl.run`` that ends with a summary records its run (``record_crawl``, under the archive
lock, in the process that holds it: once per crawl however many processes fetched), also
when it was interrupted, unless it built and failed no article; articles an earlier crawl left
unrecorded (it was killed) are recorded first as a run of their own (``ended`` "unrecorded").
``crawler sites --health [ARCHIVE]`` shows the articles written since the last recorded run
when there are any (``--record`` records them), else the last recorded run against the runs
before it; ``--json`` for monitoring.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from crawler.atomic import write_whole

if TYPE_CHECKING:
    from crawler.outcomes import SiteProgress

log = logging.getLogger(__name__)

HISTORY_NAME = "health-history.json"
ARTICLES_NAME = "articles.jsonl"
MIN_RULE_SHARE = 0.8
MAX_DROP = 0.2
HISTORY_RUNS = 10
EXTRACTION_FAILURES = frozenset({"extract_empty", "document_too_large", "site_hook"})
# Report.state: what ``Report.run`` holds
PENDING = "pending"  # articles written since the last recorded run, not recorded yet
RECORDED = "recorded"  # a recorded run (the one just recorded, or the last one)
EMPTY = "empty"  # nothing: no article since the last recorded run and no run recorded


@dataclass
class SiteHealth:
    """One site's tallies in one run: articles per rules label, and extraction failures."""

    site: str
    by_rules: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    last_rules: str | None = None  # the last generation that built an article, in file order
    stopped: str | None = None  # the generation last seen before the generic fallback took over

    @property
    def total(self) -> int:
        return sum(self.by_rules.values()) + self.failed

    @property
    def rule_built(self) -> int:
        return sum(n for label, n in self.by_rules.items() if _is_rule(label))

    @property
    def generic_built(self) -> int:
        return sum(n for label, n in self.by_rules.items() if not _is_rule(label))

    @property
    def rule_share(self) -> float:
        return self.rule_built / self.total if self.total else 1.0

    def share(self, count: int) -> float:
        return count / self.total if self.total else 0.0

    def to_history(self) -> dict[str, Any]:
        return {"by_rules": self.by_rules, "failed": self.failed, "last_rules": self.last_rules,
                "stopped": self.stopped}

    @classmethod
    def from_history(cls, site: str, data: Mapping[str, Any]) -> SiteHealth:
        return cls(site, {str(k): int(v) for k, v in dict(data.get("by_rules") or {}).items()},
                   int(data.get("failed") or 0), data.get("last_rules"), data.get("stopped"))


@dataclass(frozen=True)
class Warning:
    site: str
    message: str


@dataclass(frozen=True)
class Report:
    """``run``: per site, the run this report is about (``state`` says which: ``PENDING``,
    ``RECORDED`` or ``EMPTY``); ``history``: the rule shares of the recorded runs before it."""

    archive: str
    run: dict[str, SiteHealth]
    history: list[dict[str, float]]  # per earlier run: site -> rule share
    warnings: list[Warning]
    state: str = PENDING
    at: str | None = None  # when a recorded run was recorded (ISO 8601 UTC)
    ended: str | None = None  # how a recorded run ended: complete, max_pages, interrupted, ...

    def describe(self) -> str:
        """One line: which run this is, and how many recorded runs it is compared with."""
        earlier = f"{len(self.history)} earlier run{'s' if len(self.history) != 1 else ''}"
        articles = sum(health.total for health in self.run.values())
        if self.state == EMPTY:
            return "no run recorded yet and no article since"
        if self.state == RECORDED:
            return f"last recorded run: {self.at} ({self.ended}), {articles} articles; {earlier}"
        return (f"not recorded yet: {articles} articles since the last recorded run; {earlier} "
                "(crawler sites --health --record records them)")

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "run": {"state": self.state, "at": self.at, "ended": self.ended},
            "sites": {
                site: {
                    "articles": health.total,
                    "rule_share": round(health.rule_share, 4),
                    "generic_share": round(health.share(health.generic_built), 4),
                    "failed_share": round(health.share(health.failed), 4),
                    "by_rules": health.by_rules,
                    "generic": health.generic_built,
                    "failed": health.failed,
                    "history": [round(run[site], 4) for run in self.history if site in run],
                    "stopped_matching": health.stopped,
                }
                for site, health in sorted(self.run.items())
            },
            "warnings": [asdict(w) for w in self.warnings],
        }


def _is_rule(label: str) -> bool:
    return "/" in label and not label.endswith("/generic")


def tally(lines: Iterable[str], failures: Iterable[str] = (),
          last_rules: Mapping[str, str] | None = None) -> dict[str, SiteHealth]:
    """Per site, from article JSON lines (in file order) and the sites of failed article URLs.
    ``last_rules``: per site, the generation that built its last article in earlier runs (so a
    run whose every article fell back still names the generation that stopped matching)."""
    earlier = dict(last_rules or {})
    found: dict[str, SiteHealth] = {}

    def site_health(site: str) -> SiteHealth:
        if site not in found:
            found[site] = SiteHealth(site, last_rules=earlier.get(site))
        return found[site]

    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line: the crawl moves it aside at its next start
        site = str(record.get("site") or "generic")
        built = record.get("built_by") or {}
        rules = str(built.get("rules") or record.get("extractor") or "generic")
        health = site_health(site)
        if "body" in (built.get("fallbacks") or ()) and _is_rule(rules):
            health.stopped = rules  # the generation matched, but its body selectors found nothing
            rules = f"{site}/generic"
        health.by_rules[rules] = health.by_rules.get(rules, 0) + 1
        if _is_rule(rules):
            health.last_rules = rules
        elif health.last_rules is not None and site != "generic":
            health.stopped = health.last_rules
    for site in failures:
        health = site_health(site)
        health.failed += 1
        if health.last_rules is not None:
            health.stopped = health.stopped or health.last_rules
    return {site: health for site, health in found.items() if health.total}


def check(run: dict[str, SiteHealth], history: Sequence[dict[str, float]],
          ruled: Collection[str] | None = None) -> list[Warning]:
    """Warnings for sites whose rules built too small a share of this run's articles.
    ``ruled``: the sites that have layout generations (from the config), when known; a site
    without any has no template to drift from, so its generic share is shown, never warned."""
    warnings = []
    for site, health in sorted(run.items()):
        if site == "generic" or not health.total or (ruled is not None and site not in ruled):
            continue
        share = health.rule_share
        past = [one[site] for one in history if site in one]
        usual = sum(past) / len(past) if past else None
        low = share < MIN_RULE_SHARE
        dropped = usual is not None and share < usual - MAX_DROP
        if not (low or dropped):
            continue
        why = f"rules built {share:.0%} of {health.total} articles"
        why += f" (usually {usual:.0%})" if usual is not None else ""
        why += f", generic fallback {health.generic_built}, failed {health.failed}"
        stopped = health.stopped or health.last_rules
        if stopped:
            why += f"; generation {stopped} stopped matching"
        warnings.append(Warning(site, f"{site}: {why}: the portal may have changed its template; "
                                      f"add a generation to crawler/sites/{site}.yaml"))
    return warnings


# ---------------------------------------------------------------- the archive


def _history_path(archive: Path) -> Path:
    from crawler.frontier import state_dir

    return state_dir(archive) / HISTORY_NAME


def _load_history(archive: Path) -> dict[str, Any]:
    path = _history_path(archive)
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {"offset": 0, "runs": []}
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable health history (%s); starting a new one", path, exc)
        return {"offset": 0, "runs": []}
    return data


def _save_history(archive: Path, history: dict[str, Any]) -> None:
    path = _history_path(archive)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_whole(path, json.dumps(history, indent=1).encode("utf-8"))  # a full disk: the last stays whole


def _read_since(archive: Path, offset: int) -> tuple[list[str], int]:
    path = archive / ARTICLES_NAME
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if offset > size:
                offset = 0  # the file was replaced: read it whole
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return [], 0
    complete = data[: data.rfind(b"\n") + 1]
    lines = complete.decode("utf-8", "replace").splitlines()
    return lines, offset + len(complete)


def _failed_article_sites(archive: Path) -> Counter[str]:
    """Per site, article URLs whose extraction failed, in the SQLite frontier (read-only; no
    lock needed). Empty for an archive crawled on a Redis frontier."""
    from crawler.frontier import database_path

    path = database_path(archive)
    if not path.exists():
        return Counter()
    marks = ", ".join("?" for _ in EXTRACTION_FAILURES)
    try:
        # closed here, before the crawl's own connection: the last one to close checkpoints
        # the WAL, which a read-only connection cannot do
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            rows = connection.execute(
                f"SELECT site FROM urls WHERE status = 'failed' AND reason IN ({marks}) "
                "AND kind IN ('article', 'continuation')",
                tuple(sorted(EXTRACTION_FAILURES)),
            ).fetchall()
    except sqlite3.Error as exc:
        log.warning("%s: frontier not readable for the health report (%s)", path, exc)
        return Counter()
    return Counter(str(site) for (site,) in rows)


def _new_failures(now: Mapping[str, int], before: Mapping[str, int]) -> Counter[str]:
    return Counter({site: n - int(before.get(site, 0)) for site, n in now.items()
                    if n > int(before.get(site, 0))})


def _ruled(history: Mapping[str, Any]) -> frozenset[str] | None:
    """The sites with layout generations, as the last recording crawl's config said."""
    ruled = history.get("ruled")
    return frozenset(str(site) for site in ruled) if isinstance(ruled, list) else None


def _shares(history: Mapping[str, Any]) -> list[dict[str, float]]:
    return [dict(one["shares"]) for one in history.get("runs", [])]


def report(archive: str | Path, *, ruled: Collection[str] | None = None) -> Report:
    """The articles written since the last recorded run against the recorded runs; when there
    are none, the last recorded run against the runs before it. ``ruled``: see ``check``."""
    root = Path(archive)
    history = _load_history(root)
    ruled = _ruled(history) if ruled is None else ruled
    lines, _ = _read_since(root, int(history.get("offset", 0)))
    failures = _new_failures(_failed_article_sites(root), history.get("failed", {}))
    run = tally(lines, failures.elements(), history.get("last_rules"))
    runs = _shares(history)
    if run:
        return Report(str(root), run, runs, check(run, runs, ruled))
    recorded = history.get("runs", [])
    if recorded and "sites" in recorded[-1]:
        return _recorded(root, recorded[-1], runs[:-1], ruled)
    return Report(str(root), {}, runs, [], state=EMPTY)


def _recorded(root: Path, entry: Mapping[str, Any], before: list[dict[str, float]],
              ruled: Collection[str] | None) -> Report:
    run = {site: SiteHealth.from_history(site, data) for site, data in entry["sites"].items()}
    return Report(str(root), run, before, check(run, before, ruled), state=RECORDED, at=entry.get("at"),
                  ended=entry.get("ended"))


def record_run(archive: str | Path, *, failures: Mapping[str, int] | None = None,
               written: int | None = None, ended: str = "recorded",
               ruled: Collection[str] | None = None) -> Report:
    """Record the articles written since the last recorded run as a run, and report it against
    the runs before it. Call it holding the archive lock (``crawler.frontier.ArchiveLock``).

    ``failures``: per site, this run's article URLs whose extraction failed (default: the
    frontier's failures since the last record). ``written``: how many of the lines are this
    run's (the last ones); lines before them, left by a crawl that never recorded (killed), are
    recorded first as a run of their own. A run without articles or failures is not recorded:
    the report then says ``EMPTY`` and the history is unchanged.
    """
    root = Path(archive)
    history = _load_history(root)
    if ruled is not None:
        history["ruled"] = sorted(ruled)  # remembered for ``sites --health``, which has no config
    ruled = _ruled(history)
    lines, offset = _read_since(root, int(history.get("offset", 0)))
    in_frontier = _failed_article_sites(root)
    new_failures = _new_failures(in_frontier, history.get("failed", {}))
    mine = Counter(failures) if failures is not None else new_failures
    if written is not None and len(lines) > written:
        earlier, lines = lines[: len(lines) - written], lines[len(lines) - written :]
        _append_run(history, tally(earlier, (new_failures - mine).elements(), history.get("last_rules")),
                    "unrecorded")
    run = tally(lines, mine.elements(), history.get("last_rules"))
    before = _shares(history)
    entry = _append_run(history, run, ended)
    history["offset"] = offset
    history["failed"] = dict(in_frontier)
    _save_history(root, history)
    if entry is None:
        return Report(str(root), {}, before, [], state=EMPTY)
    return _recorded(root, entry, before, ruled)


def _append_run(history: dict[str, Any], run: dict[str, SiteHealth], ended: str) -> dict[str, Any] | None:
    if not run:
        return None
    entry = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "ended": ended,
        "shares": {site: health.rule_share for site, health in run.items()},
        "sites": {site: health.to_history() for site, health in sorted(run.items())},
    }
    history["runs"] = [*history.get("runs", []), entry][-HISTORY_RUNS:]
    last = history.setdefault("last_rules", {})
    last.update({site: health.last_rules for site, health in run.items() if health.last_rules})
    return entry


class CrawlEnd(Protocol):
    """What ``record_crawl`` reads of a crawl's summary (``crawler.crawlrun.CrawlSummary``)."""

    @property
    def progress(self) -> Mapping[str, SiteProgress]: ...

    @property
    def articles_written(self) -> int: ...

    @property
    def interrupted(self) -> bool: ...

    @property
    def hit_max_pages(self) -> bool: ...


def record_crawl(archive: str | Path, summary: CrawlEnd,
                 ruled: Collection[str] | None = None) -> Report | None:
    """Record a crawl's run at its end (the process holding the archive lock calls it once);
    None, with a warning logged, when the archive's history cannot be read or written.
    ``ruled``: the crawl's sites that have layout generations (``check``)."""
    from crawler.outcomes import Group

    failures = {
        site: n for site, progress in summary.progress.items()
        if (n := sum(count for outcome, count in progress.outcomes.items()
                     if outcome.group is Group.FAILED and outcome.detail in EXTRACTION_FAILURES))
    }
    ended = "interrupted" if summary.interrupted else "max_pages" if summary.hit_max_pages else "complete"
    try:
        return record_run(archive, failures=failures, written=summary.articles_written, ended=ended,
                          ruled=ruled)
    except OSError as exc:
        log.warning("%s: the layout health of this run was not recorded: %s", archive, exc)
        return None


def summary_lines(found: Report) -> list[str]:
    """Lines for a crawl summary: per site, the shares by the site's rules (per generation), the
    generic fallback and failures, with the earlier runs' rule shares; then the warnings.
    Nothing when the run built and failed no article."""
    if not found.run:
        return []
    runs = len(found.history)
    against = f"compared with {runs} earlier run{'s' if runs != 1 else ''}" if runs else "no earlier run"
    lines = [f"layout health (articles built by the site's rules / generic fallback / failed; {against}):"]
    for site, health in sorted(found.run.items()):
        rules = ", ".join(f"{label} {n}" for label, n in sorted(health.by_rules.items()) if _is_rule(label))
        earlier = " ".join(f"{run[site]:.0%}" for run in found.history if site in run)
        lines.append(
            f"  {site}: rules {health.rule_share:.0%} ({rules or '-'}), "
            f"generic {health.share(health.generic_built):.0%} ({health.generic_built}), "
            f"failed {health.share(health.failed):.0%} ({health.failed}) of {health.total} articles"
            + (f"; earlier runs {earlier}" if earlier else "")
        )
    lines.extend(f"WARNING {w.message}" for w in found.warnings)
    return lines


def render(archive: str | Path, *, as_json: bool = False, record: bool = False) -> str:
    """The text (or JSON) ``crawler sites --health`` prints; ``record``: record the articles
    written since the last recorded run as a run first (refused while a crawl holds the
    archive: ``ArchiveLocked``)."""
    root = Path(archive)
    if not (root / ARTICLES_NAME).exists() and not _history_path(root).exists():
        from crawler.errors import InputError

        raise InputError(f"{root}: no {ARTICLES_NAME} here; pass the archive directory of a crawl")
    if record:
        from crawler.frontier import ArchiveLock

        with ArchiveLock(root):
            recorded = record_run(root)
        found = recorded if recorded.run else report(root)
    else:
        found = report(root)
    if as_json:
        return json.dumps(found.to_json(), indent=2, ensure_ascii=False)
    rows = [("site", "rules", "articles", "by rules", "generic", "failed", "earlier runs")]
    for site, health in sorted(found.run.items()):
        earlier = " ".join(f"{run[site]:.0%}" for run in found.history if site in run) or "-"
        labels = ", ".join(f"{label} {n}" for label, n in sorted(health.by_rules.items()) if _is_rule(label))
        rows.append((site, f"{health.rule_share:.0%}", str(health.total), labels or "-",
                     str(health.generic_built), str(health.failed), earlier))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [found.describe()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    lines.extend(f"WARNING {w.message}" for w in found.warnings)
    return "\n".join(lines)
