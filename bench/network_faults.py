"""What network faults cost the worker, and that they cost no job (issue 22).

Table 1, each fault kind on each kind of request, one at a time: a drain of one job
through the fault proxy of tests/reliability/fault_proxy.py, once clean and once with the
one fault, against the lean API (bench/lean_api.py: the emulator's rules, in memory). It
prints what the worker did (retried; retried and read the job back; found its own
ScoreResult), and what the fault cost: extra requests the proxy saw, extra seconds.

Table 2, a drain of a few hundred jobs (PLEXUS_CONCURRENCY 8) through the proxy with 10 % of
all requests faulted (every kind, seeded), against the same drain without faults: all
COMPLETED?, duplicate ScoreResults, faults injected, retries, time. Exits 1 when a job is
not COMPLETED or has two ScoreResults.

The scoring is a KeywordClassifier in this process (InProcessScorer) and the attachments stay
in memory: what is measured is the API traffic. The API answers after `--latency` (default
10 ms). The read-timeout fault holds an answer past PLEXUS_API_TIMEOUT_SECONDS, set here to
1 s (30 s by default: one such fault then costs 30 s).

    uv run python bench/network_faults.py [--jobs 300] [--rate 0.1] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from _lean_server import StandIn
from _services import PLEXUS_KEY, ROOT, machine, table, verdict

sys.path.insert(0, str(ROOT))
from plexus.clients.plexus_api import PlexusApi
from plexus.core.settings import Settings, load_settings
from plexus.scores.run import ScoringSettings
from plexus.worker.processor import DrainSummary, JobProcessor
from plexus.worker.scoring import InProcessScorer
from tests.reliability.api_faults import (
    APPLIED,
    BROKEN_YAML,
    FAULTS,
    KEYWORD_YAML,
    Backend,
    RandomFaults,
    ScriptedFaults,
)
from tests.reliability.fault_proxy import CLOSE, FaultProxy
from tests.worker.unit.fakes import FakeFiles, FakeResponses

TIMEOUT_SECONDS = 1.0
STALL_SECONDS = 1.3
REQUEST_KINDS = ("listing", "claim", "read", "result", "complete", "fail", "give_back")
OUTCOME = {
    "claim": "read back: the claim is its own",
    "result": "found its own ScoreResult (same id)",
    "complete": "read back: COMPLETED landed",
    "fail": "read back: FAILED landed",
    "give_back": "read back: PENDING landed",
}


def worker_settings(proxy: FaultProxy, retry_seconds: float, concurrency: int) -> Settings:
    return load_settings(
        {
            "PLEXUS_API_URL": f"{proxy.url}/graphql",
            "PLEXUS_API_KEY": PLEXUS_KEY,
            "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
            "PLEXUS_API_RETRY_SECONDS": str(retry_seconds),
            "PLEXUS_API_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "PLEXUS_CONCURRENCY": str(concurrency),
        }
    )


async def _drain(settings: Settings, account_key: str) -> tuple[DrainSummary, int]:
    async with PlexusApi(settings) as api:
        worker = JobProcessor(
            settings,
            api,
            scorer=InProcessScorer(ScoringSettings()),
            files=FakeFiles(),
            responses=FakeResponses(),
        )
        async with worker:
            summary = await worker.drain(account_key)
        return summary, api.retry_count


def drain(settings: Settings, account_key: str) -> tuple[DrainSummary, int, float]:
    started = time.perf_counter()
    summary, retries = asyncio.run(_drain(settings, account_key))
    return summary, retries, time.perf_counter() - started


def recent() -> str:
    return (datetime.now(UTC) - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class Run:
    requests: int
    seconds: float
    status: str


def one_job(
    backend: Backend, script: dict[str, list[Any]], configuration: str, retry: float
) -> Run:
    account_key, (job_id,) = backend.seed(1, configuration, created_at=recent())
    faults = ScriptedFaults({k: list(v) for k, v in script.items()})
    with FaultProxy(backend.url, faults, stall_seconds=STALL_SECONDS) as proxy:
        _, _, seconds = drain(worker_settings(proxy, retry, 1), account_key)
    return Run(sum(faults.sent.values()), seconds, backend.job(job_id)["status"])


def scenario(kind: str) -> tuple[str, dict[str, list[Any]]]:
    """The job and the faults every run of this request kind has, before the one measured."""
    if kind == "fail":
        return BROKEN_YAML, {}
    if kind == "give_back":  # a result that no retry gets through: the job is given back
        return KEYWORD_YAML, {"result": [CLOSE] * 6}
    return KEYWORD_YAML, {}


def fault_table(
    backend: Backend, faults: list[str], kinds: list[str], retry: float, runs: int
) -> list[Any]:
    """`runs`: clean drains of each scenario, the quickest the baseline."""
    rows = []
    for kind in kinds:
        configuration, base = scenario(kind)
        clean = min((one_job(backend, base, configuration, retry) for _ in range(runs)), key=cost)
        for fault in faults:
            script = {**base, kind: [*base.get(kind, []), FAULTS[fault]]}
            if kind == "give_back":
                script = {**base, "give_back": [FAULTS[fault]]}
            run = one_job(backend, script, configuration, retry)
            outcome = "retried"
            if fault in APPLIED and kind in OUTCOME:
                outcome += "; " + OUTCOME[kind]
            if run.status != clean.status:
                outcome += f"; ended {run.status}, not {clean.status}"
            rows.append(
                (
                    fault,
                    kind,
                    outcome,
                    f"{run.requests - clean.requests:+d}",
                    f"{run.seconds - clean.seconds:+.2f}",
                    run.status,
                )
            )
    return rows


def cost(run: Run) -> float:
    return run.seconds


def bulk(backend: Backend, jobs: int, rate: float, retry: float) -> tuple[bool, list[Any]]:
    rows, ok = [], True
    for label, fault_rate in (("no faults", 0.0), (f"{rate:.0%} of requests faulted", rate)):
        account_key, job_ids = backend.seed(jobs, created_at=recent())
        faults = RandomFaults(fault_rate, tuple(sorted(FAULTS)))
        rounds, retries, seconds, errors = 0, 0, 0.0, []
        with FaultProxy(backend.url, faults, stall_seconds=STALL_SECONDS) as proxy:
            settings = worker_settings(proxy, retry, 8)
            # A drain stopped by a fault past the retries is run again, as the next
            # scheduled invocation would; it is counted.
            # A drain stopped by a fault past the retries, or one that gave jobs back, is
            # followed by another, as the next scheduled invocation would; they are counted.
            while rounds < 5:
                summary, retried, took = drain(settings, account_key)
                rounds, retries, seconds = rounds + 1, retries + retried, seconds + took
                if summary.error is not None:
                    errors.append(summary.error)
                given_back = [o for o in summary.outcomes if o.status == "RELEASED"]
                errors += [f"job given back: {o.reason}" for o in given_back]
                if summary.error is None and not given_back:
                    break
        statuses = Counter(backend.job(j)["status"] for j in job_ids)
        duplicates = sum(1 for j in job_ids if len(backend.results(j)) > 1)
        complete = statuses == {"COMPLETED": jobs}
        ok = ok and complete and duplicates == 0
        injected = sum(faults.injected.values())
        rows.append(
            (
                label,
                jobs,
                dict(statuses),
                "yes" if complete else "NO",
                duplicates,
                sum(faults.sent.values()),
                injected,
                retries,
                rounds,
                f"{seconds:.1f}",
            )
        )
        if injected:
            by_kind = Counter({f"{k}/{f}": n for (k, f), n in faults.injected.items()})
            print("faults injected (request kind/fault):", dict(sorted(by_kind.items())))
        for error in errors:
            print("  then another drain:", error[:300])
    return ok, rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.10)
    parser.add_argument("--latency", type=float, default=0.01)
    parser.add_argument("--quick", action="store_true", help="a few jobs and faults: CI")
    args = parser.parse_args()
    # The production default wait (PLEXUS_API_RETRY_SECONDS=0.25); --quick waits less.
    retry = 0.02 if args.quick else 0.25
    jobs = 12 if args.quick else args.jobs
    faults = ["closed_after"] if args.quick else sorted(FAULTS)
    kinds = ["claim"] if args.quick else list(REQUEST_KINDS)

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"# network faults: {machine()}\n# load before: {load}")
    env = {**os.environ, "PLEXUS_API_KEY": PLEXUS_KEY}
    with StandIn("lean_api.py", "--latency", str(args.latency), env=env) as lean:
        backend = Backend(
            "lean", f"{lean.url}/graphql", PLEXUS_KEY, lambda r: lean.control("/_seed", r)
        )
        print(
            f"\nTable 1: one fault on one request (drain of one job; PLEXUS_API_RETRY_SECONDS="
            f"{retry}, PLEXUS_API_TIMEOUT_SECONDS={TIMEOUT_SECONDS:g}, API latency "
            f"{args.latency * 1000:g} ms); cost against the same drain without the fault"
        )
        rows = fault_table(backend, faults, kinds, retry, runs=1 if args.quick else 2)
        header = ("fault", "request", "outcome", "requests", "seconds", "job ends")
        print(table(rows, header))
        ok, bulk_rows = bulk(backend, jobs, args.rate, retry)
        print(f"\nTable 2: a drain of {jobs} jobs, PLEXUS_CONCURRENCY=8")
        header2 = (
            "drain",
            "jobs",
            "statuses",
            "all COMPLETED",
            "duplicates",
            "requests",
            "faults",
            "retries",
            "drains",
            "seconds",
        )
        print(table(bulk_rows, header2))
        clean, faulty = (float(r[-1]) for r in bulk_rows)
        print(f"time with faults / without: {faulty / clean:.2f}")
        backend.close()
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"# load after: {load}")
    print(verdict(ok, "every job COMPLETED, none with two ScoreResults"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
