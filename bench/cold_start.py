"""Cold start: process start to first response through the real awslambdaric and a local
Runtime API, for the score_processing handler (lazy imports) and an eager variant of it
that imports every dependency at module load, measured interleaved in the same run.

Cases: an empty poll (`{}`, an account with no jobs), one keyword job (no model), one LLM
job and one LangGraph job (a real Plexus score: Classifier then LogicalClassifier, Jinja2
prompt, YAML 1.2; the fake OpenAI server, no latency), and, with bytecode, one Tactus job
(a ClassifyProcedure on the real tactus runtime) in the first --tactus-runs rounds, with
the import of tactus's runtime alone measured in the same run and broken down by package
(`python -X importtime`). The packages come from a read-only copy of this
venv's site-packages, once without .pyc (as uv installs them; PYTHONDONTWRITEBYTECODE=1)
and once with unchecked-hash .pyc (the image's case). Also the import time of the
handler's whole dependency set from those two copies.
Target: the empty poll answers in under 40% of the eager variant's time.
    uv run python bench/cold_start.py [--runs 7] [--tactus-runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from _services import (
    HANDLER_DIR,
    KEYWORD_YAML,
    LLM_YAML,
    ROOT,
    machine,
    services,
    table,
    verdict,
)

from plexus.tooling.invoke import LocalFunction

EAGER_IMPORTS = [
    "boto3",
    "botocore.config",
    "openai",
    "psycopg",
    "pycurl",
    "ruamel.yaml",
    "jinja2.sandbox",
    "rapidfuzz",
    "pydantic",
    "genai_prices",
    "aws_lambda_powertools.utilities.batch",
    "plexus.scores",
    "plexus.scores.LangGraphScore",
    "plexus.scores.LLMClassifier",
    "plexus.scores.KeywordClassifier",
    "plexus.scores.providers",
    "plexus.clients.model_store",
    "plexus.clients.content",
    "plexus.clients.attachments",
]
EAGER_HANDLER = (
    "import os\n"
    'os.environ.setdefault("MPLCONFIGDIR", "/tmp/matplotlib")\n'
    'os.environ.setdefault("HOME", "/tmp")\n'
    + "".join(f"import {m}  # noqa: F401\n" for m in EAGER_IMPORTS)
    + "from plexus.aws_lambda.entry import handle\n\n\ndef handler(event, context):\n"
    "    return handle(event, context)\n"
)


def first_response(folder: Path, env: dict[str, str], event: bytes) -> float:
    """Seconds from the runtime process's start to its first response."""
    # Lambda's 10 s INIT limit would abort a measurement on a loaded machine; the figure is
    # the time, whatever it is.
    with (
        open(os.devnull, "wb") as sink,
        LocalFunction(folder, env=env, output=sink, init_timeout=120) as fn,
    ):
        result = fn.invoke(event, timeout=120)
        if not result.ok:
            raise SystemExit(f"{folder}: {result.error_type}: {result.error_message}")
        assert fn.started_at is not None
        return result.completed_at - fn.started_at


def import_time(pythonpath: Path, runs: int, code: str | None = None) -> float:
    """Median seconds of `python -S -c "import <everything>"` (or `code`) with only
    `pythonpath` to import from (-S: not even the venv's site-packages)."""
    code = code or "import " + ", ".join(["plexus.aws_lambda.entry", *EAGER_IMPORTS])
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "PYTHONDONTWRITEBYTECODE": "1"}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", code], env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# What a Tactus job imports beyond the others' modules (plexus.scores.TactusScore runs it).
TACTUS_IMPORT = (
    "import plexus.scores.tactus_runtime as t; t.load(); "
    "import tactus.core.runtime, tactus.adapters.memory, tactus.adapters.cost_collector_log"
)


def import_breakdown(pythonpath: Path, code: str, top: int = 12) -> dict[str, Any]:
    """One `python -X importtime` run of `code`: self time per top-level package."""
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    by_package: dict[str, list[int]] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if match:
            entry = by_package.setdefault(match[2].split(".")[0], [0, 0])
            entry[0] += int(match[1])
            entry[1] += 1
    ranked = sorted(by_package.items(), key=lambda kv: -kv[1][0])
    rest = ranked[top:]
    packages = [(name, us / 1000, n) for name, (us, n) in ranked[:top]]
    packages.append(
        (f"{len(rest)} others", sum(us for _, (us, _) in rest) / 1000, sum(n for _, (_, n) in rest))
    )
    return {
        "packages": packages,
        "total": sum(us for us, _ in by_package.values()) / 1e6,
        "modules": sum(n for _, n in by_package.values()),
    }


