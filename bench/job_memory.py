"""Memory of the worker with N jobs in flight: the peak PSS of its whole process tree.

Each case is one `plexus-lambda work --account KEY --concurrency N` process (the worker as
the Lambda function runs it, with its score worker processes forked per job in flight,
plexus/worker/score_pool.py) draining --rounds x N jobs of one score (default 2), against the tests' services on
127.0.0.1 (the local Plexus API on moto, the fake OpenAI server answering after --latency
seconds, so N jobs are in flight together). Every --interval seconds the script sums `Pss`
from /proc/PID/smaps_rollup over the worker and all its descendants; PSS splits each shared
page among the processes that map it, so the sum is what the tree costs the machine (what
counts against the function's memory), copy-on-write sharing included. It prints the peak,
the process count at the peak, and the cost of one more job in flight:
(peak at N - peak at 1) / (N - 1).

    uv run python bench/job_memory.py [--scores langgraph,tactus] [--concurrency 1,4,8,16]
        [--rounds 2] [--latency 3] [--quick]

Run it on a quiet machine: the figures are memory, not time, but a loaded machine delays the
samples (a short peak can be missed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from typing import Any

from _proc_tree import pss_kib, tree
from _services import KEYWORD_YAML, ROOT, machine, services, table
from cold_start import LANGGRAPH_YAML, TACTUS_YAML

SCORES = {"keyword": KEYWORD_YAML, "langgraph": LANGGRAPH_YAML, "tactus": TACTUS_YAML}


def sample_peak(proc: subprocess.Popen[bytes], interval: float) -> tuple[int, int]:
    """(peak summed PSS in KiB, processes at that peak) until `proc` exits."""
    peak, count = 0, 0
    while proc.poll() is None:
        try:
            pids = tree(proc.pid)
        except OSError:
            pids = [proc.pid]
        total = sum(pss_kib(p) for p in pids)
        if total > peak:
            peak, count = total, len(pids)
        time.sleep(interval)
    return peak, count


def run_case(
    s: Any, yaml: str, name: str, concurrency: int, rounds: int, interval: float
) -> tuple[int, int]:
    key = f"mem-{name}-{concurrency}-{time.monotonic_ns()}"
    account_id = s.api.seed_account(key)
    card = s.api.seed_scorecard(account_id, key=f"{key}-card")
    score, _ = s.api.seed_score(card, f"Greeting ({name})", yaml)
    jobs = rounds * concurrency
    for i in range(jobs):
        item = s.api.seed_item(account_id, text=f"Agent: hello caller {i}")
        s.api.seed_job(account_id, card, score, item)
    env = {**s.env, "PLEXUS_CONCURRENCY": str(concurrency), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plexus.tooling.cli", "work", "--account", key],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    watchdog = threading.Timer(600, proc.kill)
    watchdog.start()
    try:
        peak = sample_peak(proc, interval)
        out = proc.communicate()[0].decode()
    finally:
        watchdog.cancel()
    completed = out.count('"COMPLETED"')
    if completed != jobs:
        raise SystemExit(f"{name} at {concurrency}: {completed} of {jobs} completed")
    return peak


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scores", default="langgraph,tactus", help=",".join(SCORES))
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--rounds", type=int, default=2, help="jobs per case / concurrency")
    parser.add_argument("--latency", type=float, default=3.0, help="the model's, seconds")
    parser.add_argument("--interval", type=float, default=0.05, help="sampling, seconds")
    parser.add_argument("--quick", action="store_true", help="keyword, 1 and 2 jobs: a run check")
    args = parser.parse_args()
    if args.quick:
        args.scores, args.concurrency, args.rounds, args.latency = "keyword", "1,2", 1, 0.2
    levels = [int(c) for c in args.concurrency.split(",")]
    print(
        f"{machine()}; {args.rounds} x N jobs a case, model {args.latency} s; "
        f"load average at start {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    rows = []
    with services() as s:
        s.openai.set_default(s.openai.answer_first_class)
        s.openai.latency = args.latency
        for name in args.scores.split(","):
            peaks: dict[int, int] = {}
            for n in levels:
                load = os.getloadavg()[0]
                peak, count = run_case(s, SCORES[name], name, n, args.rounds, args.interval)
                peaks[n] = peak
                one = peaks.get(1)
                marginal = f"{(peak - one) / (n - 1) / 1024:.0f}" if one and n > 1 else "-"
                rows.append((name, n, f"{peak / 1024:.0f}", count, marginal, f"{load:.1f}"))
                print(table([rows[-1]], HEADER), flush=True)
    print()
    print(table(rows, HEADER))
    return 0


HEADER = ("score", "conc.", "peak PSS MiB", "processes", "MiB per extra job", "load at start")

if __name__ == "__main__":
    sys.exit(main())
