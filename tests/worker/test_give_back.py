"""Before the invocation ends, the worker gives back the jobs it cannot finish: PENDING
again (a conditional write on its own claim), for the next invocation to claim, rather than
IN_PROGRESS until the lease expires. Real services: the local API, S3 in moto."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from typing import Any

import pytest

from plexus.clients.plexus_api import PlexusApi
from plexus.worker.processor import GIVE_BACK_SECONDS, JobProcessor

KEYWORD_YAML = """
class: KeywordClassifier
rules: [{value: "Yes", keywords: [hello]}]
default: "No"
"""
SLOW_GRAPH = """
class: LangGraphScore
graph:
  - name: slow
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          while True:
              pass
"""


def drain_with_clock(settings: Any, account_key: str, seconds_left: float) -> Any:
    started: list[float] = []

    def remaining() -> float:
        # The invocation's clock starts with the first claim (not with the API's connection).
        started[:] = started or [time.monotonic()]
        return seconds_left - (time.monotonic() - started[0])

    async def go() -> Any:
        async with (
            PlexusApi(settings) as api,
            JobProcessor(settings, api, remaining_seconds=remaining) as processor,
        ):
            return await processor.drain(account_key)

    return asyncio.run(go())


@pytest.mark.slow
def test_a_job_the_invocation_cannot_finish_goes_back_to_pending(settings, account, api):
    # A generous score limit: the invocation's end comes first.
    settings = dataclasses.replace(settings, score_timeout_seconds=120, min_remaining_seconds=1)
    slow = account.job(account.score("Slow", SLOW_GRAPH))
    quick = [account.job(account.score(f"Quick {i}", KEYWORD_YAML)) for i in range(2)]
    started = time.monotonic()

    summary = drain_with_clock(settings, account.key, seconds_left=GIVE_BACK_SECONDS + 10)

    took = time.monotonic() - started
    by_id = {o.job_id: o for o in summary.outcomes}
    assert [by_id[j].status for j in quick] == ["COMPLETED", "COMPLETED"]
    assert by_id[slow].status == "RELEASED", by_id[slow]
    assert "invocation ends before the score could finish" in by_id[slow].reason
    assert "in node 'slow'" in by_id[slow].reason
    # Given back once, not claimed again by this invocation's next pass.
    assert [o.job_id for o in summary.outcomes].count(slow) == 1
    assert took < 10 + 15, took
    job = api.get("ScoringJob", slow)
    assert job["status"] == "PENDING"
    assert json.loads(job["metadata"])["releases"] == 1
    assert not job.get("errorMessage")

    # The next invocation claims it again; a job given back max_attempts times is FAILED.
    for _ in range(settings.max_attempts - 1):
        drain_with_clock(settings, account.key, seconds_left=GIVE_BACK_SECONDS + 1.5)
    job = api.get("ScoringJob", slow)
    assert job["status"] == "FAILED"
    assert job["errorMessage"].startswith(f"given back {settings.max_attempts} times")
