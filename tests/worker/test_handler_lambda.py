"""The score_processing handler as the image runs it: `python -m awslambdaric handler.handler`
in the handler's folder, against a Lambda Runtime API on 127.0.0.1, with the local Plexus
API, moto's S3 and the fake OpenAI server behind it."""

from __future__ import annotations

import json

import pytest

from plexus.tooling.invoke import LocalFunction
from tests.conftest import HANDLER_DIR, OPENAI_KEY, PLEXUS_KEY
from tests.support.lambda_events import sqs_event
from tests.worker.test_processor import KEYWORD_YAML, LLM_YAML, answer


@pytest.fixture
def worker_env(worker_env: dict[str, str]) -> dict[str, str]:
    # These records are judged one by one: the mapping has ReportBatchItemFailures.
    return {**worker_env, "PLEXUS_SQS_FAILURE_MODE": "report"}


@pytest.mark.slow
def test_drain_single_job_and_sqs_through_awslambdaric(function, account, api, openai):
    words = account.score("Greeting words", KEYWORD_YAML)
    llm = account.score("Greeting", LLM_YAML)
    drained = [account.job(words, text=t) for t in ("hello", "bye", "good morning")]
    openai.set_default(lambda body: openai.make_reply(answer("Yes")))

    result = function.invoke({}, timeout=60)

    assert result.ok, result.payload
    summary = json.loads(result.payload)
    assert summary["completed"] == 3, summary
    assert {j["id"] for j in summary["jobs"]} == set(drained)

    single = account.job(llm, text="hello")
    result = function.invoke({"scoringJobId": single}, timeout=60)
    assert result.ok, result.payload
    assert json.loads(result.payload)["jobs"][0]["status"] == "COMPLETED"

    good = account.job(words, text="hello")
    broken = account.job("no-such-score")
    event = sqs_event(
        json.dumps({"scoring_job_id": good}),
        "{not json",
        json.dumps({"scoring_job_id": good}),  # the same message delivered twice
        json.dumps({"scoring_job_id": broken}),
        json.dumps({"something": "else"}),
    )
    result = function.invoke(event, timeout=60)
    assert result.ok, result.payload
    failures = {f["itemIdentifier"] for f in json.loads(result.payload)["batchItemFailures"]}
    assert failures == {"msg-1", "msg-3", "msg-4"}
    assert api.get("ScoringJob", good)["status"] == "COMPLETED"
    results = [r for r in api.scan("ScoreResult") if r.get("scoringJobId") == good]
    assert len(results) == 1, "a message delivered twice creates one ScoreResult"
    assert api.get("ScoringJob", broken)["errorMessage"] == "score no-such-score not found"

    logs = function.log_path.read_text()
    assert "SQS body is not valid JSON" in logs
    assert PLEXUS_KEY not in logs and OPENAI_KEY not in logs
    # Powertools writes structured JSON log lines and EMF metrics.
    assert '"JobsCompleted"' in logs


def test_bad_event_is_an_error_naming_the_problem(function):
    result = function.invoke({"scoringJobId": 42}, timeout=30)
    assert not result.ok
    assert result.error_type == "EventError"
    assert "scoringJobId must be a string" in result.error_message


def test_missing_setting_names_the_variable(worker_env, tmp_path):
    env = {k: v for k, v in worker_env.items() if k != "PLEXUS_API_KEY"}
    with (
        (tmp_path / "log").open("wb") as log,
        LocalFunction(HANDLER_DIR, env=env, output=log) as fn,
    ):
        result = fn.invoke({}, timeout=30)
    assert not result.ok
    assert "PLEXUS_API_KEY is not set" in result.error_message
