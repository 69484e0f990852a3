"""GraphQL requests per job, counted by the local Plexus API: a cache miss and a cache hit
of one job by id (the `{"scoringJobId"}` and SQS paths), and what a drain (`{}`) adds per
invocation. Targets: at most 6 requests on a miss, at most 4 on a hit.
    uv run python bench/round_trips.py
"""

from __future__ import annotations

import asyncio
import sys

from _services import LLM_YAML, machine, services, table, verdict

from plexus.api_client import PlexusApi
from plexus.processor import DrainSummary, JobOutcome, JobProcessor
from plexus.settings import load_settings

MISS_TARGET, HIT_TARGET = 6, 4
PURPOSE = {
    "listAccountByKey": "the account's id from PLEXUS_ACCOUNT_KEY (once per drain)",
    "listScoringJobByAccountId": "claimable jobs: PENDING, or IN_PROGRESS past the lease",
    "getItem,getScore,getScorecard": "the item's text, the score, the scorecard: one document",
    "getScoreVersion,listScoreResultByItemId": "the champion version and the cache lookup "
    "(newest prediction for item, score, version): one document",
    "createScoreResult": "the ScoreResult, attachments already in S3 (no update after)",
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
                names.count("listScoringJobByAccountId"),
            )
        )
    beyond = f"beyond {len(figures['miss'])}/job"
    print(table(rows, ("jobs", "requests", beyond, "listAccountByKey", "listings")))
    print(
        "(a drain lists again after each pass until a pass finds nothing to do, so the last "
        "listing is the one that finds the queue empty)"
    )
    miss, hit = len(figures["miss"]), len(figures["hit"])
    print()
    print(verdict(miss <= MISS_TARGET, f"cache miss: {miss} requests (target <= {MISS_TARGET})"))
    print(verdict(hit <= HIT_TARGET, f"cache hit: {hit} requests (target <= {HIT_TARGET})"))
    return 0 if miss <= MISS_TARGET and hit <= HIT_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
