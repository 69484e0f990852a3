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

REFUSED = "a node class this worker refuses (README, What runs); not in the authoring guide"
CONFIDENCE = "`confidence: true` (log-probabilities), which this worker refuses"
# Functions of the reported files that no score configuration reaches through a score's run,
# each with the reason; their branches are left out of the "reachable" figure. Everything
# else counts, reached or not.
NOT_REACHABLE: dict[str, dict[str, str]] = {
    "plexus/scores/LangGraphScore.py": {
        "": "module import: fallbacks for packages the environment lacks",
        "LangGraphScore._parse_validation_result": "called only by AgenticValidator",
        "LangGraphScore.generate_graph_visualization": "a drawing tool, not called by predict",
        "LangGraphScore.get_prompt_templates": "the score optimizer's, not called by predict",
        "LangGraphScore.get_example_refinement_templates": "the optimizer's, not called by predict",
        "LangGraphScore.reset_token_usage": "called by Plexus's evaluation loop between items",
        "LangGraphScore.cleanup": "worker teardown (PostgreSQL checkpointer), not a score run",
        "LangGraphScore._initialize_memory": "batch mode's PostgreSQL checkpointer (refused)",
        "LangGraphScore._requires_confidence": CONFIDENCE,
        "LangGraphScore._apply_confidence_model_settings": CONFIDENCE,
    },
    "plexus/scores/nodes/BaseNode.py": {
        "BaseNode.build_compiled_workflow.store_node_result": "dead code: no edge leads into it",
    },
    "plexus/scores/nodes/AgenticExtractor.py": {"*": REFUSED},
    "plexus/scores/nodes/ContextExtractor.py": {"*": REFUSED},
    "plexus/scores/nodes/NumericClassifier.py": {"*": REFUSED},
    "plexus/scores/nodes/FuzzyMatchExtractor.py": {"*": REFUSED},
    "plexus/scores/nodes/Classifier.py": {
        "Classifier._is_openai_model": CONFIDENCE,
        "Classifier._is_openai_model._get_underlying_model": CONFIDENCE,
        "Classifier._configure_model_for_confidence": CONFIDENCE,
        "Classifier._extract_logprobs": CONFIDENCE,
        "Classifier.get_confidence_node.calculate_confidence": CONFIDENCE,
        "Classifier._find_classification_token_position": CONFIDENCE,
        "Classifier._calculate_confidence_at_token_position": CONFIDENCE,
        "Classifier._apply_confidence_calibration": CONFIDENCE,
        "Classifier.llm_request": "a stub the graph never calls (the node builds its own)",
        "Classifier.llm_call": "a stub the graph never calls (the node builds its own)",
    },
}
WHOLE_FILES = ("plexus/scores/LangGraphScore.py", "plexus/scores/TactusScore.py")
NODES = "plexus/scores/nodes/"
RUN_PATH_FILES = ("plexus/scores/Score.py", "plexus/Scorecard.py")


BATCH = (
    "`batch: true` (Plexus's batch API, needs its API and a batch job), which this worker refuses"
)
# Line ranges of the reported files no score configuration reaches; a missed branch from or to
# a line in a range is left out of the "reachable" figure.
NOT_REACHABLE_LINES: dict[str, list[tuple[int, int, str]]] = {
    "plexus/scores/nodes/Classifier.py": [(856, 967, BATCH)],
    "plexus/scores/nodes/Generator.py": [(267, 378, BATCH)],
}


