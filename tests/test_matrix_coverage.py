"""Every row of the fault matrix (shared/RELIABILITY.md, groups A-J) has a test named by its id.

The row ids are listed here, not read from ``../shared`` (a clean clone has no such
directory). A test covers a row when its function name starts ``test_<ID>_``, or carries the
id among several leading ids (``test_H1_H2_...``). A row that cannot apply is listed in
``NOT_APPLICABLE`` with the reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent

ROWS: dict[str, int] = {  # group letter → number of rows
    "A": 13, "B": 9, "C": 9, "D": 9, "E": 7, "F": 9, "G": 5, "H": 13, "I": 7, "J": 2,
}
ROW_IDS = [f"{group}{number}" for group, count in ROWS.items() for number in range(1, count + 1)]

NOT_APPLICABLE: dict[str, str] = {}  # row id → why no test can apply; every row applies today

_LEADING_IDS = re.compile(r"^test_((?:[A-J]\d{1,2}_)+)")


def _test_names() -> dict[str, list[str]]:
    """Row id → ``file::test`` names of the test functions that carry it."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                match = _LEADING_IDS.match(node.name)
                if match:
                    for row in match.group(1).rstrip("_").split("_"):
                        found.setdefault(row, []).append(f"{path.name}::{node.name}")
    return found


def test_every_row_has_a_test_named_by_its_id_or_a_reason() -> None:
    names = _test_names()
    missing = [row for row in ROW_IDS if row not in names and row not in NOT_APPLICABLE]
    assert missing == [], f"rows without a test_<ID>_ function: {missing}"


def test_not_applicable_rows_give_a_reason_and_no_stray_ids() -> None:
    assert all(row in ROW_IDS and len(reason) > 20 for row, reason in NOT_APPLICABLE.items())
    unknown = sorted(set(_test_names()) - set(ROW_IDS))
    assert unknown == [], f"tests named by ids that are not matrix rows: {unknown}"
