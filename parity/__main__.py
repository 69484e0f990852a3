"""`python -m parity refresh --plexus CHECKOUT --python PLEXUS_PYTHON` / `python -m parity compare`

refresh: runs every case (or `--only ID ...`) through the real Plexus engine (the checkout's
unmodified source, in its own virtualenv) and this project's, against one fake model; writes
each case's golden file (the case, the Plexus commit, what the real engine returned and sent)
and prints where the two engines agree.
compare: this project's engine against the golden files already written (no Plexus needed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from parity.cases import CASES, Case, dependency_configs, node_names
from parity.compare import FIELDS, differences, view
from parity.coverage import COVERAGE_INCLUDE, coverage_report
from parity.deviations import DEVIATIONS
from parity.fake_model import FakeModel
from parity.our_engine import AZURE_VERSION
from parity.our_engine import run_case as run_ours

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "parity" / "golden"
STUBS = Path(__file__).resolve().parent / "stubs"
REAL_ENGINE = Path(__file__).resolve().parent / "real_engine.py"
MARK = "PARITY-OUTCOME "


def _plexus_commit(checkout: Path) -> dict[str, str]:
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    version_file = checkout / "plexus" / "_version.py"
    version = (
        version_file.read_text().split("=")[-1].strip().strip("\"'")
        if version_file.exists()
        else ""
    )
    if not commit:
        raise SystemExit(f"{checkout} is not a git checkout of Plexus (git worktree add it)")
    return {"commit": commit, "version": version}


def _real_command(python: str, checkout: Path, coverage_data: Path | None) -> list[str]:
    if coverage_data is None:
        return [python, str(REAL_ENGINE), str(checkout)]
    return [
        python,
        "-m",
        "coverage",
        "run",
        "--branch",
        f"--data-file={coverage_data}",
        f"--include={','.join(str(checkout / p) for p in COVERAGE_INCLUDE)}",
        str(REAL_ENGINE),
        str(checkout),
    ]


def run_real(
    cases: list[Case],
    checkout: Path,
    python: str,
    server: FakeModel,
    coverage_data: Path | None = None,
) -> dict[str, Any]:
    """Each case through the real engine, one process for all, one case at a time: the fake
    model is pointed at the case before it is sent (tactus keeps its first model client)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_"))},
        "PYTHONPATH": str(STUBS),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LANGGRAPH_TIMEOUT": "15",  # a graph that loops (Plexus: ERROR) ends sooner
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    proc = subprocess.Popen(
        _real_command(python, checkout, coverage_data),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=checkout,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    err: list[str] = []
    drain = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    drain.start()
    outcomes: dict[str, Any] = {}
    for number, case in enumerate(cases, 1):
        # Progress on stderr: a case the real engine hangs on (a retry loop) is named.
        print(f"real engine {number}/{len(cases)}: {case.id}", file=sys.stderr, flush=True)
        key = f"p-{case.id}"
        server.script(key, case.replies)
        server.select(key)
        line = {
            **case.to_json(),
            "config": case.config,
            "base_url": server.base_url(key),
            "current_url": server.base_url(server.CURRENT),
            "azure_base": f"{server.base}/c/{key}",
            "azure_version": AZURE_VERSION,
        }
        line["dependencies"] = dependency_configs(case)
        proc.stdin.write(json.dumps(line) + "\n")
        proc.stdin.flush()
        while True:
            answer = proc.stdout.readline()
            if not answer:
                break
            if answer.startswith(MARK):
                outcome = json.loads(answer[len(MARK) :])
                outcomes[outcome["id"]] = outcome
                break
        if case.id not in outcomes:
            break
    proc.stdin.close()
    proc.wait()
    drain.join(timeout=5)
    if proc.returncode != 0 or len(outcomes) != len(cases):
        sys.stderr.write("".join(err)[-4000:])
        raise SystemExit(
            f"the real engine stopped (exit {proc.returncode}) after {len(outcomes)} cases"
        )
    return outcomes


async def ours_view(case: Case, server: FakeModel, key: str) -> dict[str, Any]:
    server.script(key, case.replies)
    outcome = await run_ours(case.to_json(), server.base_url(key), f"{server.base}/c/{key}")
    return view(outcome, server.requests(key), node_names(case))


def frames_only(traceback: str) -> str:
    """A traceback without its source lines: where it failed and the error, no Plexus code."""
    kept: list[str] = []
    skip_source = False
    for line in traceback.splitlines():
        if line.startswith("  File "):
            kept.append(line)
            skip_source = True
        elif skip_source and line.startswith("    "):
            continue  # the frame's source line and its ^^^ markers
        else:
            skip_source = False
            kept.append(line)
    return "\n".join(kept)


# What changes from one refresh to the next in a tactus cost event's text (its clock), so that
# a refresh of unchanged cases leaves the golden files as they were.
VOLATILE = re.compile(r"(duration_ms=)[0-9.]+|(timestamp=)datetime\.datetime\([^)]*\)")


def steady(value: Any) -> Any:
    """The outcome with tactus's timings and timestamps blanked (never a compared field)."""
    if isinstance(value, dict):
        return {k: steady(v) for k, v in value.items()}
    if isinstance(value, list):
        return [steady(v) for v in value]
    if isinstance(value, str) and "event_type='cost'" in value:
        return VOLATILE.sub(lambda m: (m.group(1) or m.group(2)) + "...", value)
    return value


def golden_path(case_id: str) -> Path:
    return GOLDEN / f"{case_id}.json"


def load_golden(case_id: str) -> dict[str, Any]:
    return json.loads(golden_path(case_id).read_text(encoding="utf-8"))


def status(case_id: str, diff: list[str]) -> str:
    """agree; expected (a declared deviation, differing only where declared); DIFFER."""
    if not diff:
        return "agree"
    declared = DEVIATIONS.get(case_id)
    if declared and set(diff) <= set(declared["fields"]):
        return "expected"
    return "DIFFER"


def _table(rows: list[tuple[str, list[str]]]) -> int:
    counts = {"agree": 0, "expected": 0, "DIFFER": 0}
    for case_id, diff in rows:
        mark = status(case_id, diff)
        counts[mark] += 1
        why = f"  (declared deviation: {DEVIATIONS[case_id]['row']})" if mark == "expected" else ""
        print(f"{mark:8}  {case_id:40} {', '.join(diff)}{why}")
    print(
        f"agreement: {counts['agree']} of {len(rows)} cases on {', '.join(FIELDS)}; "
        f"{counts['expected']} declared deviations (README); {counts['DIFFER']} undeclared"
    )
    return counts["agree"]


def refresh(args: argparse.Namespace) -> int:
    checkout = Path(args.plexus).resolve()
    plexus = _plexus_commit(checkout)
    cases = [c for c in CASES if not args.only or c.id in args.only]
    GOLDEN.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    coverage_data = Path(args.coverage).with_suffix(".data") if args.coverage else None
    if coverage_data is not None and coverage_data.exists():
        coverage_data.unlink()
    with FakeModel() as server:
        outcomes = run_real(cases, checkout, args.python, server, coverage_data)
        real_seconds = time.perf_counter() - started
        rows = []
        for case in cases:
            outcome = outcomes[case.id]
            requests = server.requests(f"p-{case.id}")
            golden = {
                "case": case.to_json(),
                "plexus": plexus,
                "returned": steady({k: v for k, v in outcome.items() if k != "traceback"}),
                "sent": requests,
                "view": view(outcome, requests, node_names(case)),
            }
            if outcome.get("traceback"):
                # Frames relative to the checkout: a golden names no path of one machine.
                frames = frames_only(outcome["traceback"]).replace(f"{checkout}/", "")
                frames = re.sub(r'"[^"]*/site-packages/', '"site-packages/', frames)
                frames = frames.replace(f"{ROOT}/", "")
                golden["returned"]["traceback_tail"] = frames[-800:]
            golden_path(case.id).write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
            ours = asyncio.run(ours_view(case, server, f"o-{case.id}"))
            rows.append((case.id, differences(golden["view"], ours)))
    print(f"real engine: {len(cases)} cases in {real_seconds:.1f} s (one process, import included)")
    _table(rows)
    if coverage_data is not None:
        print(coverage_report(args.python, checkout, coverage_data, Path(args.coverage)))
    return 0


def compare(args: argparse.Namespace) -> int:
    cases = [c for c in CASES if not args.only or c.id in args.only]
    rows = []
    with FakeModel() as server:
        for case in cases:
            golden = load_golden(case.id)
            ours = asyncio.run(ours_view(case, server, f"o-{case.id}"))
            diff = differences(golden["view"], ours)
            rows.append((case.id, diff))
            if args.verbose:
                mark = status(case.id, diff)
                for f in diff:
                    head = f"--- {case.id}.{f}"
                    if mark == "expected":
                        head += f" (expected: {DEVIATIONS[case.id]['row']})"
                    print(f"{head}\n plexus: {golden['view'][f]!r}\n ours:   {ours[f]!r}")
    _table(rows)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("refresh", help="run the real engine and rewrite the golden files")
    r.add_argument("--plexus", required=True, help="a git checkout of AnthusAI/Plexus")
    r.add_argument("--python", required=True, help="python of a virtualenv with Plexus's pins")
    r.add_argument("--only", nargs="*", help="case ids")
    r.add_argument(
        "--coverage",
        metavar="REPORT",
        help="run the real engine under coverage.py (branches) and write a JSON report here",
    )
    c = sub.add_parser("compare", help="this engine against the golden files")
    c.add_argument("--only", nargs="*", help="case ids")
    c.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    return refresh(args) if args.command == "refresh" else compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
