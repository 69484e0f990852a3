"""A live worker that outlives its lease: another worker claims the job again and finishes
it while the first is still waiting on the model. The job must still end with one
ScoreResult whose stored trace describes that result, whichever attempt finishes last.

The steps are ordered by events, not by sleeps: the second worker starts only once the
first holds the job, is waiting on the model and its lease has run out; the first gets its
answer only once the second has finished. (Sleeps made it flaky on a busy machine: the first
worker's start-up, imports included, could outlast the second's head start, so the two
swapped roles.)"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from plexus.clients.plexus_api import PlexusApi
from plexus.core.settings import Settings
from plexus.worker.processor import JobOutcome, JobProcessor, score_result_id
from tests.conftest import BUCKET
from tests.worker.test_processor import LLM_YAML, answer

LEASE_SECONDS = 0.5


async def process(settings: Settings, job_id: str) -> JobOutcome:
    async with PlexusApi(settings) as client:
        processor = JobProcessor(settings, client)
        try:
            return await processor.process_job_id(job_id)
        finally:
            await processor.close()


class SlowFirstModel:
    """Answers the first call ("Yes") only once `release` is set; every later one at once."""

    def __init__(self, openai: Any) -> None:
        self.openai = openai
        self.first_waiting = threading.Event()
        self.release = threading.Event()
        self._calls = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Any:
        with self._lock:
            self._calls += 1
            first = self._calls == 1
        if first:
            self.first_waiting.set()
            self.release.wait(timeout=60)
            return self.openai.make_reply(answer("Yes", "slow attempt"))
        return self.openai.make_reply(answer("No", "second attempt"))


async def until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.mark.slow
def test_slow_worker_that_lost_its_lease_does_not_overwrite_the_result(
    settings, account, api, openai, s3
):
    settings = dataclasses.replace(
        settings, lease_seconds=LEASE_SECONDS, model_timeout_seconds=60, model_max_retries=0
    )
    score_id = account.score("Greeting", LLM_YAML)
    job_id = account.job(score_id, text="Hello, thanks for calling")
    model = SlowFirstModel(openai)
    openai.set_default(model)

    async def both() -> tuple[JobOutcome, JobOutcome]:
        slow_task = asyncio.create_task(process(settings, job_id))
        try:
            await until(model.first_waiting.is_set, 60, "the first attempt's model call")
            started = api.get("ScoringJob", job_id)["startedAt"]
            expires = datetime.strptime(started, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            await asyncio.sleep(max(0.0, expires.timestamp() + LEASE_SECONDS + 0.1 - time.time()))
            second = await process(settings, job_id)
        finally:
            model.release.set()
        return await slow_task, second

    try:
        slow, second = asyncio.run(both())
    finally:
        openai.set_default(None)

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
