"""``crawler verify``: check WARC files more strictly than ``warcio check``.

Per file: every gzip member ends properly (end marker and CRC), every record's block is as
long as its ``Content-Length``, every block and payload digest is recomputed and compared,
bytes after the last record are reported as trailing garbage, and a whole-file gzip gets the
``warcio recompress`` hint. Blocks of any size are checked, streaming, in bounded memory; ARC
files are read too; a 0-byte file is not OK. Each problem names the file, the offset and the
record id.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from crawler.errors import ArchiveError
from crawler.warc.reader import Damage, iter_records

__all__ = ["VerifyReport", "verify_file"]


@dataclass
class VerifyReport:
    """What ``verify_file`` found in one file."""

    path: Path
    records: int = 0
    types: Counter[str] = field(default_factory=Counter)
    problems: list[Damage] = field(default_factory=list)
    first_type: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """Human-readable lines: one summary, then one per problem."""
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.types.items()))
        if self.ok:
            return [f"{self.path}: OK ({self.records} records: {kinds or 'none'})"]
        count = len(self.problems)
        head = f"{self.path}: BAD ({count} problems; {self.records} good records: {kinds or 'none'})"
        return [head] + [f"  {_describe(problem)}" for problem in self.problems]


def _describe(problem: Damage) -> str:
    text = str(problem.error)
    if problem.record_id and problem.record_id not in text:
        text += f" [record {problem.record_id}]"
    return text


def verify_file(path: str | os.PathLike[str]) -> VerifyReport:
    """Read every record of ``path`` and collect every problem (never raises for damage)."""
    report = VerifyReport(Path(path))
    try:
        for record in iter_records(path, on_damage=report.problems.append):
            report.records += 1
            report.types[record.rec_type or "(no type)"] += 1
            if report.first_type is None:
                report.first_type = record.rec_type
    except OSError as exc:
        from crawler.errors import InputError

        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ArchiveError as exc:  # pragma: no cover - on_damage is given, so nothing is raised
        report.problems.append(Damage(Path(path).name, -1, exc))
    return report
