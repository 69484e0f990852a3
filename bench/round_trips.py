"""GraphQL requests per job, counted by the local Plexus API: a cache miss and a cache hit
of one job by id (the `{"scoringJobId"}` and SQS paths), what a drain (`{}`) adds per
invocation, and a drain of an account with 10,000 finished jobs and 5 pending ones (the
history outside the drain window, then inside it). Targets: at most 6 requests on a miss,
at most 4 on a hit, and a drain whose requests do not grow with the history outside the
window.
    uv run python bench/round_trips.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

from _services import LLM_YAML, machine, services, table, verdict

from plexus.clients.plexus_api import PlexusApi
from plexus.core.settings import load_settings
from plexus.worker.claim import utc_iso
from plexus.worker.processor import DrainSummary, JobOutcome, JobProcessor

MISS_TARGET, HIT_TARGET = 6, 4
HISTORY, PENDING = 10_000, 5
LISTING = "listScoringJobByAccountIdAndCreatedAt"
PURPOSE = {
    "listAccountByKey": "the account's id from PLEXUS_ACCOUNT_KEY (once per drain)",
    LISTING: "claimable jobs created within PLEXUS_DRAIN_WINDOW_HOURS: PENDING, or "
    "IN_PROGRESS past the lease",
    "getItem,getScore,getScorecard": "the item's text, the score, the scorecard: one document",
    "getScoreVersion,listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt": "the champion "
    "version and the cache lookup (the newest prediction of item and score, limit 1): one "
    "document",
    "createScoreResult": "the ScoreResult, status COMPLETED, attachments already in S3",
}


async def one(job_id: str) -> JobOutcome:
    settings = load_settings()
    async with PlexusApi(settings) as api:
        processor = JobProcessor(settings, api)
        try:
            return await processor.process_job_id(job_id)
        finally:
            await processor.close()


async def drain(account_key: str) -> DrainSummary:
    settings = load_settings()
    async with PlexusApi(settings) as api:
        processor = JobProcessor(settings, api)
        try:
            return await processor.drain(account_key)
        finally:
            await processor.close()


def describe(requests: list[tuple[str, ...]]) -> list[tuple[int, str, str]]:
    rows = []
    claims_seen = 0
    for i, fields in enumerate(requests):
        name = ",".join(fields)
        if name == "updateScoringJob":
            what = (
                "claim: PENDING -> IN_PROGRESS, conditional on status"
                if claims_seen % 2 == 0
                else ("finish: COMPLETED, conditional on the claim's startedAt")
            )
            claims_seen += 1
        else:
            what = PURPOSE.get(name, "?")
        rows.append((i + 1, name, what))
    return rows


def main() -> int:
    global HISTORY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a history of 100 jobs, not 10,000 (CI)"
    )
    if parser.parse_args().quick:
        HISTORY = 100
    with services() as s:
        s.openai.set_default(s.openai.answer_first_class)
        account_id, card = s.account("rt")
        score_id, _ = s.api.seed_score(card, "Greeting", LLM_YAML)
        item = s.api.seed_item(account_id, text="Agent: hello!")
        figures: dict[str, list[tuple[str, ...]]] = {}
        for case, cached in (("miss", False), ("hit", True)):
            job = s.api.seed_job(account_id, card, score_id, item)
            s.api.reset_counters()
            outcome = asyncio.run(one(job))
            if outcome.status != "COMPLETED" or outcome.cached != cached:
                raise SystemExit(f"cache {case}: unexpected outcome {outcome}")
            figures[case] = list(s.api.requests)
        # Drains of 1 and 10 jobs, each job on its own item (a miss): what a drain adds.
        drained = {}
        for jobs in (1, 10):
            key = f"drain-{jobs}"
            acc, dcard = s.account(key)
            dscore, _ = s.api.seed_score(dcard, "Greeting", LLM_YAML)
            for i in range(jobs):
                s.api.seed_job(acc, dcard, dscore, s.api.seed_item(acc, text=f"hello {i}"))
            s.api.reset_counters()
            summary = asyncio.run(drain(key))
            if summary.count("COMPLETED") != jobs:
                raise SystemExit(f"drain of {jobs}: {summary.outcomes}")
            drained[jobs] = list(s.api.requests)
        # An account with 10,000 finished jobs and 5 pending ones.
        history: dict[str, tuple[int, int, float]] = {}
        for case, age in (
            ("outside the window (30 days old)", timedelta(days=30)),
            ("inside the window (1 hour old)", timedelta(hours=1)),
        ):
            key = f"history-{len(history)}"
            acc, hcard = s.account(key)
            hscore, _ = s.api.seed_score(hcard, "Greeting", LLM_YAML)
            old_item = s.api.seed_item(acc, text="old")
            created = utc_iso(datetime.now(UTC) - age)
            s.api.put_many(
                "ScoringJob",
                [
                    {
                        "accountId": acc,
                        "scorecardId": hcard,
                        "scoreId": hscore,
                        "itemId": old_item,
                        "status": "COMPLETED" if i % 10 else "FAILED",
                        "createdAt": created,
                        "startedAt": created,
                        "completedAt": created,
                    }
                    for i in range(HISTORY)
                ],
            )
            for i in range(PENDING):
                s.api.seed_job(acc, hcard, hscore, s.api.seed_item(acc, text=f"new {i}"))
            s.api.reset_counters()
            started = time.perf_counter()
            summary = asyncio.run(drain(key))
            seconds = time.perf_counter() - started
            if summary.count("COMPLETED") != PENDING:
                raise SystemExit(f"drain with history {case}: {summary.outcomes}")
            names = [",".join(r) for r in s.api.requests]
            history[case] = (len(names), names.count(LISTING), seconds)

    print(machine())
    for case, requests in figures.items():
        print(f"\none job by id, cache {case}: {len(requests)} requests")
        print(table(describe(requests), ("#", "root fields", "for")))
    extra = {n: len(r) - n * len(figures["miss"]) for n, r in drained.items()}
    print("\na drain (`{}` event), every job a cache miss: requests beyond the jobs' own")
    rows = []
    for n, requests in drained.items():
        names = [",".join(r) for r in requests]
        rows.append(
            (
                n,
                len(requests),
                extra[n],
                names.count("listAccountByKey"),
                names.count(LISTING),
            )
        )
    beyond = f"beyond {len(figures['miss'])}/job"
    print(table(rows, ("jobs", "requests", beyond, "listAccountByKey", "listings")))
    print(
        "(a drain lists again after each pass until a pass finds nothing to do, so the last "
        "listing is the one that finds the queue empty)"
    )
    print(f"\na drain of an account with {HISTORY:,} finished jobs and {PENDING} pending ones")
    rows = [
        (case, total, listings, f"{secs:.1f}") for case, (total, listings, secs) in history.items()
    ]
    print(table(rows, ("finished jobs", "requests", "listings", "seconds")))
    miss, hit = len(figures["miss"]), len(figures["hit"])
    outside = next(iter(history.values()))[0]
    flat = outside == 3 + PENDING * miss
    print()
    print(verdict(miss <= MISS_TARGET, f"cache miss: {miss} requests (target <= {MISS_TARGET})"))
    print(verdict(hit <= HIT_TARGET, f"cache hit: {hit} requests (target <= {HIT_TARGET})"))
    print(
        verdict(
            flat,
            f"drain with {HISTORY:,} finished jobs outside the window: {outside} requests "
            f"(target: 3 + {PENDING} x {miss}, as with no history)",
        )
    )
    return 0 if miss <= MISS_TARGET and hit <= HIT_TARGET and flat else 1


if __name__ == "__main__":
    sys.exit(main())
