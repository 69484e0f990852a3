"""Malformed SQS records, through the handler under awslambdaric: each gets a clear error
for that record alone, and the rest of the batch is processed."""

from __future__ import annotations

import json

from tests.support.lambda_events import sqs_event
from tests.worker.test_processor import KEYWORD_YAML


def test_malformed_records_fail_alone(function, account, api):
    score_id = account.score("Greeting words", KEYWORD_YAML)
    good = [account.job(score_id, text="hello") for _ in range(3)]
    bodies = [
        json.dumps({"scoring_job_id": good[0]}),
        "{truncated",  # invalid JSON
        json.dumps({"job": good[1]}),  # no id
        json.dumps({"scoring_job_id": 12345}),  # wrong type
        json.dumps({"scoring_job_id": good[1]}),
        json.dumps({"scoring_job_id": "x", "padding": "y" * 3_000_000}),  # several MB
        json.dumps(["a", "list"]),
        json.dumps({"scoring_job_id": good[2]}),
        json.dumps({"scoring_job_id": good[2]}),  # delivered twice
    ]
    result = function.invoke(sqs_event(*bodies), timeout=60)
    assert result.ok, result.payload
    failed = {f["itemIdentifier"] for f in json.loads(result.payload)["batchItemFailures"]}
    assert failed == {"msg-1", "msg-2", "msg-3", "msg-5", "msg-6"}
    for job_id in good:
        assert api.get("ScoringJob", job_id)["status"] == "COMPLETED"
        assert len([r for r in api.scan("ScoreResult") if r.get("scoringJobId") == job_id]) == 1
    logs = function.log_path.read_text()
    for reason in (
        "SQS body is not valid JSON",
        "SQS body has no scoring_job_id",
        "scoring_job_id must be a string, got int",
        "SQS body is larger than 262144 bytes",
        "SQS body must be a JSON object, got list",
    ):
        assert reason in logs
