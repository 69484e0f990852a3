"""This engine against the real Plexus 1.50.1 engine's recorded answers (tests/parity/golden).

Each golden file holds a case (score YAML, item, the model's scripted replies), the Plexus
commit it was recorded at, what the real engine returned and every request it sent. Here the
same replies are served by the harness's fake model on 127.0.0.1 and this engine runs the
case as `plexus-lambda score` does; each compared field must equal the golden one, except
the fields parity/deviations.py declares (each a README row), which must hold this engine's
declared values. Refresh the goldens with `python -m parity refresh` (README).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parity.cases import Case, by_id, node_names
from parity.compare import FIELDS, view
from parity.deviations import DEVIATIONS
from parity.fake_model import FakeModel
from parity.our_engine import SharedEngine
from plexus.core.errors import ScoreConfigError

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = sorted(GOLDEN.glob("*.json"))


@pytest.fixture(scope="module")
def engine() -> Iterator[SharedEngine]:
    with FakeModel() as server:
        shared = SharedEngine(server)
        try:
            yield shared
        finally:
            shared.close()


def _ours(golden: dict[str, Any], engine: SharedEngine) -> dict[str, Any]:
    case = golden["case"]
    outcome, requests = engine.run(case, f"t-{case['id']}")
    return view(outcome, requests, node_names(Case(**case)))


def test_every_case_has_a_golden_file() -> None:
    assert {f.stem for f in FILES} == set(by_id()), "run python -m parity refresh (README)"


def test_goldens_come_from_one_plexus_commit() -> None:
    commits = {json.loads(f.read_text())["plexus"]["commit"] for f in FILES}
    assert len(commits) == 1, commits


def test_golden_cases_are_the_harness_cases() -> None:
    cases = by_id()
    for f in FILES:
        golden = json.loads(f.read_text())
        assert golden["case"] == cases[f.stem].to_json(), f"{f.stem}: refresh its golden file"


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_engine_matches_plexus(path: Path, engine: SharedEngine) -> None:
    golden = json.loads(path.read_text(encoding="utf-8"))
    ours = _ours(golden, engine)
    deviation = DEVIATIONS.get(path.stem, {"fields": (), "ours": {}})
    for field in FIELDS:
        if field in deviation["fields"]:
            continue
        assert ours[field] == golden["view"][field], (
            f"{path.stem}.{field}: Plexus {golden['view'][field]!r}, this engine {ours[field]!r}"
        )
    for field, expected in deviation["ours"].items():
        assert ours[field] == expected, f"{path.stem}.{field} (deviation {deviation['row']!r})"
    if deviation["fields"]:
        # A declared deviation that no longer differs should be removed from deviations.py.
        assert any(ours[f] != golden["view"][f] for f in deviation["fields"]), path.stem


def _what_plexus_names(crash: str) -> str:
    """What this engine's configuration error must say of the real engine's load error: the
    field of a pydantic ValidationError ("1 validation error for Parameters\\nvalid_classes\\n
    Field required"), the node class of a ModuleNotFoundError ("No module named
    'plexus.scores.nodes.X'") or an ImportError ("Could not find class X in module ..."), or
    a ValueError's own message ("Code must define a 'score' function")."""
    kind, _, message = crash.partition(": ")
    if kind == "ValidationError":
        lines = message.splitlines()
        # "valid_classes: Field required": the field and pydantic's reason for it.
        return f"{lines[1].strip()}: {lines[2].strip().split(' [', 1)[0]}"
    if kind == "ModuleNotFoundError":
        return message.rstrip("'").rsplit(".", 1)[-1]
    if kind == "ImportError" and message.startswith("Could not find class "):
        return repr(message.split()[4])
    if kind == "ValueError":
        return message.rstrip(".")
    raise AssertionError(f"an unexpected load error from Plexus: {crash[:200]}")


REJECTED = [f for f in FILES if f.stem.startswith("rejected_")]


@pytest.mark.parametrize("path", REJECTED, ids=[f.stem for f in REJECTED])
def test_a_rejected_configuration_fails_at_load_naming_what_plexus_names(
    path: Path, engine: SharedEngine
) -> None:
    # Plexus refuses these at create (no model call); so does this engine, with a
    # configuration error (a ValueError, as Plexus's ValueError and pydantic's
    # ValidationError are) that names the same field or node class, or says what Plexus's
    # ValueError says.
    golden = json.loads(path.read_text(encoding="utf-8"))
    assert golden["returned"].get("crash") and not golden["sent"], path.stem
    outcome, requests = engine.run(golden["case"], f"r-{path.stem}")
    assert not requests
    assert str(outcome.get("failed", "")).startswith("ScoreConfigError: "), outcome
    assert issubclass(ScoreConfigError, ValueError)
    assert _what_plexus_names(golden["returned"]["crash"]) in outcome["failed"]
