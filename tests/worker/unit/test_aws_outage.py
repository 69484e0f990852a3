"""An S3 or SQS outage that outlasts boto3's retries is not the job's fault: the job goes
back to PENDING for another claim, and only a request's own fault (a missing bucket, denied
access) fails it. Real botocore errors, classified as the worker classifies them."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from plexus.clients.aws_faults import is_transient
from plexus.core.errors import AttachmentError, ServiceUnavailable
from plexus.worker.processor import Outcome
from tests.worker.unit.fakes import FakeApi, FakeFiles, FakeResponses
from tests.worker.unit.test_job_steps import KEYWORD_YAML, processor


def client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutObject",
    )


@pytest.mark.parametrize(
    "exc",
    [
        client_error(500, "InternalError"),
        client_error(503, "SlowDown"),
        client_error(400, "RequestTimeout"),
        client_error(400, "ThrottlingException"),
        EndpointConnectionError(endpoint_url="https://s3.example"),
        ConnectionClosedError(endpoint_url="https://s3.example"),
        ReadTimeoutError(endpoint_url="https://s3.example"),
    ],
    ids=lambda exc: (
        exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
    ),
)
def test_outages_are_transient(exc: Exception) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        client_error(404, "NoSuchBucket"),
        client_error(403, "AccessDenied"),
        client_error(400, "InvalidRequest"),
        NoCredentialsError(),
    ],
    ids=lambda exc: (
        exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
    ),
)
def test_a_requests_own_fault_is_not(exc: Exception) -> None:
    assert not is_transient(exc)


class FailingFiles(FakeFiles):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def upload(self, *args: Any, **kwargs: Any) -> list[str]:
        raise self.error


def test_an_s3_outage_gives_the_job_back_then_fails_it_at_the_attempt_limit() -> None:
    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML, text="Agent: hello")
    outage = ServiceUnavailable("storing s3://b/k failed: InternalError: We encountered an error")
    worker = processor(api, files=FailingFiles(outage))

    first = asyncio.run(worker.process_job_id(job_id))
    assert first.status is Outcome.RELEASED
    assert "AWS fault, not the job's" in (first.reason or "")
    assert api.jobs[job_id]["status"] == "PENDING"
    assert api.results == {}

    # Given back each time; the attempt limit (3) ends it FAILED, typed as an outage.
    outcomes = [asyncio.run(worker.process_job_id(job_id)) for _ in range(2)]
    assert [o.status for o in outcomes] == [Outcome.RELEASED, Outcome.FAILED]
    job = api.jobs[job_id]
    assert job["status"] == "FAILED"
    assert "storing s3://b/k failed: InternalError" in job["errorMessage"]
    assert json.loads(job["errorDetails"])["errorType"] == "ServiceUnavailable"


def test_a_missing_bucket_fails_the_job_at_once() -> None:
    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML, text="Agent: hello")
    missing = AttachmentError("storing s3://b/k failed: NoSuchBucket: The bucket does not exist")
    outcome = asyncio.run(processor(api, files=FailingFiles(missing)).process_job_id(job_id))
    assert outcome.status is Outcome.FAILED
    assert api.jobs[job_id]["status"] == "FAILED"


def test_a_response_queue_outage_gives_the_job_back() -> None:
    class DownQueue(FakeResponses):
        async def send(self, result_id: str) -> None:
            raise ServiceUnavailable("sending to PLEXUS_RESPONSE_WORKER_QUEUE_URL failed: 503")

    api = FakeApi()
    job_id = api.seed(KEYWORD_YAML, text="Agent: hello")
    outcome = asyncio.run(processor(api, responses=DownQueue()).process_job_id(job_id))
    assert outcome.status is Outcome.RELEASED
    assert api.jobs[job_id]["status"] == "PENDING"