STATE = (
    "langgraph hands a node the graph's pydantic state (StateGraph of the combined state "
    "class), never a dict"
)
ASYNC_PREDICT = (
    "LangGraphScore's and TactusScore's predict are coroutine functions: the check is handed "
    "the coroutine, never a Result or a list"
)
TRACE_COPIED = (
    "dead code: state_dict's metadata was just replaced by the node's final state's, "
    "which holds the trace"
)
PYDANTIC_DICT = (
    "dead code: a pydantic v2 state keeps the deprecated dict(), so the first test holds"
)
SCORECARD_RESULTS = (
    "dead code for Plexus's callers: the Scorecard hands a score its dependencies' results as "
    "Score.Result objects"
)
REGISTRY = (
    "a score the scorecard's API data lacks, looked up in its score registry or without an "
    "id: the harness's scorecard holds every score of the case, with ids"
)
# Single branches (from line, to line; negative: the function's exit) no score
# configuration reaches, each with the reason.
NOT_REACHABLE_BRANCHES: dict[str, dict[tuple[int, int], str]] = {
    "plexus/Scorecard.py": {
        **{
            branch: REGISTRY
            for branch in (
                (1359, 1361),
                (1362, 1363),
                (1362, 1373),
                (1364, 1365),
                (1364, 1371),
                (1377, 1378),
                (1390, 1396),
                (1396, 1397),
                (1398, 1399),
                (1398, 1402),
                (1402, 1403),
                (1409, 1410),
            )
        },
        (1481, 1482): "PAUSED is the result of batch mode (Plexus's batch API), refused here",
        (1485, 1488): "dead code: a dependency's result is a Score.Result, which has a value",
    },
    "plexus/scores/LangGraphScore.py": {
        (280, 281): "dead code: add_edges is only called with entry_point None",
        (288, 451): "dead code: every node instance comes from the graph's own config entries",
        (358, 362): "dead code: the combined state class declares `classification`",
        (510, 514): "dead code: the combined state class declares `classification`",
        (365, 377): "dead code: the state is a pydantic model (model_dump)",
        (517, 529): "dead code: the state is a pydantic model (model_dump)",
        (623, 624): "dead code: _import_class answers a class or raises, never None",
        (935, 988): "dead code: node_instances is always a list (__init__, build)",
        (937, 938): "dead code: every node class inherits get_token_usage (LangChainUser)",
        (1095, 1111): "dead code: a graph that is not a list was refused before",
        (1132, 1135): "dead code: LangGraphScore.GraphState declares chat_history",
        (1485, 1492): "dead code: the same test as the enclosing `if condition_info`",
        (1556, 1557): "batch_data is passed only by Plexus's batch processing (refused here)",
        (1613, 1612): "dead code: Score.Result declares every field the loop names",
        (1544, 1545): SCORECARD_RESULTS,
        (1606, 1611): "dead code: predict's Result always gets a metadata dict with keys",
        (1632, 1637): "dead code: get_accumulated_costs always answers a dict",
        (1677, 1678): "dead code: Score.Input.text is a str (pydantic)",
    },
    "plexus/scores/Score.py": {
        (333, 334): "dead code: the bound predict never carries the wrapper's mark",
        (350, 351): ASYNC_PREDICT,
        (354, 355): ASYNC_PREDICT,
        (355, -345): ASYNC_PREDICT,
        (355, 356): ASYNC_PREDICT,
        (356, 355): ASYNC_PREDICT,
        (356, 357): ASYNC_PREDICT,
        (626, 641): "dead code: Score.__init__ always sets _cost_accumulator",
    },
    "plexus/scores/TactusScore.py": {
        (85, 90): "dead code: create(**config) always hands the validator a dict",
        (294, 295): "dead code: Score.__init__ always sets _cost_accumulator",
        (389, 390): "dead code: called only when model_input.results is not empty",
        (394, 400): SCORECARD_RESULTS,
        (400, 401): SCORECARD_RESULTS,
        (400, 393): SCORECARD_RESULTS,
    },
    "plexus/scores/nodes/BaseNode.py": {
        (83, 85): PYDANTIC_DICT,
        (85, 86): PYDANTIC_DICT,
        (85, 88): PYDANTIC_DICT,
        (231, 234): "dead code: store_node_result was just added, so the workflow has nodes",
        (234, 238): "dead code: store_node_result was just added, so the workflow has nodes",
        (245, 248): STATE,
        (261, 262): TRACE_COPIED,
        (263, 264): TRACE_COPIED,
        (271, 272): TRACE_COPIED,
    },
    "plexus/scores/nodes/Classifier.py": {
        (572, 573): STATE,
        (667, 668): STATE,
        (735, 736): STATE,
        (800, 801): STATE,
        (846, 847): STATE,
        (56, 57): CONFIDENCE,
        (813, 814): CONFIDENCE,
        (1028, 1029): CONFIDENCE,
        (1058, 1059): CONFIDENCE,
        (1062, 1064): CONFIDENCE,
    },
    "plexus/scores/nodes/Generator.py": {
        (52, 53): STATE,
        (152, 153): STATE,
        (216, 217): STATE,
        (257, 258): STATE,
    },
    "plexus/scores/nodes/Extractor.py": {
        (136, 139): "dead code: extractOne with score_cutoff answers only matches at the cutoff",
    },
    "plexus/scores/nodes/FuzzyMatchClassifier.py": {(207, 208): STATE, (209, 212): STATE},
    "plexus/scores/nodes/LogicalClassifier.py": {(86, 87): STATE},
    "plexus/scores/nodes/LogicalNode.py": {(52, 53): STATE},
}


def _in_excluded_lines(rel: str, branch: list[int]) -> bool:
    if tuple(branch) in NOT_REACHABLE_BRANCHES.get(rel, {}):
        return True
    return any(
        start <= line <= end
        for start, end, _ in NOT_REACHABLE_LINES.get(rel, [])
        for line in branch
    )


