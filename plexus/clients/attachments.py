"""Score result attachments in S3: `scoreresults/<scoreResultId>/trace.json` and `log.txt`."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from plexus.clients.aws_faults import is_transient
from plexus.core.errors import AttachmentError, ServiceUnavailable

# PUTs at once: boto3 is blocking, so each PUT in flight holds a thread, and the loop's
# default executor has min(32, cores + 4) threads, 6 on a Lambda of 2,048 MB: 64 jobs in
# flight queued their uploads behind six (bench/throughput.py: 0.4 s to store two files
# that take 30 ms). Threads start as uploads need them; each keeps one pooled connection.
UPLOAD_THREADS = 32


@cache
def _s3_client(region: str | None) -> Any:
    import boto3
    from botocore.config import Config

    # Standard mode retries throttling and 5xx with backoff before we see an error.
    config = Config(retries={"mode": "standard"}, max_pool_connections=UPLOAD_THREADS)
    return boto3.client("s3", region_name=region, config=config)


@cache
def _uploads() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="s3-put")


def attachment_keys(score_result_id: str, attempt: int = 1) -> tuple[str, str]:
    # A later attempt writes beside the first, never over it: the attempt whose lease ran
    # out may still be running, and the ScoreResult lists the keys of the one that made it.
    prefix = f"scoreresults/{score_result_id}"
    if attempt > 1:
        prefix += f"/attempt-{attempt}"
    return f"{prefix}/trace.json", f"{prefix}/log.txt"


def _put(region: str | None, bucket: str, key: str, body: bytes, content_type: str) -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _s3_client(region).put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    except (ClientError, BotoCoreError) as exc:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            message = (
                f"storing s3://{bucket}/{key} failed: {error.get('Code')}: {error.get('Message')}"
            )
        else:
            message = f"storing s3://{bucket}/{key} failed: {exc}"
        # An outage that outlasted boto3's retries is not the job's fault: it goes back.
        raise (ServiceUnavailable if is_transient(exc) else AttachmentError)(message) from None


async def upload_attachments(
    region: str | None,
    bucket: str,
    score_result_id: str,
    trace: dict[str, Any],
    log_text: str,
    attempt: int = 1,
) -> list[str]:
    """Store both files (concurrently, off the event loop) and return their keys."""
    trace_key, log_key = attachment_keys(score_result_id, attempt)
    # Compact: json's C encoder does not indent (indent=2 took the pure-Python encoder,
    # 0.8 ms a job); whoever reads a trace parses it.
    trace_body = json.dumps(trace, default=str, separators=(",", ":")).encode()
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        loop.run_in_executor(
            _uploads(), _put, region, bucket, trace_key, trace_body, "application/json"
        ),
        loop.run_in_executor(
            _uploads(), _put, region, bucket, log_key, log_text.encode(), "text/plain"
        ),
    )
    return [trace_key, log_key]
