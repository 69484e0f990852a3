"""Malformed SQS records, through the handler under awslambdaric: each gets a clear error
for that record alone (logged, and listed in batchItemFailures), and the rest of the batch
is processed as if it were not there."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import OPENAI_KEY, PLEXUS_KEY
from tests.support.lambda_events import sqs_event
from tests.worker.test_processor import KEYWORD_YAML


@pytest.fixture
def worker_env(worker_env: dict[str, str]) -> dict[str, str]:
    # These records are judged one by one: the mapping has ReportBatchItemFailures.
    return {**worker_env, "PLEXUS_SQS_FAILURE_MODE": "report"}


def failed_ids(result: Any) -> set[str]:
    assert result.ok, result.payload
    return {f["itemIdentifier"] for f in json.loads(result.payload)["batchItemFailures"]}


def assert_scored_once(api: Any, job_ids: list[str]) -> None:
    results = [r for r in api.scan("ScoreResult") if r.get("scoringJobId") in job_ids]
    assert sorted(r["scoringJobId"] for r in results) == sorted(job_ids)
    for job_id in job_ids:
        assert api.get("ScoringJob", job_id)["status"] == "COMPLETED"


@pytest.mark.slow
def test_malformed_bodies_fail_alone(function, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    good = [account.job(score_id, text="hello") for _ in range(3)]
    bodies = {
        "good-0": json.dumps({"scoring_job_id": good[0]}),
        "truncated": "{truncated",
        "empty": "",
        "no-id": json.dumps({"job": good[1]}),
        "id-is-int": json.dumps({"scoring_job_id": 12345}),
        "id-is-list": json.dumps({"scoringJobId": [good[1]]}),
        "id-blank": json.dumps({"scoring_job_id": "  "}),
        "good-1": json.dumps({"scoring_job_id": good[1]}),
        "three-mb": json.dumps({"scoring_job_id": good[2], "padding": "y" * 3_000_000}),
        "list": json.dumps(["a", "list"]),
        "null": "null",
        "good-2": json.dumps({"scoringJobId": good[2]}),
    }
    event = sqs_event(*bodies.values())
    names = dict(zip(bodies, (r["messageId"] for r in event["Records"]), strict=True))

    result = function.invoke(event, timeout=60)

    bad = {names[n] for n in bodies if not n.startswith("good")}
    assert failed_ids(result) == bad
    assert_scored_once(api, good)
    logs = function.log_path.read_text()
    for message_id, reason in [
        (names["truncated"], "SQS body is not valid JSON"),
        (names["empty"], "SQS body is not valid JSON"),
        (names["no-id"], "SQS body has no scoring_job_id"),
        (names["id-is-int"], "scoring_job_id must be a string, got int"),
        (names["id-is-list"], "scoringJobId must be a string, got list"),
        (names["id-blank"], "scoring_job_id must be a non-empty printable id"),
        (names["three-mb"], "SQS body is larger than 262144 bytes"),
        (names["list"], "SQS body must be a JSON object, got list"),
        (names["null"], "SQS body must be a JSON object, got NoneType"),
    ]:
        assert f"SQS message {message_id} rejected: {reason}" in logs
    assert PLEXUS_KEY not in logs and OPENAI_KEY not in logs


def test_broken_and_foreign_records_fail_alone(function, account, api):
    """Records that are not well-formed SQS messages: another service's record, one without
    a body, one whose body is not a string, and one without a messageId (which cannot be
    listed in batchItemFailures, so it must be logged and must not fail the others)."""
    score_id = account.score("Greeting words", KEYWORD_YAML)
    good = [account.job(score_id, text="hello") for _ in range(2)]
    event = sqs_event(
        json.dumps({"scoring_job_id": good[0]}), json.dumps({"scoring_job_id": good[1]})
    )
    template = event["Records"][0]
    s3_record = {
        "messageId": "from-s3",
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}},
    }
    no_body = {k: v for k, v in template.items() if k != "body"} | {"messageId": "no-body"}
    dict_body = template | {"messageId": "dict-body", "body": {"scoring_job_id": good[0]}}
    no_message_id = {k: v for k, v in template.items() if k != "messageId"} | {"body": "{"}
    event["Records"][1:1] = [s3_record, no_body, dict_body, no_message_id]

    result = function.invoke(event, timeout=60)

    assert failed_ids(result) == {"from-s3", "no-body", "dict-body"}
    assert_scored_once(api, good)
    logs = function.log_path.read_text()
    assert "SQS message from-s3 rejected: record is not an SQS message" in logs
    assert "SQS message no-body rejected: SQS record has no body" in logs
    assert "SQS message dict-body rejected: SQS body must be a string, got dict" in logs
    assert "has no messageId" in logs
