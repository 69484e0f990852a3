"""README's table of deviations from Plexus is parity/deviations.py, row for row.

Each row of the table "Where this worker differs from the real Plexus 1.50.1 engine" names its
harness cases in backticks (or "none"); each declared deviation names its row. The two must
give the same cases for the same rows, so a deviation cannot be declared without its reason
in the README, nor a README row claim cases the harness does not hold it to.
"""

from __future__ import annotations

import re
from pathlib import Path

from parity.deviations import DEVIATIONS

README = Path(__file__).resolve().parents[2] / "README.md"
HEADING = "**Where this worker differs from the real Plexus 1.50.1 engine**"


def readme_rows() -> dict[str, tuple[str, set[str]]]:
    text = README.read_text(encoding="utf-8")
    start = text.index(HEADING)
    rows: dict[str, tuple[str, set[str]]] = {}
    in_table = False
    for line in text[start:].splitlines():
        if line.startswith("| behaviour | harness cases |"):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        if set(cells[0]) <= {"-", " "}:
            continue
        cases = set(re.findall(r"`([a-z0-9_]+)`", cells[1]))
        rows[cells[0]] = (cells[1], cases)
    return rows


def declared_rows() -> dict[str, set[str]]:
    rows: dict[str, set[str]] = {}
    for case_id, deviation in DEVIATIONS.items():
        rows.setdefault(deviation["row"], set()).add(case_id)
    return rows


def test_readme_table_lists_each_declared_deviation() -> None:
    table = readme_rows()
    assert table, "README's deviation table was not found"
    with_cases = {row: cases for row, (_, cases) in table.items() if cases}
    assert with_cases == declared_rows()


def test_rows_without_cases_say_none() -> None:
    for row, (cell, cases) in readme_rows().items():
        assert cases or cell == "none", f"{row}: name its harness cases or say none"
