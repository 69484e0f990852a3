"""Throughput of the worker: jobs/s against the ideal, and the CPU each job costs.

Table 1, the worker: one `JobProcessor.drain` (PLEXUS_CONCURRENCY = 1, 4, 16, 64) in a
process of its own, against lean stand-ins in processes of their own (bench/lean_api.py,
lean_openai.py, lean_s3.py): in memory, one event loop each, every answer delayed by a set
latency (API and S3 30 ms, about AppSync's and S3's; the model 200 ms and 1 s). They spend
a small fraction of the worker's CPU per request, so the figure is the worker's. The ideal
is concurrency / (model latency + the job's serial API and S3 latency), counted from the
requests the API stand-in saw. Target: at least 80 % of ideal at concurrency 16 and 64 with
the 200 ms model; the script exits 1 when missed and says what limits it.

Table 2, the emulator: the same worker against the tests' services (the local Plexus API,
graphql-core over DynamoDB in moto, and the fake OpenAI server). It is the ceiling of
`plexus-lambda dev` and of the tests, not of the worker; it does not decide the exit status.

    uv run python bench/throughput.py [--rounds 10] [--no-emulator] [--jobs N]

--rounds: jobs per case = max(20, rounds x concurrency); --jobs N sets every case to N jobs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from _lean_server import StandIn, process_cpu
from _proc_tree import PeakPss, worker_process
from _services import (
    BUCKET,
    KEYWORD_YAML,
    LLM_YAML,
    OPENAI_KEY,
    PLEXUS_KEY,
    REGION,
    Services,
    machine,
    services,
    table,
    verdict,
)

WORKER_TIMEOUT_S = 600.0
TARGET = 0.8
TARGET_CONCURRENCY = (16, 64)
TARGET_LATENCY = 0.2
# Root fields a drain sends once (or once a page), not once a job.
DRAIN_FIELDS = ("listAccountByKey", "listScoringJobByAccountId")


# --- the worker process ------------------------------------------------------------------


async def drain(
    account_key: str,
    concurrency: int,
    executor: Executor | None = None,
    *,
    in_process: bool = False,
) -> int:
    """One JobProcessor.drain of the account; `executor` becomes the loop's default one.
    `in_process` scores in this process (no pool, no time limit), so a profiler sees it."""
    from plexus.clients.plexus_api import PlexusApi
    from plexus.core.settings import load_settings
    from plexus.scores.run import ScoringSettings
    from plexus.worker.processor import JobProcessor

    if executor is not None:
        asyncio.get_running_loop().set_default_executor(executor)
    settings = dataclasses.replace(load_settings(), concurrency=concurrency)
    async with PlexusApi(settings) as api:
        scorer = None
        if in_process:
            from plexus.worker.scoring import InProcessScorer

            scorer = InProcessScorer(ScoringSettings.from_settings(settings))
            processor = JobProcessor(settings, api, scorer=scorer)
        else:  # also a checkout from before the pool, whose JobProcessor takes no scorer
            processor = JobProcessor(settings, api)
        try:
            summary = await processor.drain(account_key)
        finally:
            await processor.close()
            if scorer is not None:  # the processor closes what it made, not what it is given
                await scorer.close()
    return summary.count("COMPLETED")


def worker_cpu() -> float:
    """CPU seconds of this process and of its score worker processes (the process pool of
    plexus/worker/score_pool.py: scoring runs there), as the worker's own."""
    total = time.process_time()
    try:
        from plexus.worker import score_pool
    except ImportError:  # a checkout from before the pool
        return total
    pool = score_pool._shared
    for pid in pool.pids() if pool is not None else []:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def worker(warm_key: str, key: str, concurrency: int) -> None:
    """Drain `warm_key` (imports, clients, score workers), then time the drain of `key`."""
    asyncio.run(drain(warm_key, concurrency))
    print("ready", flush=True)
    sys.stdin.readline()  # the parent has taken its CPU snapshot
    cpu, own, started = worker_cpu(), time.process_time(), time.perf_counter()
    done = asyncio.run(drain(key, concurrency))
    seconds, cpu = time.perf_counter() - started, worker_cpu() - cpu
    own = time.process_time() - own
    print(json.dumps({"done": done, "seconds": seconds, "cpu": cpu, "own": own}), flush=True)


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Timed:
    seconds: float
    worker_cpu: float
    cpu: dict[str, float]  # per service process (or this process)
    busy: float  # the whole machine, every core
    peak_mib: float = 0.0  # peak PSS of the worker's process tree during the timed drain
    # Of worker_cpu, the worker process's own (its event loop and its S3 threads); the rest
    # is its score processes'.
    own_cpu: float = 0.0


