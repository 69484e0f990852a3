"""Cold start: process start to first response through the real awslambdaric and a local
Runtime API, for the score_processing handler (lazy imports) and an eager variant of it
that imports every dependency at module load, measured interleaved in the same run.

Cases: an empty poll (`{}`, no jobs) and one keyword job. Then the import time of the
handler's full dependency set from a read-only copy of site-packages without .pyc files
versus one with unchecked-hash bytecode (what the Nix image ships).
Target: the empty poll answers in under 40% of the eager variant's time.
    uv run python bench/cold_start.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from _services import HANDLER_DIR, KEYWORD_YAML, machine, services, table, verdict

from plexus.tooling.invoke import LocalFunction

EAGER_IMPORTS = [
    "boto3",
    "botocore.config",
    "openai",
    "psycopg",
    "pycurl",
    "yaml",
    "pydantic",
    "genai_prices",
    "aws_lambda_powertools.utilities.batch",
    "plexus.scoring.config",
    "plexus.scoring.llm",
    "plexus.scoring.deterministic",
    "plexus.model_store",
    "plexus.content",
    "plexus.attachments",
]
EAGER_HANDLER = (
    "import os\n"
    'os.environ.setdefault("MPLCONFIGDIR", "/tmp/matplotlib")\n'
    'os.environ.setdefault("HOME", "/tmp")\n'
    + "".join(f"import {m}  # noqa: F401\n" for m in EAGER_IMPORTS)
    + "from plexus.lambda_entry import handle\n\n\ndef handler(event, context):\n"
    "    return handle(event, context)\n"
)


def first_response(folder: Path, env: dict[str, str], event: bytes) -> float:
    with open(os.devnull, "wb") as sink, LocalFunction(folder, env=env, output=sink) as fn:
        result = fn.invoke(event, timeout=60)
        assert result.ok, result.payload
        return result.completed_at - fn.started_at


def import_time(pythonpath: str, runs: int) -> float:
    code = "import " + ", ".join(["plexus.lambda_entry", *EAGER_IMPORTS])
    env = {**os.environ, "PYTHONPATH": pythonpath, "PYTHONDONTWRITEBYTECODE": "1"}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-S", "-c", code], env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bytecode_case(runs: int) -> tuple[float, float]:
    """Median import seconds from read-only site-packages: (without .pyc, with .pyc)."""
    site = Path(sysconfig.get_paths()["purelib"])
    root = Path(tempfile.mkdtemp(prefix="plexus-pyc-"))
    try:
        plain, compiled = root / "plain", root / "compiled"
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for target in (plain, compiled):
            shutil.copytree(site, target, ignore=ignore, symlinks=True)
            shutil.copytree(
                Path(__file__).resolve().parents[1] / "plexus",
                target / "plexus",
                ignore=ignore,
                dirs_exist_ok=True,
            )
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
            check=False,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
        import_time(str(plain), 1)  # warm the page cache for both
        import_time(str(compiled), 1)
        return import_time(str(plain), runs), import_time(str(compiled), runs)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    eager_dir = Path(tempfile.mkdtemp(prefix="plexus-eager-")) / "score_processing"
    eager_dir.mkdir()
    (eager_dir / "handler.py").write_text(EAGER_HANDLER)
    samples: dict[tuple[str, str], list[float]] = {}
    with services() as s:
        account_id, card = s.account("cold")
        score_id, _ = s.api.seed_score(card, "Greeting", KEYWORD_YAML)
        env = {**s.env, "PLEXUS_ACCOUNT_KEY": "cold"}
        for _ in range(args.runs):
            for variant, folder in (("lazy", HANDLER_DIR), ("eager", eager_dir)):
                samples.setdefault(("empty poll", variant), []).append(
                    first_response(folder, env, b"{}")
                )
                item = s.api.seed_item(account_id, text="Agent: hello")
                job = s.api.seed_job(account_id, card, score_id, item)
                event = f'{{"scoringJobId": "{job}"}}'.encode()
                samples.setdefault(("one job", variant), []).append(
                    first_response(folder, env, event)
                )
    shutil.rmtree(eager_dir.parent, ignore_errors=True)
    rows = []
    ratios = {}
    for case in ("empty poll", "one job"):
        lazy = statistics.median(samples[(case, "lazy")])
        eager = statistics.median(samples[(case, "eager")])
        ratios[case] = lazy / eager
        rows.append((case, f"{lazy * 1000:.0f}", f"{eager * 1000:.0f}", f"{lazy / eager:.0%}"))
    print(
        f"median of {args.runs} interleaved cold starts, no .pyc files (uv installs none); {machine()}"
    )
    print(table(rows, ("case", "lazy ms", "eager ms", "lazy/eager")))
    plain, compiled = bytecode_case(args.runs)
    print(
        "\nimport of the handler's whole dependency set from a read-only directory:\n"
        + table(
            [
                ("no .pyc", f"{plain * 1000:.0f}", "1.00"),
                (
                    "unchecked-hash .pyc (the image)",
                    f"{compiled * 1000:.0f}",
                    f"{compiled / plain:.2f}",
                ),
            ],
            ("case", "median ms", "ratio"),
        )
    )
    ok = ratios["empty poll"] < 0.40
    print(
        verdict(ok, f"empty poll at {ratios['empty poll']:.0%} of the eager variant (target < 40%)")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
