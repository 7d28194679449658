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
(``health-history.json``): each ``record`` stores the per-site tallies and how far into
``articles.jsonl`` it read, so the next report covers only what came after ("this run").
``crawler sites --health [ARCHIVE]`` renders it (``--json`` for monitoring); a crawl can call
``record_run`` at its end and ``summary_lines`` for its summary.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

HISTORY_NAME = "health-history.json"
ARTICLES_NAME = "articles.jsonl"
MIN_RULE_SHARE = 0.8
MAX_DROP = 0.2
HISTORY_RUNS = 10
EXTRACTION_FAILURES = frozenset({"extract_empty", "document_too_large", "site_hook"})


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


@dataclass(frozen=True)
class Warning:
    site: str
    message: str


@dataclass(frozen=True)
class Report:
    archive: str
    run: dict[str, SiteHealth]
    history: list[dict[str, float]]  # per earlier run: site -> rule share
    warnings: list[Warning]

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.archive,
            "sites": {
                site: {
                    "articles": health.total,
                    "rule_share": round(health.rule_share, 4),
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


def tally(lines: Iterable[str], failures: Iterable[str] = ()) -> dict[str, SiteHealth]:
    """Per site, from article JSON lines (in file order) and the sites of failed article URLs."""
    found: dict[str, SiteHealth] = {}
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn last line: the crawl moves it aside at its next start
        site = str(record.get("site") or "generic")
        built = record.get("built_by") or {}
        rules = str(built.get("rules") or record.get("extractor") or "generic")
        health = found.setdefault(site, SiteHealth(site))
        if "body" in (built.get("fallbacks") or ()) and _is_rule(rules):
            health.stopped = rules  # the generation matched, but its body selectors found nothing
            rules = f"{site}/generic"
        health.by_rules[rules] = health.by_rules.get(rules, 0) + 1
        if _is_rule(rules):
            health.last_rules = rules
        elif health.last_rules is not None and site != "generic":
            health.stopped = health.last_rules
    for site in failures:
        health = found.setdefault(site, SiteHealth(site))
        health.failed += 1
        if health.last_rules is not None:
            health.stopped = health.stopped or health.last_rules
    return found


def check(run: dict[str, SiteHealth], history: Sequence[dict[str, float]]) -> list[Warning]:
    """Warnings for sites whose rules built too small a share of this run's articles."""
    warnings = []
    for site, health in sorted(run.items()):
        if site == "generic" or not health.total:
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


def _failed_article_sites(archive: Path) -> list[str]:
    """Sites of article URLs whose extraction failed (read-only; no lock needed)."""
    from crawler.frontier import database_path

    path = database_path(archive)
    if not path.exists():
        return []
    marks = ", ".join("?" for _ in EXTRACTION_FAILURES)
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            rows = connection.execute(
                f"SELECT site FROM urls WHERE status = 'failed' AND reason IN ({marks}) "
                "AND kind IN ('article', 'continuation')",
                tuple(sorted(EXTRACTION_FAILURES)),
            ).fetchall()
    except sqlite3.Error as exc:
        log.warning("%s: frontier not readable for the health report (%s)", path, exc)
        return []
    return [str(site) for (site,) in rows]


def report(archive: str | Path) -> Report:
    """This run (articles after the last recorded run) against the recorded runs."""
    root = Path(archive)
    history = _load_history(root)
    lines, _ = _read_since(root, int(history.get("offset", 0)))
    failures = _failed_article_sites(root)
    failed_before = history.get("failed", {})
    new_failures = _new_failures(failures, failed_before)
    run = tally(lines, new_failures)
    runs = [dict(one["shares"]) for one in history.get("runs", [])]
    return Report(str(root), run, runs, check(run, runs))


def _new_failures(failures: list[str], before: dict[str, int]) -> list[str]:
    counts: dict[str, int] = {}
    for site in failures:
        counts[site] = counts.get(site, 0) + 1
    return [site for site, n in counts.items() for _ in range(max(0, n - int(before.get(site, 0))))]


def record_run(archive: str | Path) -> Report:
    """Report this run, then remember it: the next report starts after it."""
    root = Path(archive)
    found = report(root)
    history = _load_history(root)
    _, offset = _read_since(root, int(history.get("offset", 0)))
    failed: dict[str, int] = {}
    for site in _failed_article_sites(root):
        failed[site] = failed.get(site, 0) + 1
    if found.run:
        shares = {site: health.rule_share for site, health in found.run.items() if health.total}
        history.setdefault("runs", []).append({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                                               "shares": shares})
        history["runs"] = history["runs"][-HISTORY_RUNS:]
    history["offset"] = offset
    history["failed"] = failed
    path = _history_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(history, indent=1), "utf-8")
    os.replace(temporary, path)
    return found


def summary_lines(found: Report) -> list[str]:
    """Lines for a crawl summary: one per site and rules label of this run, then the warnings."""
    lines = []
    for site, health in sorted(found.run.items()):
        parts = ", ".join(f"{label} {n}" for label, n in sorted(health.by_rules.items()))
        failed = f", failed {health.failed}" if health.failed else ""
        lines.append(f"{site}: rules {health.rule_share:.0%} ({parts}{failed})")
    lines.extend(f"WARNING {w.message}" for w in found.warnings)
    return lines


def render(archive: str | Path, *, as_json: bool = False, record: bool = False) -> str:
    """The text (or JSON) ``crawler sites --health`` prints."""
    root = Path(archive)
    if not (root / ARTICLES_NAME).exists() and not _history_path(root).exists():
        from crawler.errors import InputError

        raise InputError(f"{root}: no {ARTICLES_NAME} here; pass the archive directory of a crawl")
    found = record_run(root) if record else report(root)
    if as_json:
        return json.dumps(found.to_json(), indent=2, ensure_ascii=False)
    rows = [("site", "rules", "articles", "by rules", "generic", "failed", "earlier runs")]
    for site, health in sorted(found.run.items()):
        earlier = " ".join(f"{run[site]:.0%}" for run in found.history if site in run) or "-"
        labels = ", ".join(f"{label} {n}" for label, n in sorted(health.by_rules.items()) if _is_rule(label))
        rows.append((site, f"{health.rule_share:.0%}", str(health.total), labels or "-",
                     str(health.generic_built), str(health.failed), earlier))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in rows]
    lines.extend(f"WARNING {w.message}" for w in found.warnings)
    return "\n".join(lines)