def timed_drain(
    env: dict[str, str],
    warm_key: str,
    key: str,
    jobs: int,
    concurrency: int,
    before: Any,
    after: Any,
) -> Timed:
    """Run the worker process; `before()` is called once it is warm, `after()` when done.
    Both return {service: CPU seconds}."""
    with worker_process(__file__, [warm_key, key, str(concurrency)], env, WORKER_TIMEOUT_S) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"the worker for {key} failed while warming up")
        cpu, busy = before(), busy_seconds()
        sampler = PeakPss(proc.pid)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        peak = sampler.stop()
        busy = busy_seconds() - busy
        cpu = {name: used - cpu[name] for name, used in after().items()}
    if not line:
        raise SystemExit(f"the worker for {key} exited with status {proc.returncode}")
    result = json.loads(line)
    if result["done"] != jobs:
        raise SystemExit(f"{key}: {result['done']} of {jobs} jobs completed")
    return Timed(result["seconds"], result["cpu"], cpu, busy, peak / 1024, result.get("own", 0.0))


# --- table 1: the worker against the lean stand-ins ---------------------------------------


@dataclass
class Lean:
    api: StandIn
    openai: StandIn
    s3: StandIn
    env: dict[str, str]

    def all(self) -> tuple[StandIn, ...]:
        return (self.api, self.openai, self.s3)

    def cpu(self) -> dict[str, float]:
        return {s.name: process_cpu(s.pid) for s in self.all()}