def read_only_copies(root: Path) -> tuple[Path, Path]:
    """site-packages plus plexus, twice, read-only: without .pyc, and with unchecked-hash .pyc
    (what the Nix image ships: valid whatever the files' mtimes, never rewritten)."""
    plain, compiled = root / "plain", root / "compiled"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(sysconfig.get_paths()["purelib"], plain, ignore=ignore, symlinks=True)
    shutil.copytree(ROOT / "plexus", plain / "plexus", ignore=ignore)
    # Hard links: the sources are the same bytes; compileall adds __pycache__ beside them.
    subprocess.run(["cp", "-al", str(plain), str(compiled)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "compileall",
            "-q",
            "-j",
            "0",
            "--invalidation-mode",
            "unchecked-hash",
            str(compiled),
        ],
        check=False,  # some test data files in site-packages do not compile; not ours
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    return plain, compiled


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7, help="cold starts per figure")
    parser.add_argument(
        "--tactus-runs", type=int, default=3, help="rounds with a Tactus job (10 s and more each)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="plexus-cold-start-"))
    try:
        eager_dir = work / "eager" / "score_processing"
        eager_dir.mkdir(parents=True)
        (eager_dir / "handler.py").write_text(EAGER_HANDLER)
        trivial_dir = work / "trivial" / "score_processing"
        trivial_dir.mkdir(parents=True)
        (trivial_dir / "handler.py").write_text(TRIVIAL_HANDLER)
        plain, compiled = read_only_copies(work / "site")
        import_time(plain, 1)  # the page cache holds both copies from now on
        import_time(compiled, 1)
        imports = (import_time(plain, IMPORT_RUNS), import_time(compiled, IMPORT_RUNS))
        samples = measure_cold_starts(
            args.runs, args.tactus_runs, eager_dir, trivial_dir, plain, compiled
        )
        # --tactus-runs 0 leaves the Tactus job and its import out.
        tactus_alone = (
            import_time(compiled, args.tactus_runs, TACTUS_IMPORT) if args.tactus_runs else 0.0
        )
        breakdown = import_breakdown(compiled, TACTUS_IMPORT) if args.tactus_runs else None
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(work)], check=False)
        shutil.rmtree(work, ignore_errors=True)

    print(f"{machine()}; median of {args.runs} interleaved cold starts per figure")
    rows, ratios = [], {}
    for (bytecode, case), by_variant in samples.items():
        if case == "floor" or not by_variant["lazy"]:
            continue
        lazy, eager = statistics.median(by_variant["lazy"]), statistics.median(by_variant["eager"])
        ratios[(bytecode, case)] = lazy / eager
        rows.append(
            (bytecode, case, f"{lazy / eager:.0%}", f"{lazy * 1000:.0f}", f"{eager * 1000:.0f}")
        )
    print(table(rows, ("bytecode", "case", "lazy/eager", "lazy ms", "eager ms")))
    for bytecode in BYTECODE:
        floor = statistics.median(samples[(bytecode, "floor")]["lazy"])
        eager = statistics.median(samples[(bytecode, "empty poll")]["eager"])
        print(
            f"floor ({bytecode}): a handler that imports nothing answers in {floor * 1000:.0f} ms "
            f"= {floor / eager:.0%} of the eager empty poll (interpreter + awslambdaric)"
        )
    print(
        "bytecode: the packages and plexus from a read-only copy of this venv's site-packages, "
        "'none' without .pyc (as uv installs them here), 'pyc' with unchecked-hash .pyc (as "
        "in the image); the stdlib has its .pyc in both"
    )
    plain_s, compiled_s = imports
    print(
        f"\nimport of the handler's whole dependency set, read-only package directory "
        f"(median of {IMPORT_RUNS}):\n"
        + table(
            [
                ("no .pyc", "1.00", f"{plain_s * 1000:.0f}"),
                ("unchecked-hash .pyc", f"{compiled_s / plain_s:.2f}", f"{compiled_s * 1000:.0f}"),
            ],
            ("bytecode", "ratio", "median ms"),
        )
    )
    if breakdown is not None:
        print_tactus(args.tactus_runs, samples, tactus_alone, breakdown)
    ok = True
    for bytecode in BYTECODE:
        ratio = ratios[(bytecode, "empty poll")]
        ok = ok and ratio < 0.40
        print(
            verdict(
                ratio < 0.40,
                f"empty poll ({bytecode} bytecode) at {ratio:.0%} of the eager variant "
                "(target < 40%)",
            )
        )
    return 0 if ok else 1


def print_tactus(
    runs: int, samples: dict[Any, Any], tactus_alone: float, breakdown: dict[str, Any]
) -> None:
    """The Tactus job's cold start beside a keyword job's, and its import by package."""
    tactus_job = statistics.median(samples[("pyc", "Tactus job")]["lazy"])
    keyword_job = statistics.median(samples[("pyc", "keyword job")]["lazy"])
    print(
        f"\nTactus job (pyc, median of {runs}): {tactus_job * 1000:.0f} ms cold start, "
        f"a keyword job {keyword_job * 1000:.0f} ms; the import of tactus's runtime alone "
        f"(plexus.scores.tactus_runtime.load() and TactusRuntime's modules, pyc, median of "
        f"{runs}): {tactus_alone * 1000:.0f} ms"
    )
    print(
        "that import by package (self time under -X importtime, which adds its own overhead; "
        f"{breakdown['modules']} modules, {breakdown['total'] * 1000:.0f} ms in all):\n"
        + table(
            [(name, f"{ms:.0f}", count) for name, ms, count in breakdown["packages"]],
            ("package", "ms", "modules"),
        )
    )


