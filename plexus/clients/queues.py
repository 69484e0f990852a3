"""The SQS side of the real job contract: the response message, and the request queue
that the fan-out function and a polling invocation read.

boto3 is imported here only, so the empty drain never loads it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from plexus.clients.aws_faults import is_transient
from plexus.core.errors import JobFailure, ServiceUnavailable


class QueueError(JobFailure):
    """An SQS call failed; the message names the queue's setting and SQS's error."""


@cache
def _sqs(region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("sqs", region_name=region, config=Config(retries={"mode": "standard"}))


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


async def send_response(region: str | None, queue_url: str, score_result_id: str) -> None:
    """`{"score_result_id": ...}` to the response worker's queue, as the real worker sends."""
    from botocore.exceptions import BotoCoreError, ClientError

    body = json.dumps({"score_result_id": score_result_id})
    # A retried send (boto3's, or a later attempt of the job) repeats the same message: a
    # standard queue delivers at least once anyway and its consumer takes the id as a key;
    # a FIFO queue drops the repeat within its 5-minute deduplication window.
    fifo = (
        {"MessageGroupId": score_result_id, "MessageDeduplicationId": score_result_id}
        if queue_url.endswith(".fifo")
        else {}
    )
    try:
        await asyncio.to_thread(
            _sqs(region).send_message, QueueUrl=queue_url, MessageBody=body, **fifo
        )
    except (BotoCoreError, ClientError) as exc:
        message = (
            f"score result {score_result_id} is stored, but sending it to "
            f"PLEXUS_RESPONSE_WORKER_QUEUE_URL failed: {_describe(exc)}"
        )
        # An outage that outlasted boto3's retries is not the job's fault: it goes back.
        raise (ServiceUnavailable if is_transient(exc) else QueueError)(message) from None


@dataclass(frozen=True)
class ReceivedMessage:
    body: str
    receipt_handle: str
    message_id: str


async def receive_one(
    region: str | None, queue_url: str, wait_seconds: int, visibility_seconds: int
) -> ReceivedMessage | None:
    """At most one message of the request queue (long polling up to `wait_seconds`)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = await asyncio.to_thread(
            _sqs(region).receive_message,
            QueueUrl=queue_url,
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
        )
    except (BotoCoreError, ClientError) as exc:
        raise QueueError(
            f"polling PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL failed: {_describe(exc)}"
        ) from None
    messages = response.get("Messages") or []
    if not messages:
        return None
    message = messages[0]
    return ReceivedMessage(message["Body"], message["ReceiptHandle"], message["MessageId"])


async def delete_message(region: str | None, queue_url: str, receipt_handle: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        await asyncio.to_thread(
            _sqs(region).delete_message, QueueUrl=queue_url, ReceiptHandle=receipt_handle
        )
    except (BotoCoreError, ClientError) as exc:
        raise QueueError(
            f"deleting the message from {queue_url} failed: {_describe(exc)}"
        ) from None