@contextmanager
def lean_services(api_latency: float, s3_latency: float) -> Iterator[Lean]:
    env = {
        **os.environ,
        "PLEXUS_API_KEY": PLEXUS_KEY,
        "OPENAI_API_KEY": OPENAI_KEY,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    with ExitStack() as stack:
        api = stack.enter_context(StandIn("lean_api.py", "--latency", str(api_latency), env=env))
        openai = stack.enter_context(StandIn("lean_openai.py", env=env))
        s3 = stack.enter_context(
            StandIn("lean_s3.py", "--bucket", BUCKET, "--latency", str(s3_latency), env=env)
        )
        env.update(
            {
                "PLEXUS_API_URL": f"{api.url}/graphql",
                "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
                "OPENAI_BASE_URL": f"{openai.url}/v1",
                "AWS_ENDPOINT_URL_S3": s3.url,
                "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME": BUCKET,
                "PLEXUS_MIN_REMAINING_SECONDS": "5",
                "POWERTOOLS_LOG_LEVEL": "WARNING",
            }
        )
        env.pop("AWS_ENDPOINT_URL", None)
        yield Lean(api, openai, s3, env)


def seed_lean(api: StandIn, key: str, yaml: str, jobs: int) -> None:
    """An account with one scorecard, one score and `jobs` PENDING jobs on items of their own."""
    account, card, score, version = (str(uuid.uuid4()) for _ in range(4))
    items = [str(uuid.uuid4()) for _ in range(jobs)]
    api.control(
        "/_seed",
        {
            "Account": [{"id": account, "key": key, "name": key}],
            "Scorecard": [{"id": card, "accountId": account, "key": f"{key}-card", "name": key}],
            "ScoreVersion": [
                {"id": version, "scoreId": score, "configuration": yaml, "isFeatured": "false"}
            ],
            "Score": [
                {
                    "id": score,
                    "name": "Greeting",
                    "externalId": score,
                    "order": 0,
                    "type": "LLMClassifier",
                    "sectionId": f"section-{card}",
                    "scorecardId": card,
                    "championVersionId": version,
                }
            ],
            "Item": [
                {
                    "id": item,
                    "accountId": account,
                    "text": f"Agent: hello caller {i}",
                    "isEvaluation": False,
                }
                for i, item in enumerate(items)
            ],
            "ScoringJob": [
                {
                    "accountId": account,
                    "scorecardId": card,
                    "scoreId": score,
                    "itemId": item,
                    "status": "PENDING",
                }
                for item in items
            ],
        },
    )


@dataclass
class LeanRun:
    latency: float
    concurrency: int
    jobs: int
    timed: Timed
    api: dict[str, Any]  # the stand-ins' /_stats
    openai: dict[str, Any]
    s3: dict[str, Any]
    api_latency: float
    s3_latency: float

    @property
    def job_requests(self) -> float:
        """API requests per job, on the job's own path (claim to completion): serial."""
        ops = self.api["operations"]
        per_job = sum(n for op, n in ops.items() if not any(f in op for f in DRAIN_FIELDS))
        return per_job / self.jobs

    @property
    def drain_requests(self) -> int:
        ops = self.api["operations"]
        return sum(n for op, n in ops.items() if any(f in op for f in DRAIN_FIELDS))

    @property
    def serial(self) -> float:
        """A job's latency without the model: its API requests one after another, and one S3
        latency (the two attachment PUTs go out together)."""
        s3 = self.s3_latency if self.s3["requests"] else 0.0
        return self.job_requests * self.api_latency + s3

    @property
    def ideal_rate(self) -> float:
        return self.concurrency / (self.latency + self.serial)

    @property
    def rate(self) -> float:
        return self.jobs / self.timed.seconds

    @property
    def fraction(self) -> float:
        return self.rate / self.ideal_rate

    def ms(self, name: str) -> float:
        return self.timed.cpu[name] / self.jobs * 1000

    @property
    def worker_ms(self) -> float:
        return self.timed.worker_cpu / self.jobs * 1000

    @property
    def other_ms(self) -> float:
        known = self.timed.worker_cpu + sum(self.timed.cpu.values())
        return max(0.0, self.timed.busy - known) / self.jobs * 1000

    @property
    def worker_core(self) -> float:
        """Share of one core the worker process used: near 100 %, its CPU is the limit."""
        return self.timed.worker_cpu / self.timed.seconds


def run_lean(
    lean: Lean, latency: float, concurrency: int, jobs: int, tag: str, args: Any
) -> LeanRun:
    key = f"{tag}-{concurrency}"
    # A warm container: as many jobs as run at once (the score workers kept by the pool).
    seed_lean(lean.api, f"{key}-warm", LLM_YAML, concurrency)
    seed_lean(lean.api, key, LLM_YAML, jobs)
    lean.openai.set_latency(latency)

    def before() -> dict[str, float]:
        for s in lean.all():
            s.reset()
        return lean.cpu()

    timed = timed_drain(lean.env, f"{key}-warm", key, jobs, concurrency, before, lean.cpu)
    api, openai, s3 = (s.stats() for s in lean.all())
    return LeanRun(
        latency, concurrency, jobs, timed, api, openai, s3, args.api_latency, args.s3_latency
    )


def lean_table(runs: list[LeanRun]) -> str:
    rows = [
        (
            f"{r.latency * 1000:.0f}",
            r.concurrency,
            r.jobs,
            f"{r.timed.seconds:.2f}",
            f"{r.rate:.1f}",
            f"{r.ideal_rate:.1f}",
            f"{r.fraction:.1%}",
            r.openai["peak_in_flight"],
            r.api["peak_in_flight"],
            r.api["connections"],
            f"{r.job_requests:.2f}+{r.drain_requests}",
            f"{r.worker_ms:.1f}",
            f"{r.timed.own_cpu / r.jobs * 1000:.1f}",
            f"{r.ms('lean_api'):.2f}",
            f"{r.ms('lean_openai'):.2f}",
            f"{r.ms('lean_s3'):.2f}",
            f"{r.other_ms:.1f}",
            f"{r.worker_core:.0%}",
            f"{r.timed.busy / ((os.cpu_count() or 1) * r.timed.seconds):.0%}",
            f"{r.timed.peak_mib:,.0f}",
        )
        for r in runs
    ]
    header = (
        "model ms",
        "conc.",
        "jobs",
        "seconds",
        "jobs/s",
        "ideal/s",
        "of ideal",
        "peak model",
        "peak API",
        "API conns",
        "API req",
        "worker",
        "of it, own",
        "API",
        "OpenAI",
        "S3",
        "other",
        "worker core",
        "machine",
        "peak PSS MiB",
    )
    return table(rows, header)


def limits(run: LeanRun) -> str:
    """What keeps a run below the target, from its figures."""
    # The worker process's own CPU is one event loop under one GIL (its S3 threads share
    # it); its score processes run beside it, on the other cores.
    own_ms = run.timed.own_cpu / run.jobs * 1000 or run.worker_ms
    ceiling = 1000 / own_ms  # jobs/s the worker process's CPU allows on one core
    own_core = run.timed.own_cpu / run.timed.seconds if run.timed.own_cpu else run.worker_core
    reasons = []
    if own_core >= 0.85 or ceiling < TARGET * run.ideal_rate:
        reasons.append(
            f"the worker's CPU: {own_ms:.1f} ms a job in the worker process allows at most "
            f"{ceiling:.0f} jobs/s on one core ({ceiling / run.ideal_rate:.0%} of ideal); it "
            f"used {own_core:.0%} of a core (one event loop: the GIL keeps it to one); "
            f"80 % needs <= {1000 / (TARGET * run.ideal_rate):.1f} ms a job there"
        )
    busy = run.timed.busy / ((os.cpu_count() or 1) * run.timed.seconds)
    if busy >= 0.9:
        reasons.append(f"the machine: {busy:.0%} of every core busy (other processes included)")
    if run.openai["peak_in_flight"] < 0.9 * run.concurrency:
        reasons.append(
            f"overlap: at most {run.openai['peak_in_flight']} of {run.concurrency} model calls "
            "waited at once"
        )
    if not reasons:
        rounds = math.ceil(run.jobs / run.concurrency)
        gap = run.timed.seconds - run.jobs / run.ideal_rate
        drain = run.drain_requests * run.api_latency
        reasons.append(
            f"the worker's CPU on the jobs' path: {gap:.2f} s beyond the ideal, of which the "
            f"drain's {run.drain_requests} requests (account, listing pages) take at most "
            f"{drain:.2f} s; the other {gap - drain:.2f} s, {(gap - drain) / rounds * 1000:.0f} "
            f"ms a round of {run.concurrency} jobs, is the part of the "
            f"{run.concurrency * run.worker_ms:.0f} ms of CPU a round costs the worker that the "
            "waits do not hide (the jobs move in step, so each step's CPU comes as one burst "
            "that the burst's last job waits for)"
        )
    return "; ".join(reasons)


# --- table 2: the emulator (graphql-core over moto) ---------------------------------------


@dataclass
class EmulatorCase:
    score: str  # "keyword" (no model) or "LLM"
    concurrency: int
    jobs: int
    latency: float

    @property
    def ideal(self) -> float | None:
        return self.jobs * self.latency / self.concurrency if self.score == "LLM" else None


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
        with self._lock:
            events = sorted(
                [(t, 1) for t in self._starts] + [(t + latency, -1) for t in self._starts]
            )
        peak = level = 0
        for _, step in events:
            level += step
            peak = max(peak, level)
        return peak


def seed_emulator(s: Services, key: str, yaml: str, jobs: int) -> None:
    account_id, card = s.account(key)
    score_id, _ = s.api.seed_score(card, "Greeting", yaml)
    for i in range(jobs):
        item = s.api.seed_item(account_id, text=f"Agent: hello caller {i}")
        s.api.seed_job(account_id, card, score_id, item)


def emulator_table(jobs: int, latency: float) -> str:
    cases = [
        EmulatorCase("keyword", 16, jobs, 0.0),
        *(EmulatorCase("LLM", c, jobs, latency) for c in (1, 4, 16)),
    ]
    rows = []
    with services() as s:
        calls = ModelCalls(s)
        s.openai.set_default(calls.answer)
        moto_pid = s.moto_pid

        def cpu() -> dict[str, float]:
            return {"api": time.process_time(), "moto": process_cpu(moto_pid)}

        for i, case in enumerate(cases):
            s.openai.latency = case.latency
            yaml = LLM_YAML if case.score == "LLM" else KEYWORD_YAML
            key = f"emu{i}-{case.concurrency}"
            seed_emulator(s, f"{key}-warm", yaml, 1)
            seed_emulator(s, key, yaml, case.jobs)

            def before(cpu: Any = cpu) -> dict[str, float]:
                calls.clear()
                return cpu()

            env = {**os.environ, **s.env}
            t = timed_drain(env, f"{key}-warm", key, case.jobs, case.concurrency, before, cpu)
            ideal = case.ideal
            per_job = {k: v / case.jobs * 1000 for k, v in t.cpu.items()}
            other = max(0.0, t.busy - t.worker_cpu - sum(t.cpu.values())) / case.jobs * 1000
            rows.append(
                (
                    "LLM" if ideal else "keyword (no model)",
                    f"{case.latency * 1000:.0f}" if ideal else "-",
                    case.concurrency,
                    case.jobs,
                    f"{t.seconds:.2f}",
                    f"{case.jobs / t.seconds:.1f}",
                    f"{ideal / t.seconds:.0%}" if ideal else "-",
                    calls.peak_in_flight(case.latency) if ideal else "-",
                    f"{t.worker_cpu / case.jobs * 1000:.0f}",
                    f"{per_job['api']:.0f}",
                    f"{per_job['moto']:.0f}",
                    f"{other:.0f}",
                    f"{t.busy / ((os.cpu_count() or 1) * t.seconds):.0%}",
                )
            )
    header = (
        "score",
        "model ms",
        "conc.",
        "jobs",
        "seconds",
        "jobs/s",
        "of ideal*",
        "peak model",
        "worker",
        "API",
        "moto",
        "other",
        "machine",
    )
    return table(rows, header)


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10, help="jobs per case / concurrency")
    parser.add_argument("--jobs", type=int, help="jobs in every case (overrides --rounds)")
    parser.add_argument("--latencies", default="0.2,1.0", help="model latencies, seconds")
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument("--api-latency", type=float, default=0.03)
    parser.add_argument("--s3-latency", type=float, default=0.03)
    parser.add_argument("--no-emulator", action="store_true", help="skip table 2")
    parser.add_argument("--emulator-jobs", type=int, default=200)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 jobs a case at concurrency 1 and 4, lean stand-ins only, no verdict: that it runs (CI)",
    )
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.no_emulator = 4, True
        args.latencies, args.concurrency = "0.05", "1,4"
    if args.worker:
        worker(args.worker[0], args.worker[1], int(args.worker[2]))
        return 0
    latencies = [float(v) for v in args.latencies.split(",")]
    levels = [int(v) for v in args.concurrency.split(",")]
    print(machine(), f"load average at start {os.getloadavg()[0]:.2f}")

    runs: list[LeanRun] = []
    with lean_services(args.api_latency, args.s3_latency) as lean:
        for li, latency in enumerate(latencies):
            for concurrency in levels:
                jobs = args.jobs or max(20, args.rounds * concurrency)
                runs.append(run_lean(lean, latency, concurrency, jobs, f"lean{li}", args))
    print(
        f"\n1. The worker, against lean stand-ins (API {args.api_latency * 1000:.0f} ms, "
        f"S3 {args.s3_latency * 1000:.0f} ms a request, in memory, processes of their own)"
    )
    print(lean_table(runs))
    print(
        "(ideal/s: concurrency / (model + API req a job x API latency + one S3 latency); "
        "peak model / API: most requests in flight at once at the stand-in; API conns: TCP "
        "connections the worker opened to the API; API req: a job's "
        "requests + the drain's (account, listing pages); worker / API / OpenAI / S3 / other: "
        "CPU ms a job of each process and of everything else (kernel, other users); worker is "
        "the worker's process tree, 'of it, own' the worker process alone (its event loop and "
        "S3 threads; the rest is its score processes'); worker core: the worker's CPU over the wall time; machine: share of all cores busy; "
        "peak PSS: the worker's process tree, score processes included, in the timed drain)"
    )

    if not args.no_emulator:
        print(
            "\n2. The emulator: the same worker against the tests' services (local Plexus API, "
            "graphql-core over moto, and the fake OpenAI server), the ceiling of "
            "`plexus-lambda dev` and the tests, not of the worker"
        )
        print(emulator_table(args.emulator_jobs, TARGET_LATENCY))
        print(
            "(*of ideal: jobs x model latency / concurrency over the wall time, as this table "
            "always reported it; API: the local API and fake OpenAI, this process)"
        )

    if args.quick:
        return 0  # every case ran and completed its jobs; a few jobs say nothing of speed
    ok = True
    print()
    judged = [
        r for r in runs if r.latency == TARGET_LATENCY and r.concurrency in TARGET_CONCURRENCY
    ]
    if len(judged) != len(TARGET_CONCURRENCY):
        print(verdict(False, "the target's cases (model 200 ms, concurrency 16 and 64) not run"))
        ok = False
    for r in judged:
        met = r.fraction >= TARGET
        ok &= met
        what = f"{r.fraction:.1%} of ideal at concurrency {r.concurrency}, model 200 ms"
        print(verdict(met, f"{what} (target {TARGET:.0%})"))
        if not met:
            print(f"  limited by {limits(r)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
