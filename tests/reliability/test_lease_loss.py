"""A live worker that outlives its lease: another worker claims the job again and finishes
it while the first is still waiting on the model. The job must still end with one
ScoreResult whose stored trace describes that result, whichever attempt finishes last."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from plexus.clients.plexus_api import PlexusApi
from plexus.core.settings import Settings
from plexus.worker.processor import JobOutcome, JobProcessor, score_result_id
from tests.conftest import BUCKET
from tests.worker.test_processor import LLM_YAML, answer


async def process_after(settings: Settings, job_id: str, delay: float) -> JobOutcome:
    await asyncio.sleep(delay)
    async with PlexusApi(settings) as client:
        processor = JobProcessor(settings, client)
        try:
            return await processor.process_job_id(job_id)
        finally:
            await processor.close()


def test_slow_worker_that_lost_its_lease_does_not_overwrite_the_result(
    settings, account, api, openai, s3
):
    settings = dataclasses.replace(settings, lease_seconds=0.5, model_timeout_seconds=5)
    score_id = account.score("Greeting", LLM_YAML)
    job_id = account.job(score_id, text="Hello, thanks for calling")
    # The first attempt's model call answers after 1.5 s, long past its 0.5 s lease; the
    # second attempt, claimed at 0.8 s, gets its answer at once, and a different one.
    openai.delay(1.5, openai.make_reply(answer("Yes", "slow attempt")))
    openai.reply(answer("No", "second attempt"))

    async def both() -> list[JobOutcome]:
        return list(
            await asyncio.gather(
                process_after(settings, job_id, 0), process_after(settings, job_id, 0.8)
            )
        )

    slow, second = asyncio.run(both())

    assert second.status == "COMPLETED", second.reason
    assert slow.status == "SKIPPED", slow  # it lost the job to the second attempt
    job = api.get("ScoringJob", job_id)
    assert job["status"] == "COMPLETED"
    assert json.loads(job["metadata"])["attempts"] == 2
    results = [r for r in api.scan("ScoreResult") if r.get("scoringJobId") == job_id]
    assert [r["id"] for r in results] == [score_result_id(job_id)]
    [result] = results
    assert result["value"] == "No"
    [trace_key] = [k for k in result["attachments"] if k.endswith("/trace.json")]
    trace = json.loads(read(s3, trace_key))
    assert trace["classification"]["value"] == result["value"], (
        "trace.json describes another attempt than the ScoreResult: "
        f"trace attempt {trace['attempt']}, value {trace['classification']['value']!r}; "
        f"ScoreResult value {result['value']!r}"
    )
    assert trace["attempt"] == 2


def read(s3: Any, key: str) -> str:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
