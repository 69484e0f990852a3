"""Throughput: 200 LLM jobs with the model's latency set to 200 ms, at concurrency 1, 4, 16.

Reports jobs/s and the fraction of the ideal (jobs x latency / concurrency). Target: at
least 80% of ideal at concurrency 16.

The worker (one `JobProcessor.drain`) runs in a process of its own, so that its CPU time
is measured apart from the local services': the local Plexus API and the fake OpenAI
server (this process) and moto (another). A keyword score (no model call) gives the
ceiling these emulated services set on this machine, so a miss can be told apart from a
worker that does not overlap its model calls.
    uv run python bench/throughput.py [--jobs 200] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from _services import KEYWORD_YAML, LLM_YAML, Services, machine, services, table, verdict

WORKER_TIMEOUT_S = 300.0


@dataclass
class Run:
    jobs: int
    seconds: float
    worker_cpu: float  # the worker process
    api_cpu: float  # this process: local Plexus API and fake OpenAI
    moto_cpu: float  # moto's process
    busy_cpu: float  # the whole machine (all cores)
    peak_in_flight: int  # model calls at once

    @property
    def other_cpu(self) -> float:
        """Everything else: the kernel's share of loopback traffic, other people's processes
        (clock ticks are 10 ms, so a quiet machine may show a little below zero: 0)."""
        return max(0.0, self.busy_cpu - self.worker_cpu - self.api_cpu - self.moto_cpu)

    def per_job_ms(self, cpu: float) -> str:
        return f"{cpu / self.jobs * 1000:.0f}"


@dataclass
class Case:
    score: str  # "keyword" (no model) or "LLM"
    concurrency: int
    jobs: int
    latency: float  # the model's, seconds (none for keyword)

    @property
    def ideal(self) -> float | None:
        return self.jobs * self.latency / self.concurrency if self.score == "LLM" else None


# --- the worker process ------------------------------------------------------------------


async def _drain(account_key: str, concurrency: int) -> int:
    from plexus.api_client import PlexusApi
    from plexus.processor import JobProcessor
    from plexus.settings import load_settings

    settings = dataclasses.replace(load_settings(), concurrency=concurrency)
    async with PlexusApi(settings) as api:
        processor = JobProcessor(settings, api)
        try:
            summary = await processor.drain(account_key)
        finally:
            await processor.close()
    return summary.count("COMPLETED")


def worker(warm_key: str, key: str, concurrency: int) -> None:
    """Drain `warm_key` (one job: imports and clients), then time the drain of `key`."""
    asyncio.run(_drain(warm_key, concurrency))
    print("ready", flush=True)
    sys.stdin.readline()  # the parent has taken its CPU snapshot
    cpu, started = time.process_time(), time.perf_counter()
    done = asyncio.run(_drain(key, concurrency))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"done": done, "seconds": seconds, "cpu": cpu}), flush=True)


# --- the benchmark -------------------------------------------------------------------------


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class ModelCalls:
    """When each model call reached the fake OpenAI server (its latency starts then)."""

    def __init__(self, s: Services) -> None:
        self._openai = s.openai
        self._lock = threading.Lock()
        self._starts: list[float] = []

    def answer(self, body: dict[str, Any]) -> Any:
        with self._lock:
            self._starts.append(time.monotonic())
        return self._openai.answer_first_class(body)

    def clear(self) -> None:
        with self._lock:
            self._starts.clear()

    def peak_in_flight(self, latency: float) -> int:
        """The most calls waiting on the model at one moment: the overlap the worker reached."""
        with self._lock:
            events = sorted(
                [(t, 1) for t in self._starts] + [(t + latency, -1) for t in self._starts]
            )
        peak = level = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        return peak


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def seed(s: Services, key: str, yaml: str, jobs: int) -> None:
    account_id, card = s.account(key)
    score_id, _ = s.api.seed_score(card, "Greeting", yaml)
    for i in range(jobs):
        item = s.api.seed_item(account_id, text=f"Agent: hello caller {i}")
        s.api.seed_job(account_id, card, score_id, item)


def run(s: Services, calls: ModelCalls, case: Case, tag: str) -> Run:
    jobs, concurrency = case.jobs, case.concurrency
    yaml = LLM_YAML if case.score == "LLM" else KEYWORD_YAML
    key = f"{tag}-{concurrency}"
    seed(s, f"{key}-warm", yaml, 1)
    seed(s, key, yaml, jobs)
    proc = subprocess.Popen(
        [sys.executable, __file__, "--worker", f"{key}-warm", key, str(concurrency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    # A worker that hangs must not hang the benchmark: kill it, and readline() then ends.
    watchdog = threading.Timer(WORKER_TIMEOUT_S, proc.kill)
    watchdog.start()
    try:
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the worker for {key} failed while warming up")
        calls.clear()
        api_cpu, moto_cpu, busy = time.process_time(), process_cpu(s.moto_pid), busy_seconds()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        api_cpu = time.process_time() - api_cpu
        moto_cpu = process_cpu(s.moto_pid) - moto_cpu
        busy = busy_seconds() - busy
    finally:
        proc.stdin.close()
        proc.wait(timeout=WORKER_TIMEOUT_S)
        watchdog.cancel()
    if not line:
        raise SystemExit(f"the worker for {key} exited with status {proc.returncode}")
    result = json.loads(line)
    if result["done"] != jobs:
        raise SystemExit(f"{key}: {result['done']} of {jobs} jobs completed")
    peak = calls.peak_in_flight(case.latency)
    return Run(jobs, result["seconds"], result["cpu"], api_cpu, moto_cpu, busy, peak)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="model latency, seconds")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return 0
    cases = [
        # The ceiling of the emulated services: the same jobs with no model call at all.
        Case("keyword", 16, args.jobs, 0.0),
        *(Case("LLM", c, args.jobs, args.latency) for c in (1, 4, 16)),
    ]
    results: list[tuple[Case, Run]] = []
    with services() as s:
        calls = ModelCalls(s)
        s.openai.set_default(calls.answer)
        for i, case in enumerate(cases):
            s.openai.latency = case.latency
            results.append((case, run(s, calls, case, f"case{i}")))
    cores = os.cpu_count() or 1
    rows = []
    for case, r in results:
        ideal = case.ideal
        rows.append(
            (
                "LLM" if ideal else "keyword (no model)",
                f"{case.latency * 1000:.0f}" if ideal else "-",
                case.concurrency,
                case.jobs,
                f"{r.seconds:.2f}",
                f"{case.jobs / r.seconds:.1f}",
                f"{ideal:.2f}" if ideal else "-",
                f"{ideal / r.seconds:.0%}" if ideal else "-",
                r.peak_in_flight if ideal else "-",
                r.per_job_ms(r.worker_cpu),
                r.per_job_ms(r.api_cpu),
                r.per_job_ms(r.moto_cpu),
                r.per_job_ms(r.other_cpu),
                f"{r.busy_cpu / (cores * r.seconds):.0%}",
            )
        )
    print(machine())
    header = (
        "score",
        "model ms",
        "conc.",
        "jobs",
        "seconds",
        "jobs/s",
        "ideal s",
        "of ideal",
        "peak",
    )
    cpu = ("worker", "API", "moto", "other", "machine busy")
    print(table(rows, header + cpu))
    print(
        "(peak: most model calls in flight at once; "
        "worker / API / moto / other: CPU ms per job of the worker process, the local API "
        "and fake OpenAI, moto, and everything else (kernel, other processes); machine busy: "
        "share of all cores)"
    )
    floor, (case16, llm16) = results[0][1], results[3]
    ideal16 = case16.ideal or 0.0
    fraction = ideal16 / llm16.seconds
    print(
        f"at concurrency 16: with no model at all the same jobs take {floor.seconds:.2f} s "
        f"(the emulated services' ceiling, {ideal16 / floor.seconds:.0%} of the LLM ideal); "
        f"the LLM run reaches {floor.seconds / llm16.seconds:.0%} of that ceiling, its "
        f"{case16.jobs * case16.latency:.0f} s of model time adding "
        f"{llm16.seconds - floor.seconds:.2f} s to the wall time; the worker's own CPU for it "
        f"is {llm16.worker_cpu:.2f} s ({ideal16 / max(ideal16, llm16.worker_cpu):.0%} of "
        "ideal on a core of its own)"
    )
    ok = fraction >= 0.8
    print(verdict(ok, f"{fraction:.0%} of ideal at concurrency 16 (target 80%)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
