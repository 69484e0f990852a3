"""What an invocation asks for, read from the Lambda event.

- an EventBridge schedule event: drain the account's claimable jobs;
- `{}`: poll the request queue once when PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL
  is set (the real score-processor function's manual invocation), else drain the account
  (the real score_processing function);
- `{"scoringJobId": "..."}`: process that job;
- an SQS event: each record's body is JSON carrying `scoring_job_id` (or `scoringJobId`);
- the real fan-out function's event `{"source": "fanout", "message_body": {...},
  "receipt_handle": "...", "queue_url": "..."}`: process that message's job, then delete it.
Anything else is an `EventError` that says what was wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# SQS refuses bodies over 256 KiB, so a larger one did not come from a queue we know.
MAX_BODY_BYTES = 256 * 1024
MAX_ID_LENGTH = 200


class EventError(ValueError):
    """The event (or one SQS record) is not something this function handles."""


@dataclass(frozen=True)
class Drain:
    pass


@dataclass(frozen=True)
class SingleJob:
    job_id: str


@dataclass(frozen=True)
class SqsBatch:
    records: list[dict[str, Any]]


@dataclass(frozen=True)
class FanOut:
    """One request-queue message handed over by the real fan-out function."""

    job_id: str
    receipt_handle: str
    queue_url: str


@dataclass(frozen=True)
class PollQueue:
    queue_url: str


Request = Drain | SingleJob | SqsBatch | FanOut | PollQueue


def parse_event(event: Any, *, request_queue_url: str | None = None) -> Request:
    if event is None or event == {}:
        return PollQueue(request_queue_url) if request_queue_url else Drain()
    if not isinstance(event, dict):
        raise EventError(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("source") == "fanout":
        return _fan_out(event)
    if "scoringJobId" in event:
        return SingleJob(_job_id(event["scoringJobId"], "scoringJobId"))
    records = event.get("Records")
    if isinstance(records, list) and records:
        # One foreign or broken record fails alone (job_id_from_sqs_record), not the batch.
        if any(isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records):
            return SqsBatch(records)
        raise EventError("Records has no SQS records (eventSource aws:sqs)")
    if event.get("source") == "aws.events" or event.get("detail-type") == "Scheduled Event":
        return Drain()
    keys = ", ".join(sorted(str(k) for k in event)[:10])
    raise EventError(
        f"unrecognised event with keys [{keys}]: expected {{}}, a schedule event, "
        '{"scoringJobId": "..."}, an SQS event or a fan-out event'
    )


def _fan_out(event: dict[str, Any]) -> FanOut:
    missing = [k for k in ("message_body", "receipt_handle", "queue_url") if not event.get(k)]
    if missing:
        raise EventError(f"fan-out event lacks {', '.join(missing)}")
    body = event["message_body"]
    # The fan-out function passes the parsed body; a JSON string is accepted as well.
    if isinstance(body, dict):
        body = json.dumps(body)
    for key in ("receipt_handle", "queue_url"):
        if not isinstance(event[key], str):
            raise EventError(f"fan-out {key} must be a string, got {type(event[key]).__name__}")
    return FanOut(job_id_from_sqs_body(body), event["receipt_handle"], event["queue_url"])


def job_id_from_sqs_record(record: dict[str, Any]) -> str:
    """The scoring job id of one record of an SQS batch, or an EventError naming the problem."""
    source = record.get("eventSource")
    if source != "aws:sqs":
        raise EventError(f"record is not an SQS message (eventSource {source!r})")
    if "body" not in record:
        raise EventError("SQS record has no body")
    return job_id_from_sqs_body(record["body"])


def job_id_from_sqs_body(body: Any) -> str:
    """The scoring job id an SQS message carries, or an EventError naming the problem."""
    if not isinstance(body, str):
        raise EventError(f"SQS body must be a string, got {type(body).__name__}")
    if len(body.encode("utf-8", errors="replace")) > MAX_BODY_BYTES:
        raise EventError(f"SQS body is larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        # ValueError also covers numbers past Python's 4300-digit int limit.
        raise EventError("SQS body is not valid JSON") from None
    if not isinstance(data, dict):
        raise EventError(f"SQS body must be a JSON object, got {type(data).__name__}")
    for key in ("scoring_job_id", "scoringJobId"):
        if key in data:
            return _job_id(data[key], key)
    raise EventError("SQS body has no scoring_job_id")


def _job_id(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise EventError(f"{key} must be a string, got {type(value).__name__}")
    job_id: str = value.strip()
    if not job_id or len(job_id) > MAX_ID_LENGTH or not job_id.isprintable():
        raise EventError(f"{key} must be a non-empty printable id of at most {MAX_ID_LENGTH} chars")
    return job_id
