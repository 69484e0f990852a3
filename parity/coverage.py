"""Which branches of the real engine the cases reach (`python -m parity refresh --coverage REPORT`).

The real engine runs under coverage.py with branch coverage; this reads coverage's JSON and
reports, per file, the branches reached and missed:

- `plexus/scores/LangGraphScore.py`, `plexus/scores/TactusScore.py` and each node class of
  `plexus/scores/nodes/` (Plexus's own tests in that folder left out): the whole file;
- `plexus/scores/Score.py` and `plexus/Scorecard.py`: only the functions a score's run goes
  through, that is those the cases execute at all (the rest is training, data, reports and
  the API's loaders, which no score configuration reaches).

The report (JSON) lists every missed branch as `from->to` line pairs, so the README's list of
branches left out can be checked against it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

COVERAGE_INCLUDE = ("plexus/scores/*", "plexus/Scorecard.py")
WHOLE_FILES = ("plexus/scores/LangGraphScore.py", "plexus/scores/TactusScore.py")
NODES = "plexus/scores/nodes/"
RUN_PATH_FILES = ("plexus/scores/Score.py", "plexus/Scorecard.py")


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "__init__.py"


def _pairs(branches: list[list[int]]) -> list[str]:
    return [f"{a}->{b}" for a, b in branches]


def _file_entry(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "branches": data["summary"]["num_branches"],
        "reached": data["summary"]["covered_branches"],
        "missed": _pairs(data.get("missing_branches", [])),
    }


def _run_path_entry(data: dict[str, Any]) -> dict[str, Any]:
    """Branches of the functions the cases executed (a function never entered is not on a
    score's run path)."""
    total = reached = 0
    missed: list[str] = []
    functions = []
    for name, fn in (data.get("functions") or {}).items():
        if not name or not fn["summary"]["covered_lines"]:
            continue
        functions.append(name)
        total += fn["summary"]["num_branches"]
        reached += fn["summary"]["covered_branches"]
        missed += _pairs(fn.get("missing_branches", []))
    return {"branches": total, "reached": reached, "missed": missed, "functions": functions}


def summarize(raw: dict[str, Any], checkout: Path) -> dict[str, dict[str, Any]]:
    """Per file (relative to the checkout): branches, reached, missed."""
    out: dict[str, dict[str, Any]] = {}
    for path, data in raw["files"].items():
        rel = (
            str(Path(path).resolve().relative_to(checkout.resolve()))
            if path.startswith("/")
            else path
        )
        if rel in WHOLE_FILES or (rel.startswith(NODES) and not _is_test(rel)):
            out[rel] = _file_entry(data)
        elif rel in RUN_PATH_FILES:
            out[rel] = _run_path_entry(data)
    return dict(sorted(out.items()))


def table(summary: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'file':48} {'reached':>8} {'branches':>8} {'%':>6}"]
    total = reached = 0
    for rel, entry in summary.items():
        pct = 100.0 * entry["reached"] / entry["branches"] if entry["branches"] else 100.0
        lines.append(f"{rel:48} {entry['reached']:>8} {entry['branches']:>8} {pct:>6.1f}")
        total += entry["branches"]
        reached += entry["reached"]
    pct = 100.0 * reached / total if total else 100.0
    lines.append(f"{'all':48} {reached:>8} {total:>8} {pct:>6.1f}")
    return "\n".join(lines)


def coverage_report(python: str, checkout: Path, data_file: Path, report: Path) -> str:
    """Writes the JSON report and answers the table."""
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "coverage.json"
        subprocess.run(
            [python, "-m", "coverage", "json", f"--data-file={data_file}", "-o", str(raw_path)],
            check=True,
            capture_output=True,
            cwd=checkout,
        )
        raw = json.loads(raw_path.read_text(encoding="utf-8"))
    summary = summarize(raw, checkout)
    report.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return table(summary)
