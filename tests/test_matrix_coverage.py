"""Every row of the fault matrix (``docs/fault-matrix.md``) has a test named by its id.

The rows are read from the matrix itself: a table line that starts ``| <ID> |``. A test covers a
row when its function name starts ``test_<ID>_``, or carries the id among several leading ids
(``test_H1_H2_...``). Tables with a **Tests** column (groups K onwards) also name their tests
there, as ``file::function``; each one named must exist and carry the row's id. A row whose
Tests cell reads ``pending (<engineer>)`` is being written: it may have no test yet, and must
name its tests as soon as one carries its id.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MATRIX = TESTS.parent / "docs" / "fault-matrix.md"

_ROW = re.compile(r"^\|\s*([A-Z]\d{1,2})\s*\|")
_LEADING_IDS = re.compile(r"^test_((?:[A-Z]\d{1,2}_)+)")
_NAMED_TEST = re.compile(r"([\w/.-]+\.py)::(\w+)")


@dataclass(frozen=True)
class Row:
    id: str
    line: int
    tests_cell: str | None  # None: the row's table has no Tests column

    @property
    def pending(self) -> bool:
        return self.tests_cell is not None and self.tests_cell.startswith("pending")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows() -> list[Row]:
    rows: list[Row] = []
    has_tests_column = False
    for number, line in enumerate(MATRIX.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("| # |"):
            has_tests_column = _cells(line)[-1] == "Tests"
            continue
        match = _ROW.match(line)
        if match:
            tests_cell = _cells(line)[-1] if has_tests_column else None
            rows.append(Row(match.group(1), number, tests_cell))
    return rows


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


def test_the_matrix_has_its_groups_and_unique_rows() -> None:
    ids = [row.id for row in _rows()]
    assert len(ids) == len(set(ids)), f"duplicate rows in {MATRIX}"
    assert {"A1", "J2", "K1", "R2"} <= set(ids)


def test_every_row_has_a_test_named_by_its_id() -> None:
    names = _test_names()
    rows = _rows()
    missing = [f"{row.id} (line {row.line})" for row in rows if row.id not in names and not row.pending]
    assert missing == [], f"rows of {MATRIX.name} without a test_<ID>_ function: {missing}"


def test_pending_rows_name_their_tests_once_written() -> None:
    names = _test_names()
    written = [row.id for row in _rows() if row.pending and row.id in names]
    assert written == [], f"rows marked pending that have tests (name them in the Tests cell): {written}"


def test_tests_named_in_the_matrix_exist_and_carry_the_row_id() -> None:
    names = _test_names()
    wrong: list[str] = []
    for row in _rows():
        if row.tests_cell is None or row.pending:
            continue
        named = [f"{Path(file).name}::{function}" for file, function in _NAMED_TEST.findall(row.tests_cell)]
        if not named:
            wrong.append(f"{row.id}: the Tests cell names no file::function")
        wrong += [f"{row.id}: {name}" for name in named if name not in names.get(row.id, [])]
    assert wrong == [], f"tests named in {MATRIX.name} that do not exist or lack the row id: {wrong}"


def test_no_test_is_named_by_an_id_that_is_not_a_row() -> None:
    unknown = sorted(set(_test_names()) - {row.id for row in _rows()})
    assert unknown == [], f"tests named by ids that are not matrix rows: {unknown}"
