"""The events of the real Plexus stack, end to end through awslambdaric, with SQS in moto:

- the SQS event source of the real stack (batch size 1, no ReportBatchItemFailures): a
  failed job raises, so SQS retries the message and then dead-letters it;
- the real fan-out function's event: the job is processed, then its message deleted;
- an invocation that polls PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL once;
- PLEXUS_RESPONSE_WORKER_QUEUE_URL receives `{"score_result_id": ...}` per finished job."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plexus.tooling.invoke import LocalFunction
from tests.conftest import HANDLER_DIR
from tests.support.lambda_events import sqs_event
from tests.worker.test_processor import KEYWORD_YAML


@pytest.fixture
def sqs(moto_server: Any) -> Any:
    return moto_server.client("sqs")


def new_queue(sqs: Any, name: str) -> str:
    return sqs.create_queue(QueueName=f"{name}-{uuid.uuid4().hex[:8]}")["QueueUrl"]


def counts(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def queues(sqs: Any) -> dict[str, str]:
    return {"request": new_queue(sqs, "requests"), "response": new_queue(sqs, "responses")}


@pytest.fixture
def real_stack(worker_env: dict[str, str], queues: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """The function with the real stack's environment: both queues, no failure-mode setting."""
    env = {
        **worker_env,
        "PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL": queues["request"],
        "PLEXUS_RESPONSE_WORKER_QUEUE_URL": queues["response"],
        "PLEXUS_SQS_POLL_WAIT_SECONDS": "0",
    }
    log_path = tmp_path / "function.log"
    with log_path.open("wb") as log, LocalFunction(HANDLER_DIR, env=env, output=log) as fn:
        fn.log_path = log_path
        yield fn


@pytest.mark.slow
def test_sqs_failure_raises_under_the_real_stack_setting(real_stack, account, api, sqs, queues):
    words = account.score("Greeting words", KEYWORD_YAML)
    good = account.job(words, text="hello")
    broken = account.job("no-such-score")

    result = real_stack.invoke(sqs_event(json.dumps({"scoring_job_id": good})), timeout=60)
    assert result.ok, result.payload
    assert json.loads(result.payload)["completed"] == 1
    result_id = api.get("ScoringJob", good)["metadata"]
    assert bodies(sqs, queues["response"]) == [
        {"score_result_id": json.loads(result_id)["scoreResultId"]}
    ]

    event = sqs_event(json.dumps({"scoring_job_id": broken}))
    result = real_stack.invoke(event, timeout=60)
    assert not result.ok
    assert result.error_type == "JobFailedError"
    assert f"job {broken}: score no-such-score not found" in result.error_message
    assert api.get("ScoringJob", broken)["status"] == "FAILED"
    # SQS redelivers it: reported again (so it ends in the dead-letter queue), not rescored.
    again = real_stack.invoke(event, timeout=60)
    assert not again.ok and "already FAILED: score no-such-score not found" in again.error_message

    # The finished good job redelivered: reported, not scored again, and a success.
    result = real_stack.invoke(sqs_event(json.dumps({"scoring_job_id": good})), timeout=60)
    assert result.ok, result.payload
    [job] = json.loads(result.payload)["jobs"]
    assert (job["status"], job["reason"], job["alreadyFinished"]) == (
        "SKIPPED",
        "already COMPLETED",
        True,
    )
    assert len([r for r in api.scan("ScoreResult") if r.get("scoringJobId") == good]) == 1

    malformed = real_stack.invoke(sqs_event('{"something": "else"}'), timeout=60)
    assert not malformed.ok and "SQS body has no scoring_job_id" in malformed.error_message


def test_fan_out_event_processes_the_job_then_deletes_its_message(
    real_stack, account, api, sqs, queues
):
    words = account.score("Greeting words", KEYWORD_YAML)
    job = account.job(words, text="good morning")
    sqs.send_message(QueueUrl=queues["request"], MessageBody=json.dumps({"scoring_job_id": job}))
    [message] = sqs.receive_message(QueueUrl=queues["request"], VisibilityTimeout=300)["Messages"]
    assert counts(sqs, queues["request"]) == (0, 1)

    result = real_stack.invoke(
        {
            "source": "fanout",
            "message_body": json.loads(message["Body"]),
            "receipt_handle": message["ReceiptHandle"],
            "queue_url": queues["request"],
        },
        timeout=60,
    )

    assert result.ok, result.payload
    summary = json.loads(result.payload)
    assert summary["completed"] == 1 and summary["messageDeleted"] is True
    assert api.get("ScoringJob", job)["status"] == "COMPLETED"
    assert counts(sqs, queues["request"]) == (0, 0)

    # A failed job's message stays, so the queue redelivers and then dead-letters it.
    broken = account.job("no-such-score")
    sqs.send_message(QueueUrl=queues["request"], MessageBody=json.dumps({"scoring_job_id": broken}))
    [message] = sqs.receive_message(QueueUrl=queues["request"], VisibilityTimeout=300)["Messages"]
    result = real_stack.invoke(
        {
            "source": "fanout",
            "message_body": json.loads(message["Body"]),
            "receipt_handle": message["ReceiptHandle"],
            "queue_url": queues["request"],
        },
        timeout=60,
    )
    assert result.ok, result.payload
    assert json.loads(result.payload)["messageDeleted"] is False
    assert counts(sqs, queues["request"]) == (0, 1)


def test_fan_out_event_without_its_fields_is_an_error_naming_them(real_stack):
    result = real_stack.invoke({"source": "fanout", "message_body": {}}, timeout=30)
    assert not result.ok
    assert result.error_type == "EventError"
    assert "fan-out event lacks message_body, receipt_handle, queue_url" in result.error_message


def test_empty_invocation_polls_the_request_queue_once(real_stack, account, api, sqs, queues):
    words = account.score("Greeting words", KEYWORD_YAML)
    first, second = account.job(words, text="hello"), account.job(words, text="bye")
    for job in (first, second):
        sqs.send_message(
            QueueUrl=queues["request"], MessageBody=json.dumps({"scoring_job_id": job})
        )

    result = real_stack.invoke({}, timeout=60)

    assert result.ok, result.payload
    summary = json.loads(result.payload)
    assert summary["polled"] == 1 and summary["messageDeleted"] is True
    [done] = summary["jobs"]
    assert done["status"] == "COMPLETED"
    assert counts(sqs, queues["request"]) == (1, 0), "one message per invocation"
    second_run = json.loads(real_stack.invoke({}, timeout=60).payload)
    assert {done["id"], second_run["jobs"][0]["id"]} == {first, second}
    empty = json.loads(real_stack.invoke({}, timeout=60).payload)
    assert empty["polled"] == 0 and empty["jobs"] == []
    assert len(bodies(sqs, queues["response"])) == 2
