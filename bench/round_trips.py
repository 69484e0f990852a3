"""GraphQL requests per job, counted by the local Plexus API: a cache miss and a cache hit.

Targets: at most 6 requests on a miss, at most 4 on a hit.
    uv run python bench/round_trips.py
"""

from __future__ import annotations

import asyncio
import sys

from _services import LLM_YAML, services, table, verdict

from plexus.api_client import PlexusApi
from plexus.processor import JobProcessor
from plexus.settings import load_settings

PURPOSE = {
    "updateScoringJob": "claim (conditional) / finish",
    "getItem,getScore,getScorecard": "load item, score, scorecard",
    "getScoreVersion,listScoreResultByItemId": "champion version + cached result",
    "createScoreResult": "store the ScoreResult",
}


async def one(job_id: str) -> None:
    settings = load_settings()
    async with PlexusApi(settings) as api:
        processor = JobProcessor(settings, api)
        outcome = await processor.process_job_id(job_id)
        await processor.close()
    assert outcome.status == "COMPLETED", outcome


def main() -> int:
    with services() as s:
        account_id, card = s.account("rt")
        score_id, _ = s.api.seed_score(card, "Greeting", LLM_YAML)
        item = s.api.seed_item(account_id, text="Agent: hello!")
        figures = {}
        for case in ("miss", "hit"):
            job = s.api.seed_job(account_id, card, score_id, item)
            s.api.reset_counters()
            asyncio.run(one(job))
            figures[case] = list(s.api.requests)
    ok = len(figures["miss"]) <= 6 and len(figures["hit"]) <= 4
    for case, requests in figures.items():
        print(f"\ncache {case}: {len(requests)} requests")
        rows = [(i + 1, ",".join(r), PURPOSE.get(",".join(r), "?")) for i, r in enumerate(requests)]
        print(table(rows, ("#", "root fields", "for")))
    print()
    print(verdict(len(figures["miss"]) <= 6, f"miss {len(figures['miss'])} <= 6"))
    print(verdict(len(figures["hit"]) <= 4, f"hit {len(figures['hit'])} <= 4"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