def _is_test(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith("test_") or name.endswith("_test.py") or name == "__init__.py"


def _pairs(branches: list[list[int]]) -> list[str]:
    return [f"{a}->{b}" for a, b in branches]


def _file_entry(rel: str, data: dict[str, Any]) -> dict[str, Any]:
    excluded = NOT_REACHABLE.get(rel, {})
    left_out = 0
    if "*" in excluded:
        left_out = data["summary"]["num_branches"]
    else:
        for name, fn in (data.get("functions") or {}).items():
            if name in excluded:
                left_out += fn["summary"]["num_branches"] - fn["summary"]["covered_branches"]
            else:
                left_out += sum(
                    1 for b in fn.get("missing_branches", []) if _in_excluded_lines(rel, b)
                )
    return {
        "branches": data["summary"]["num_branches"],
        "reached": data["summary"]["covered_branches"],
        "reachable": data["summary"]["num_branches"] - left_out,
        "missed": _pairs(data.get("missing_branches", [])),
        "missed_by_function": _missed_by_function(rel, data, excluded),
    }


def _missed_by_function(rel: str, data: dict[str, Any], excluded: dict[str, str]) -> dict[str, int]:
    """Missed branches still counted as reachable, per function."""
    out = {}
    for name, fn in (data.get("functions") or {}).items():
        missed = sum(1 for b in fn.get("missing_branches", []) if not _in_excluded_lines(rel, b))
        if missed and name not in excluded and "*" not in excluded:
            out[name or "<module>"] = missed
    return out


def _run_path_entry(rel: str, data: dict[str, Any]) -> dict[str, Any]:
    """Branches of the functions the cases executed (a function never entered is not on a
    score's run path)."""
    total = reached = 0
    missed: list[str] = []
    functions = []
    left_out = 0
    for name, fn in (data.get("functions") or {}).items():
        if not name or not fn["summary"]["covered_lines"]:
            continue
        functions.append(name)
        total += fn["summary"]["num_branches"]
        reached += fn["summary"]["covered_branches"]
        missed += _pairs(fn.get("missing_branches", []))
        left_out += sum(1 for b in fn.get("missing_branches", []) if _in_excluded_lines(rel, b))
    return {
        "branches": total,
        "reached": reached,
        "reachable": total - left_out,
        "missed": missed,
        "functions": functions,
    }


def summarize(
    raw: dict[str, Any], checkout: Path, report: Path | None = None
) -> dict[str, dict[str, Any]]:
    """Per file (relative to the checkout): branches, reached, reachable, missed; written
    to `report` as JSON when given."""
    out: dict[str, dict[str, Any]] = {}
    for path, data in raw["files"].items():
        rel = (
            str(Path(path).resolve().relative_to(checkout.resolve()))
            if path.startswith("/")
            else path
        )
        if rel in WHOLE_FILES or (rel.startswith(NODES) and not _is_test(rel)):
            out[rel] = _file_entry(rel, data)
        elif rel in RUN_PATH_FILES:
            out[rel] = _run_path_entry(rel, data)
    out = dict(sorted(out.items()))
    if report is not None:
        report.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return out


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 100.0


def table(summary: dict[str, dict[str, Any]]) -> str:
    """reached of all branches, and of the reachable ones (NOT_REACHABLE left out)."""
    head = f"{'file':44} {'reached':>7} {'all':>5} {'%':>6} {'reachable':>9} {'%':>6}"
    lines = [head]
    total = reached = reachable = reached_reachable = 0
    for rel, entry in summary.items():
        in_reach = min(entry["reached"], entry["reachable"])
        lines.append(
            f"{rel:44} {entry['reached']:>7} {entry['branches']:>5} "
            f"{_pct(entry['reached'], entry['branches']):>6.1f} {entry['reachable']:>9} "
            f"{_pct(in_reach, entry['reachable']):>6.1f}"
        )
        total += entry["branches"]
        reached += entry["reached"]
        reachable += entry["reachable"]
        reached_reachable += in_reach
    lines.append(
        f"{'all':44} {reached:>7} {total:>5} {_pct(reached, total):>6.1f} {reachable:>9} "
        f"{_pct(reached_reachable, reachable):>6.1f}"
    )
    return "\n".join(lines)


def coverage_report(python: str, checkout: Path, data_file: Path, report: Path) -> str:
    """Writes the JSON report and answers the table."""
    return table(summarize(raw_coverage(python, checkout, data_file), checkout, report))


def raw_coverage(python: str, checkout: Path, data_file: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        raw_path = Path(tmp) / "coverage.json"
        subprocess.run(
            [python, "-m", "coverage", "json", f"--data-file={data_file}", "-o", str(raw_path)],
            check=True,
            capture_output=True,
            cwd=checkout,
        )
        return dict(json.loads(raw_path.read_text(encoding="utf-8")))
