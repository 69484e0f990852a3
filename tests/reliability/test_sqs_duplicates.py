"""SQS delivers at least once: the same message may come twice in one batch, again in a
later batch, or to two function instances at the same time. Each job is still scored once:
one ScoreResult, one model call, and no duplicate is reported as a failure (which would make
SQS deliver it yet again)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from plexus.tooling.invoke import LocalFunction
from plexus.worker.processor import score_result_id
from tests.conftest import HANDLER_DIR
from tests.reliability.model_faults import item_text
from tests.support.lambda_events import sqs_event
from tests.worker.test_processor import LLM_YAML


@pytest.fixture
def worker_env(worker_env: dict[str, str]) -> dict[str, str]:
    # These records are judged one by one: the mapping has ReportBatchItemFailures.
    return {**worker_env, "PLEXUS_SQS_FAILURE_MODE": "report"}


def model_calls_per_text(openai: Any) -> Counter[str]:
    return Counter(item_text(r["body"]).strip() for r in openai.requests)


def assert_one_result_each(api: Any, job_ids: list[str]) -> None:
    results = Counter(
        r["scoringJobId"] for r in api.scan("ScoreResult") if r.get("scoringJobId") in job_ids
    )
    assert results == Counter(job_ids), results
    for job_id in job_ids:
        job = api.get("ScoringJob", job_id)
        assert job["status"] == "COMPLETED"
        assert json.loads(job["metadata"])["scoreResultId"] == score_result_id(job_id)


@pytest.mark.slow
def test_duplicates_in_one_batch_and_in_a_later_one(function, account, api, openai):
    score_id = account.score("Greeting", LLM_YAML)
    texts = [f"Agent: good morning, caller {i}" for i in range(3)]
    jobs = [account.job(score_id, text=t) for t in texts]
    bodies = [json.dumps({"scoring_job_id": j}) for j in jobs]
    # The first message twice, and the second in both of its spellings.
    event = sqs_event(
        bodies[0], bodies[1], bodies[0], json.dumps({"scoringJobId": jobs[1]}), bodies[2]
    )

    first = function.invoke(event, timeout=60)
    again = function.invoke(event, timeout=60)

    for result in (first, again):
        assert result.ok, result.payload
        assert json.loads(result.payload)["batchItemFailures"] == []
    assert_one_result_each(api, jobs)
    assert model_calls_per_text(openai) == Counter(texts)


@pytest.mark.slow
def test_same_batch_to_two_functions_at_once(worker_env, account, api, openai, tmp_path: Path):
    score_id = account.score("Greeting", LLM_YAML)
    texts = [f"Agent: hello there, caller {i}" for i in range(6)]
    jobs = [account.job(score_id, text=t) for t in texts]
    event = sqs_event(*(json.dumps({"scoring_job_id": j}) for j in jobs))
    # Slow enough that the two functions' work overlaps.
    openai.latency = 0.2
    results: dict[str, Any] = {}
    with (
        (tmp_path / "a.log").open("wb") as log_a,
        (tmp_path / "b.log").open("wb") as log_b,
        LocalFunction(HANDLER_DIR, env=worker_env, output=log_a) as fn_a,
        LocalFunction(HANDLER_DIR, env=worker_env, output=log_b) as fn_b,
    ):
        fn_a.wait_ready(30)
        fn_b.wait_ready(30)
        barrier = threading.Barrier(2)

        def invoke(name: str, fn: LocalFunction) -> None:
            barrier.wait()
            results[name] = fn.invoke(event, timeout=60)

        threads = [
            threading.Thread(target=invoke, args=(name, fn))
            for name, fn in (("a", fn_a), ("b", fn_b))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)

    assert set(results) == {"a", "b"}
    for result in results.values():
        assert result.ok, result.payload
        assert json.loads(result.payload)["batchItemFailures"] == []
    assert_one_result_each(api, jobs)
    assert model_calls_per_text(openai) == Counter(texts)
    # Both functions took part: each claimed some jobs and found the others taken.
    logs = [(tmp_path / name).read_text() for name in ("a.log", "b.log")]
    assert all("claimed (attempt 1)" in log for log in logs), "one function did everything"
