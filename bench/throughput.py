"""Throughput: 200 LLM jobs with the model's latency set to 200 ms, at concurrency 1, 4, 16.

Reports jobs/s and the fraction of the ideal (jobs x latency / concurrency). Target: at
least 80% of ideal at concurrency 16. A run with a keyword score (no model at all) gives the
ceiling that the local API (moto behind graphql-core) sets, so a miss can be told apart
from a worker that does not overlap its model calls.
    uv run python bench/throughput.py [--jobs 200] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time

from _services import KEYWORD_YAML, LLM_YAML, machine, services, table, verdict

from plexus.api_client import PlexusApi
from plexus.processor import JobProcessor
from plexus.settings import load_settings


async def drain(account_key: str, concurrency: int) -> int:
    settings = dataclasses.replace(load_settings(), concurrency=concurrency)
    async with PlexusApi(settings) as api:
        processor = JobProcessor(settings, api)
        summary = await processor.drain(account_key)
        await processor.close()
    return summary.count("COMPLETED")


def run(s, yaml: str, jobs: int, concurrency: int, tag: str) -> float:
    key = f"{tag}-{concurrency}"
    account_id, card = s.account(key)
    score_id, _ = s.api.seed_score(card, "Greeting", yaml)
    for i in range(jobs):
        item = s.api.seed_item(account_id, text=f"Agent: hello caller {i}")
        s.api.seed_job(account_id, card, score_id, item)
    started = time.perf_counter()
    done = asyncio.run(drain(key, concurrency))
    seconds = time.perf_counter() - started
    assert done == jobs, f"{done} of {jobs} completed"
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    rows = []
    fraction_at_16 = 0.0
    with services() as s:
        s.openai.set_default(s.openai.answer_first_class)
        floor = run(s, KEYWORD_YAML, args.jobs, 16, "nomodel")
        rows.append(
            ("keyword (no model)", 16, f"{floor:.2f}", f"{args.jobs / floor:.1f}", "-", "-")
        )
        s.openai.latency = args.latency
        for concurrency in (1, 4, 16):
            seconds = run(s, LLM_YAML, args.jobs, concurrency, "llm")
            ideal = args.jobs * args.latency / concurrency
            fraction = ideal / seconds
            if concurrency == 16:
                fraction_at_16 = fraction
            rows.append(
                (
                    "LLM",
                    concurrency,
                    f"{seconds:.2f}",
                    f"{args.jobs / seconds:.1f}",
                    f"{ideal:.2f}",
                    f"{fraction:.0%}",
                )
            )
    print(f"{args.jobs} jobs, model latency {args.latency * 1000:.0f} ms; {machine()}")
    print(table(rows, ("score", "concurrency", "seconds", "jobs/s", "ideal s", "of ideal")))
    ok = fraction_at_16 >= 0.8
    print(verdict(ok, f"{fraction_at_16:.0%} of ideal at concurrency 16 (target 80%)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
