"""Many jobs in flight in one invocation: wall, CPU, peak PSS and GB-seconds a job.

For LangGraph and Tactus jobs at PLEXUS_CONCURRENCY 1, 4, 16 and 64 with a 1 s model, cold
(a fresh process: imports, forks and the drain) and warm (a second drain in a process that
already drained the same score), one `JobProcessor.drain` in a worker process of its own
against the lean stand-ins of bench/throughput.py (API and S3 30 ms, the model 1 s).

Per row: wall time of the drain, CPU of the worker's whole process tree (score processes
included), peak PSS of that tree (sampled every 20 ms from /proc/PID/smaps_rollup of the
worker and every descendant; PSS shares the pages forked processes hold in common), and
Lambda GB-seconds a job: this drain's wall x the function's memory / jobs (the jobs share
one invocation), beside Plexus's own stack, where each job is an invocation of its own
(one job's wall at concurrency 1 x 2,048 MB).

    uv run python bench/concurrency.py [--scores langgraph,tactus] [--concurrency 1,4,16,64]
    uv run python bench/concurrency.py --checkout /path/to/other/checkout   # "before" figures
    uv run python bench/concurrency.py --quick    # CI: LangGraph, warm, concurrency 4, 4 jobs

Every job of a row must COMPLETE, or the script exits 1. Figures taken on a loaded machine
are proportions: the load average is printed with each row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The worker runs from --checkout (this variable) when given: nothing here imports plexus
# before it is first on sys.path (the helpers below put this checkout first, so they are
# imported in the benchmark's own process only).
CHECKOUT = os.environ.get("PLEXUS_BENCH_CHECKOUT")
if CHECKOUT:
    sys.path.insert(0, CHECKOUT)

MEMORY_MB = 2048  # what Plexus deploys the scoring function with
TIMEOUT_S = 900.0


# --- the worker process ------------------------------------------------------------------


async def drain(account_key: str, concurrency: int) -> dict[str, Any]:
    """One JobProcessor.drain: how many jobs completed, and the first other outcome's reason."""
    import dataclasses

    from plexus.clients.plexus_api import PlexusApi
    from plexus.core.settings import load_settings
    from plexus.worker.processor import JobProcessor

    settings = dataclasses.replace(load_settings(), concurrency=concurrency)
    async with PlexusApi(settings) as api:
        processor = JobProcessor(settings, api)
        try:
            summary = await processor.drain(account_key)
        finally:
            await processor.close()
    other = [o for o in summary.outcomes if o.status != "COMPLETED"]
    return {
        "done": summary.count("COMPLETED"),
        "other": f"{other[0].status}: {other[0].reason}"[:200] if other else None,
    }


def worker(warm_key: str, key: str, concurrency: int) -> None:
    """`warm_key` "-": a cold drain of `key`; otherwise drain it first, then wait for go."""
    if CHECKOUT:
        import plexus.worker.processor as processor

        assert processor.__file__.startswith(CHECKOUT), processor.__file__
    if warm_key != "-":
        warm = asyncio.run(drain(warm_key, concurrency))
        print(json.dumps({"warm": warm}), flush=True)
        sys.stdin.readline()
    started = time.perf_counter()
    done = asyncio.run(drain(key, concurrency))
    print(json.dumps({**done, "seconds": time.perf_counter() - started}), flush=True)
    sys.stdin.readline()  # the parent reads the tree's CPU before this process ends


@dataclass
class Row:
    score: str
    concurrency: int
    jobs: int
    cold: bool
    seconds: float
    cpu: float
    peak_mib: float
    load: float
    completed: int

    def gb_seconds(self, memory_mb: int = MEMORY_MB) -> float:
        return self.seconds * memory_mb / 1024 / self.jobs


def run_case(
    env: dict[str, str], score: str, key: str, jobs: int, concurrency: int, cold: bool
) -> Row:
    from _proc_tree import PeakPss, tree_cpu, worker_process

    warm_key = "-" if cold else f"{key}-warm"
    with worker_process(__file__, [warm_key, key, str(concurrency)], env, TIMEOUT_S) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        sampler = PeakPss(proc.pid)
        try:
            if not cold:
                if not proc.stdout.readline():
                    raise SystemExit(f"{key}: the worker failed while warming up")
                sampler.reset()
                cpu = tree_cpu(proc.pid)
                proc.stdin.write("go\n")
                proc.stdin.flush()
            else:
                cpu = 0.0
            line = proc.stdout.readline()
            cpu = tree_cpu(proc.pid) - cpu
            peak = sampler.stop()
            proc.stdin.write("end\n")
            proc.stdin.flush()
        finally:
            sampler.stop()
    if not line:
        raise SystemExit(f"{key}: the worker exited with status {proc.returncode}")
    result = json.loads(line)
    if result["done"] != jobs:
        print(f"{key}: {result['done']} of {jobs} COMPLETED; {result['other']}", file=sys.stderr)
    return Row(
        score,
        concurrency,
        jobs,
        cold,
        result["seconds"],
        cpu,
        peak / 1024,
        os.getloadavg()[0],
        result["done"],
    )


