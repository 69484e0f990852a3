"""The worker's CPU per job, broken down by what spends it, with cProfile.

The worker drains LLM jobs in this process against the lean stand-ins of bench/throughput.py
(processes of their own, so none of their CPU is in the profile). First an unprofiled drain
gives the CPU per job; then the same drain under cProfile, timed by each thread's CPU clock
(`time.thread_time`), in the event loop's thread and in the threads `asyncio.to_thread`
runs blocking calls in. The profile's self time is grouped by the package that spends it (each
function counted once, so the groups add up to the whole); a second list gives the
inclusive time under a few entry points (these overlap: JSON inside the GraphQL client).
cProfile slows small Python functions more than C code, so shares are an estimate; the
"est. ms" column scales them to the unprofiled CPU per job.

Then it tries the cuts it proposes for this project's code, as patches in this process
(plexus/ itself is not changed), and prints the CPU per job before and after each.

    uv run python bench/worker_cpu.py [--jobs 200] [--concurrency 16] [--top 25] [--no-cuts]
    uv run python bench/worker_cpu.py --quick     # CI: a few jobs, fails on a stale name
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import statistics
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _services import LLM_YAML, machine, table
from throughput import drain, lean_services, seed_lean

# (group, whose, path or name fragments); the first match wins, so order matters.
GROUPS: list[tuple[str, str, tuple[str, ...]]] = [
    (
        "boto3: signing (SigV4, payload SHA-256)",
        "library",
        ("botocore/auth.py", "botocore/signers.py", "_hashlib", "hmac.py", "_sha256", "_md5"),
    ),
    (
        "boto3: the rest (request building, urllib3)",
        "library",
        ("botocore/", "boto3/", "urllib3/", "s3transfer/", "http/client.py", "/email/"),
    ),
    ("GraphQL client: gql", "library", ("site-packages/gql/",)),
    ("GraphQL client: graphql-core (print_ast, parse)", "library", ("site-packages/graphql/",)),
    (
        "HTTP client: aiohttp, yarl, multidict (gql's)",
        "library",
        ("aiohttp/", "yarl/", "multidict/", "aiohappyeyeballs/", "propcache/", "frozenlist/"),
    ),
    (
        "HTTP client: httpx2, httpcore2 (openai's)",
        "library",
        ("httpx2/", "httpcore2/", "site-packages/httpx/", "site-packages/httpcore/"),
    ),
    (
        "HTTP client: h11, anyio, sniffio (under httpcore2)",
        "library",
        ("/h11/", "anyio/", "sniffio/"),
    ),
    ("model client: openai", "library", ("site-packages/openai/",)),
    (
        "model client: pydantic (openai's models)",
        "library",
        ("pydantic/", "pydantic_core", "typing_extensions", "typing.py", "annotated_types"),
    ),
    ("prices: genai-prices", "library", ("genai_prices/",)),
    ("retries: tenacity", "library", ("tenacity/",)),
    ("score config: ruamel.yaml", "library", ("ruamel/", "_ruamel")),
    ("JSON (json, _json)", "stdlib", ("/json/", "_json")),
    ("logging (logging)", "stdlib", ("/logging/",)),
    ("logging: plexus/core/job_log.py", "project", ("plexus/core/job_log.py",)),
    ("powertools", "library", ("aws_lambda_powertools/",)),
    ("this project: plexus/", "project", ("/plexus/",)),
    (
        "event loop: asyncio, selectors",
        "stdlib",
        ("/asyncio/", "selectors.py", "select.epoll", "_asyncio", "'poll' of"),
    ),
    ("sockets (syscalls)", "stdlib", ("socket.py", "_socket", "ssl.py", "_ssl")),
    (
        "threads: to_thread's pool",
        "stdlib",
        ("concurrent/futures", "threading.py", "_thread", "queue.py", "contextvars"),
    ),
    ("uuid, datetime, re", "stdlib", ("uuid.py", "datetime", "/re/", "_sre", "_strptime")),
]
ENTRY_POINTS = [
    ("a GraphQL request (PlexusApi._execute)", "plexus/clients/plexus_api.py", "_execute"),
    ("  gql's session.execute", "gql/client.py", "execute"),
    ("the model call (Models.complete)", "plexus/scores/providers.py", "complete"),
    ("  its price (price_usd, genai-prices)", "plexus/scores/providers.py", "price_usd"),
    ("an S3 PUT (AttachmentStore.put)", "plexus/clients/attachments.py", "put"),
    (
        "  its signing, ahead (AttachmentStore._sign_keys)",
        "plexus/clients/attachments.py",
        "_sign_keys",
    ),
    ("  botocore's presigning", "botocore/signers.py", "generate_presigned_url"),
    ("the attachments' JSON (AttachmentStore.upload)", "plexus/clients/attachments.py", "upload"),
    ("json.dumps, every caller", "json/__init__.py", "dumps"),
    ("json.loads, every caller", "json/__init__.py", "loads"),
    ("logging: Logger._log, every caller", "logging/__init__.py", "_log"),
    ("the job processor's steps (JobProcessor._score)", "plexus/worker/processor.py", "_score"),
    (
        "the score configuration (parse_score_config)",
        "plexus/scores/config.py",
        "parse_score_config",
    ),
]


OTHER = ("everything else (stdlib and libraries)", "library")


def named_group(entry: tuple[str, int, str]) -> tuple[str, str] | None:
    path, _, name = entry
    text = f"{path}:{name}"
    for group, whose, fragments in GROUPS:
        if any(f in text for f in fragments):
            return group, whose
    return None


def self_time_by_group(entries: dict[Any, Any]) -> dict[tuple[str, str], float]:
    """Each function's self time to its group. A C built-in with no group of its own
    (isinstance, dict.get, ...) goes to its callers' groups, in proportion to the time each
    caller spent in it (cProfile records that per caller)."""
    groups: dict[tuple[str, str], float] = defaultdict(float)
    for entry, (_cc, _nc, tt, _ct, callers) in entries.items():
        group = named_group(entry)
        if group is not None or entry[0] != "~" or not callers:
            groups[group or OTHER] += tt
            continue
        spent = sum(c[2] for c in callers.values()) or 1.0
        for caller, c in callers.items():
            groups[named_group(caller) or OTHER] += tt * c[2] / spent
    return groups


# --- proposed cuts, tried as patches in this process only (plexus/ is not changed) --------
# (printing each GraphQL document once was one; it is applied: api_client.Document)


def parse_configs_once() -> Callable[[], None]:
    """The processor parses the score version's YAML for every job; a version's
    configuration never changes, so keep the parsed config by its text."""
    import functools

    import plexus.scores

    # The processor imports it from plexus.scores when a job needs it.
    original = plexus.scores.parse_score_config
    plexus.scores.parse_score_config = functools.lru_cache(maxsize=256)(original)
    return lambda: setattr(plexus.scores, "parse_score_config", original)


EXPERIMENTS = {
    "config-once": (parse_configs_once, "plexus/worker/processor.py: parse a version's YAML once"),
}


class ProfilingExecutor(ThreadPoolExecutor):
    """The loop's default executor, each task under its thread's own
    profiler."""

    def __init__(self) -> None:
        super().__init__(32, thread_name_prefix="profiled")
        self.profiles: list[cProfile.Profile] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def _run(self, fn: Any, *args: Any) -> Any:
        profile = getattr(self._local, "profile", None)
        if profile is None:
            profile = self._local.profile = cProfile.Profile(time.thread_time)
            with self._lock:
                self.profiles.append(profile)
        profile.enable()
        try:
            return fn(*args)
        finally:
            profile.disable()

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        assert not kwargs
        return super().submit(self._run, fn, *args)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2, help="model latency, seconds")
    parser.add_argument("--top", type=int, default=25, help="functions listed by self time")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the cuts' drains")
    parser.add_argument(
        "--no-cuts", dest="cuts", action="store_false", help="skip trying the proposed cuts"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few jobs, one round: that it runs, and every entry point is still called (CI)",
    )
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.concurrency, args.rounds, args.latency = 4, 2, 1, 0.01
    print(machine(), f"load average at start {os.getloadavg()[0]:.2f}")
    with lean_services(0.03, 0.03) as lean:
        os.environ.update(lean.env)
        lean.openai.set_latency(args.latency)
        keys = [("warm", 1), ("plain", args.jobs), ("profiled", args.jobs)]
        for round_ in range(args.rounds if args.cuts else 0):
            keys += [(f"r{round_}-{name}", args.jobs) for name in ("none", *EXPERIMENTS)]
        for key, jobs in keys:
            seed_lean(lean.api, key, LLM_YAML, jobs)
        if asyncio.run(drain("warm", args.concurrency)) != 1:
            raise SystemExit("the warm-up job did not complete")

        connections: dict[str, list[int]] = defaultdict(list)  # to the API, per drain

        def cpu_per_job(key: str, variant: str = "none") -> float:
            lean.api.reset()
            cpu = time.process_time()
            if asyncio.run(drain(key, args.concurrency)) != args.jobs:
                raise SystemExit(f"the drain {key} did not complete every job")
            ms = (time.process_time() - cpu) / args.jobs * 1000
            connections[variant].append(lean.api.stats()["connections"])
            return ms

        plain_ms = cpu_per_job("plain")

        # The loop's default executor, each of its threads profiled.
        executor = ProfilingExecutor()
        main_profile = cProfile.Profile(time.thread_time)
        main_profile.enable()
        # In process: the profiler sees this process only, not the score pool's workers.
        try:
            done = asyncio.run(drain("profiled", args.concurrency, executor, in_process=True))
        finally:
            main_profile.disable()
        executor.shutdown()
        if done != args.jobs:
            raise SystemExit("the profiled drain did not complete every job")
        # Each cut alone against the unchanged worker, interleaved round by round so that
        # the machine's other load falls on both alike; the median of the rounds.
        samples: dict[str, list[float]] = {"none": []}
        for round_ in range(args.rounds if args.cuts else 0):
            samples["none"].append(cpu_per_job(f"r{round_}-none"))
            for name, (patch, _what) in EXPERIMENTS.items():
                undo = patch()
                try:
                    samples.setdefault(name, []).append(cpu_per_job(f"r{round_}-{name}", name))
                finally:
                    undo()
        base = statistics.median(samples["none"]) if samples["none"] else 0.0

        def conns(name: str) -> str:
            return str(max(connections[name])) if connections[name] else ""

        cuts = [
            (
                "none: the worker as it is",
                "",
                f"{base:.2f}",
                "",
                " ".join(f"{v:.1f}" for v in samples["none"]),
                conns("none"),
            )
        ] * bool(samples["none"]) + [
            (
                what,
                f"{base:.2f}",
                f"{statistics.median(samples[name]):.2f}",
                f"{base - statistics.median(samples[name]):.2f}",
                " ".join(f"{v:.1f}" for v in samples[name]),
                conns(name),
            )
            for name, (_patch, what) in EXPERIMENTS.items()
            if samples.get(name)
        ]

    stats = pstats.Stats(main_profile)
    for profile in executor.profiles:
        stats.add(profile)
    entries: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_cc, _nc, tt, _ct, _callers) in entries.values())
    groups = self_time_by_group(entries)
    print(
        f"\n{args.jobs} LLM jobs, concurrency {args.concurrency}, model {args.latency * 1000:.0f} ms:"
        f" {plain_ms:.1f} ms of CPU a job unprofiled; the profile counts "
        f"{total / args.jobs * 1000:.1f} ms a job (cProfile's overhead included), "
        f"{len(executor.profiles)} pool thread(s) profiled"
    )
    rows = [
        (group, whose, f"{t / total:.1%}", f"{t / total * plain_ms:.2f}")
        for (group, whose), t in sorted(groups.items(), key=lambda kv: -kv[1])
    ]
    print("\nSelf time by what spends it (adds up to the whole):")
    print(table(rows, ("spent in", "whose", "share", "est. ms/job")))

    rows = []
    missing: list[str] = []
    for label, path, name in ENTRY_POINTS:
        matched = [
            ct
            for (p, _line, n), (_cc, _nc, _tt, ct, _c) in entries.items()
            if p.endswith(path) and n == name
        ]
        if matched:
            t = max(matched)
            rows.append((label, f"{t / total:.1%}", f"{t / total * plain_ms:.2f}"))
        else:
            rows.append((label, "-", "not called"))
            missing.append(f"{path}:{name}")
    print("\nInclusive time under entry points (overlapping):")
    print(table(rows, ("entry point", "share", "est. ms/job")))

    if cuts:
        print(
            f"\nProposed cuts, each alone as a patch, unprofiled, median of {args.rounds} "
            "interleaved rounds:"
        )
        print(table(cuts, ("cut", "ms/job without", "with", "saved", "rounds", "API conns")))

    print(f"\nTop {args.top} functions by self time:")
    top = sorted(entries.items(), key=lambda kv: -kv[1][2])[: args.top]
    rows = [
        (
            f"{os.path.relpath(p) if p.startswith('/') else p}:{line}({n})"[-90:],
            nc,
            f"{tt / total:.1%}",
            f"{tt / total * plain_ms:.2f}",
        )
        for (p, line, n), (_cc, nc, tt, _ct, _c) in top
    ]
    print(table(rows, ("function", "calls", "share", "est. ms/job")))
    if missing:
        # A renamed module or function: the breakdown above no longer says what it claims.
        print(f"\nentry points never called (renamed?): {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