BYTECODE = ("none", "pyc")
# The model jobs only in the image's case: without bytecode they take 6 s a round, and lazy
# and eager import the same modules for them anyway.
CASES = {
    "none": ("empty poll", "keyword job"),
    "pyc": ("empty poll", "keyword job", "LLM job", "LangGraph job", "Tactus job"),
}
# Plexus's standard score (skills/score-code-editor/SKILL.md), on the real tactus runtime.
TACTUS_YAML = """
name: Greeting (Tactus)
class: TactusScore
valid_classes: ['Yes', 'No']
code: |-
  default_model "openai/gpt-4o-mini"
  ClassifyProcedure {
    classes = {"Yes", "No"},
    system_message = [[You review call transcripts.]],
    user_message = [[Did the agent greet the caller? <transcript>{{ text }}</transcript>]]
  }
"""
# A real Plexus score's shape (dashboard/scorecards/.../Agent Misrepresentation.yaml, cut
# short): a Classifier whose type a LogicalClassifier turns into Yes/No.
LANGGRAPH_YAML = """
name: Greeting (LangGraph)
class: LangGraphScore
model_provider: ChatOpenAI
model_name: gpt-4o-mini
graph:
  - name: greeting_type
    class: Classifier
    valid_classes:
      - Yes
      - No
    system_message: You review call transcripts.
    user_message: |
      <transcript>
      {{text}}
      </transcript>
      Did the agent greet the caller? Answer Yes or No.
    output:
      greeted: classification
  - name: final
    class: LogicalClassifier
    code: |
      def score(parameters: Score.Parameters, input: Score.Input) -> Score.Result:
          value = "Yes" if input.metadata.get("greeted") == "Yes" else "No"
          return Score.Result(parameters=parameters, value=value,
                              metadata={"explanation": f"greeted: {value}"})
"""
IMPORT_RUNS = 5  # each import of everything takes 1-2 s; five keep the script near 2 minutes
TRIVIAL_HANDLER = "def handler(event, context):\n    return {}\n"


def measure_cold_starts(
    runs: int, tactus_runs: int, eager_dir: Path, trivial_dir: Path, plain: Path, compiled: Path
) -> dict[tuple[str, str], dict[str, list[float]]]:
    """{(bytecode, case): {"lazy": [seconds...], "eager": [...]}}, lazy and eager interleaved
    (which of the two goes first alternates from round to round); case "floor" has the
    trivial handler's cold starts under "lazy" (and nothing under "eager")."""
    samples: dict[tuple[str, str], dict[str, list[float]]] = {
        (b, c): {"lazy": [], "eager": []} for b in BYTECODE for c in ("floor", *CASES[b])
    }
    with services() as s:
        s.openai.set_default(s.openai.answer_first_class)
        account_id, card = s.account("cold")
        keyword_score, _ = s.api.seed_score(card, "Greeting", KEYWORD_YAML)
        llm_score, _ = s.api.seed_score(card, "Greeting (LLM)", LLM_YAML)
        graph_score, _ = s.api.seed_score(card, "Greeting (LangGraph)", LANGGRAPH_YAML)
        tactus_score, _ = s.api.seed_score(card, "Greeting (Tactus)", TACTUS_YAML)
        # Both from a read-only copy, whatever .pyc this venv may hold; the stdlib's own
        # bytecode is used in both (as in the image).
        base_env = {**s.env, "PLEXUS_ACCOUNT_KEY": "cold", "PYTHONDONTWRITEBYTECODE": "1"}
        envs = {
            "none": {**base_env, "PYTHONPATH": str(plain)},
            "pyc": {**base_env, "PYTHONPATH": str(compiled)},
        }

        def event(case: str) -> bytes:
            if case == "empty poll":
                return b"{}"
            score = {
                "keyword job": keyword_score,
                "LLM job": llm_score,
                "Tactus job": tactus_score,
            }.get(case, graph_score)
            item = s.api.seed_item(account_id, text="Agent: hello")
            job = s.api.seed_job(account_id, card, score, item)
            return json.dumps({"scoringJobId": job}).encode()

        for round_ in range(runs):
            variants = [("lazy", HANDLER_DIR), ("eager", eager_dir)]
            if round_ % 2:
                variants.reverse()
            for bytecode in BYTECODE:
                samples[(bytecode, "floor")]["lazy"].append(
                    first_response(trivial_dir, envs[bytecode], b"{}")
                )
                for case in CASES[bytecode]:
                    if case == "Tactus job" and round_ >= tactus_runs:
                        continue
                    for variant, folder in variants:
                        seconds = first_response(folder, envs[bytecode], event(case))
                        samples[(bytecode, case)][variant].append(seconds)
    return samples


if __name__ == "__main__":
    sys.exit(main())