def rows_table(rows: list[Row]) -> str:
    from _services import table

    single = {(r.score, r.cold): r.seconds / r.jobs for r in rows if r.concurrency == 1}
    out = []
    for r in rows:
        plexus = single.get((r.score, r.cold))
        out.append(
            (
                r.score,
                "cold" if r.cold else "warm",
                r.concurrency,
                r.jobs if r.completed == r.jobs else f"{r.completed}/{r.jobs}",
                f"{r.seconds:.1f}",
                f"{r.cpu:.1f}",
                f"{r.cpu / r.jobs * 1000:.0f}",
                f"{r.peak_mib:,.0f}",
                f"{r.gb_seconds():.3f}",
                f"{plexus * MEMORY_MB / 1024:.2f}" if plexus else "-",
                f"{r.load:.1f}",
            )
        )
    header = (
        "score",
        "start",
        "conc.",
        "jobs",
        "wall s",
        "CPU s",
        "CPU ms/job",
        "peak PSS MiB",
        "GB-s/job",
        "Plexus GB-s/job",
        "load",
    )
    return table(out, header)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scores", default="langgraph,tactus")
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--latency", type=float, default=1.0, help="model latency, seconds")
    parser.add_argument("--starts", default="cold,warm")
    parser.add_argument("--jobs", type=int, help="jobs a row (default: 2 x concurrency, >= 4)")
    parser.add_argument("--checkout", type=Path, help="run the worker from this checkout")
    parser.add_argument("--memory", type=int, help="AWS_LAMBDA_FUNCTION_MEMORY_SIZE to set")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the worker")
    parser.add_argument("--quick", action="store_true", help="CI: one warm LangGraph row, 4 jobs")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return 0
    from _services import LLM_YAML, machine
    from cold_start import LANGGRAPH_YAML, TACTUS_YAML
    from throughput import lean_services, seed_lean

    scores_yaml = {"langgraph": LANGGRAPH_YAML, "tactus": TACTUS_YAML, "llm": LLM_YAML}
    if args.quick:
        args.scores, args.concurrency, args.latency, args.jobs = "langgraph", "4", 0.05, 4
        args.starts = "warm"
    scores = args.scores.split(",")
    levels = [int(v) for v in args.concurrency.split(",")]
    starts = args.starts.split(",")
    print(machine(), f"load average at start {os.getloadavg()[0]:.2f}")
    rows: list[Row] = []
    with lean_services(0.03, 0.03) as lean:
        env = dict(lean.env)
        bench = str(Path(__file__).resolve().parent)
        if args.checkout:
            env["PYTHONPATH"] = f"{args.checkout.resolve()}:{bench}"
            env["PLEXUS_BENCH_CHECKOUT"] = str(args.checkout.resolve())
        if args.memory:
            env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(args.memory)
        for pair in args.env:
            name, _, value = pair.partition("=")
            env[name] = value
        lean.openai.set_latency(args.latency)
        for score in scores:
            for concurrency in levels:
                jobs = args.jobs or max(4, 2 * concurrency)
                for start in starts:
                    key = f"{score}-{concurrency}-{start}"
                    seed_lean(lean.api, key, scores_yaml[score], jobs)
                    if start == "warm":
                        seed_lean(lean.api, f"{key}-warm", scores_yaml[score], concurrency)
                    row = run_case(env, score, key, jobs, concurrency, start == "cold")
                    rows.append(row)
                    print(
                        f"  {score} {start} c={concurrency}: {row.seconds:.1f}s "
                        f"{row.peak_mib:,.0f} MiB load {row.load:.1f}",
                        file=sys.stderr,
                        flush=True,
                    )
    print(f"\nModel {args.latency * 1000:.0f} ms, API and S3 30 ms; memory for GB-s {MEMORY_MB} MB")
    print(rows_table(rows))
    incomplete = [r for r in rows if r.completed != r.jobs]
    print(
        "(jobs: a/b when only a of b COMPLETED; CPU: the worker's process tree; peak PSS: the tree, sampled every 20 ms; GB-s/job: "
        "this drain's wall x 2 GB / jobs; Plexus GB-s/job: one job an invocation, the wall a "
        "job takes at concurrency 1 x 2 GB; load: 1-minute load average after the row)"
    )
    return 1 if incomplete else 0


if __name__ == "__main__":
    sys.exit(main())
