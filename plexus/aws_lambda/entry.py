"""The Lambda side of the worker: event in, jobs processed, summary out.

Imports only what the empty poll needs (settings, the API client, powertools' logger);
the model, S3, PostgreSQL and pycurl modules load on the paths that use them.
One event loop lives for the life of the process, because powertools' async batch
processor runs on the current loop and Lambda freezes and thaws the process between
invocations.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from plexus.aws_lambda.events import (
    Drain,
    EventError,
    FanOut,
    PollQueue,
    SingleJob,
    SqsBatch,
    job_id_from_sqs_body,
    job_id_from_sqs_record,
    parse_event,
)
from plexus.clients.plexus_api import ApiError, PlexusApi
from plexus.core import job_log
from plexus.core.settings import Settings, load_settings, require
from plexus.worker.processor import (
    DrainSummary,
    JobOutcome,
    JobProcessor,
    Outcome,
    finish_all,
)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "score-processing")
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Plexus"), service=SERVICE
)
_loop: asyncio.AbstractEventLoop | None = None
_settings: Settings | None = None


class JobFailedError(RuntimeError):
    """Raised for an SQS record whose job failed, so SQS retries it (and then dead-letters it)."""


def _setup() -> tuple[Settings, asyncio.AbstractEventLoop]:
    global _loop, _settings
    if _settings is None:
        settings = load_settings()
        copy_config_to_registered_loggers(source_logger=logger, include={"plexus"})
        job_log.install(logger, settings.secrets())
        # The runtime's own handler on the root logger carries what httpx and boto log.
        job_log.redact_handlers(logging.getLogger(), settings.secrets())
        _settings = settings
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _settings, _loop


def handle(event: Any, context: Any) -> dict[str, Any]:
    logging.getLogger("plexus").setLevel(logger.log_level)
    settings, loop = _setup()
    logger.append_keys(request_id=getattr(context, "aws_request_id", None))
    request = parse_event(event, request_queue_url=settings.request_queue_url)

    def remaining() -> float:
        return float(context.get_remaining_time_in_millis()) / 1000.0

    # The API client's retries stop short of the invocation's end (time to give jobs back).
    api = PlexusApi(settings, remaining_seconds=remaining if context else None)
    processor = JobProcessor(settings, api, remaining_seconds=remaining if context else None)
    loop.run_until_complete(api.__aenter__())
    try:
        if isinstance(request, SqsBatch):
            if settings.sqs_failure_mode == "report":
                return _process_sqs_reporting(event, context, processor, settings)
            return loop.run_until_complete(_process_sqs_raising(request, processor, settings))
        if isinstance(request, SingleJob):
            outcome = loop.run_until_complete(processor.process_job_id(request.job_id))
            return _summary(DrainSummary([outcome]))
        if isinstance(request, FanOut):
            return loop.run_until_complete(_process_fan_out(request, processor, settings))
        if isinstance(request, PollQueue):
            wait = settings.sqs_poll_wait_seconds
            visibility = int(remaining()) + 60 if context else int(settings.lease_seconds)
            return loop.run_until_complete(
                _poll_once(request, processor, settings, wait, visibility)
            )
        assert isinstance(request, Drain)
        account = require(
            settings.account_key,
            "PLEXUS_ACCOUNT_KEY",
            "an empty or schedule event drains that account's jobs",
        )
        return _drain_answer(loop.run_until_complete(processor.drain(account)))
    finally:
        loop.run_until_complete(processor.close())
        loop.run_until_complete(api.__aexit__(None, None, None))
        metrics.flush_metrics(raise_on_empty_metrics=False)


async def _process_sqs_raising(
    request: SqsBatch, processor: JobProcessor, settings: Settings
) -> dict[str, Any]:
    """The real stack's mapping (no ReportBatchItemFailures): every record is processed,
    then any failure raises, so SQS retries the batch and dead-letters a message after
    maxReceiveCount. Records whose job already finished are reported, not scored again."""
    slots = asyncio.Semaphore(settings.concurrency)
    problems: list[str] = []

    async def one(index: int, record: Any) -> JobOutcome | None:
        try:
            job_id = job_id_from_sqs_record(record if isinstance(record, dict) else {})
        except EventError as exc:
            problems.append(f"record {index}: {exc}")
            return None
        async with slots:
            outcome = await processor.process_job_id(job_id)
        if outcome.redeliver:
            problems.append(f"job {job_id}: {outcome.reason}")
        return outcome

    results = await finish_all(one(i, r) for i, r in enumerate(request.records))
    summary = DrainSummary([o for o in results if o is not None])
    if problems:
        _record_metrics(summary)
        raise JobFailedError(
            f"{len(problems)} of {len(request.records)} SQS record(s) failed, so SQS will "
            f"retry them (PLEXUS_SQS_FAILURE_MODE=raise): " + "; ".join(problems)
        )
    return _summary(summary)


def _process_sqs_reporting(
    event: dict[str, Any], context: Any, processor: JobProcessor, settings: Settings
) -> dict[str, Any]:
    """ReportBatchItemFailures on the mapping: only the failed records are retried."""
    from aws_lambda_powertools.utilities.batch import (
        AsyncBatchProcessor,
        EventType,
        async_process_partial_response,
    )

    slots = asyncio.Semaphore(settings.concurrency)
    outcomes: list[JobOutcome] = []

    async def record_handler(record: Any) -> str:
        try:
            job_id = job_id_from_sqs_record(record.raw_event)
        except EventError as exc:
            logger.warning("SQS message %s rejected: %s", record.message_id, exc)
            raise
        async with slots:
            outcome = await processor.process_job_id(job_id)
        outcomes.append(outcome)
        if outcome.redeliver:
            raise JobFailedError(f"job {job_id} failed: {outcome.reason}")
        return outcome.status

    # batchItemFailures names records by messageId; one without it cannot be reported (nor
    # retried by SQS, which always sets it), so it is logged and left out.
    records = []
    for index, record in enumerate(event["Records"]):
        if isinstance(record, dict) and isinstance(record.get("messageId"), str):
            records.append(record)
        else:
            logger.warning("record %d of the batch has no messageId: skipped", index)
    if not records:
        return {"batchItemFailures": []}
    batch = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    response = async_process_partial_response(
        event={**event, "Records": records},
        record_handler=record_handler,
        processor=batch,
        context=context,
    )
    _record_metrics(DrainSummary(outcomes))
    return dict(response)


async def _finish_message(
    outcome: JobOutcome, settings: Settings, queue_url: str, receipt_handle: str
) -> bool:
    """Delete the request message once its job is done; a failed job's message stays, so
    the queue redelivers it and, after maxReceiveCount, dead-letters it."""
    from plexus.clients.queues import QueueError, delete_message

    if outcome.redeliver:
        return False
    try:
        await delete_message(settings.region, queue_url, receipt_handle)
    except QueueError as exc:
        # The job is finished; a redelivery is reported as such, not scored again.
        logger.error("job %s: %s", outcome.job_id, exc)
        return False
    return True


async def _process_fan_out(
    request: FanOut, processor: JobProcessor, settings: Settings
) -> dict[str, Any]:
    outcome = await processor.process_job_id(request.job_id)
    deleted = await _finish_message(outcome, settings, request.queue_url, request.receipt_handle)
    return {**_summary(DrainSummary([outcome])), "messageDeleted": deleted}


async def _poll_once(
    request: PollQueue,
    processor: JobProcessor,
    settings: Settings,
    wait_seconds: int,
    visibility_seconds: int,
) -> dict[str, Any]:
    """Receive at most one message from the request queue and process its job."""
    from plexus.clients.queues import receive_one

    message = await receive_one(
        settings.region, request.queue_url, wait_seconds, min(visibility_seconds, 43_200)
    )
    if message is None:
        logger.info("no message in the request queue")
        return {**_summary(DrainSummary()), "messageDeleted": False, "polled": 0}
    try:
        job_id = job_id_from_sqs_body(message.body)
    except EventError as exc:
        # Left in the queue: it is redelivered and then dead-lettered, as the real one is.
        logger.error("request message %s rejected: %s", message.message_id, exc)
        outcome = JobOutcome(f"message {message.message_id}", Outcome.FAILED, str(exc))
        return {**_summary(DrainSummary([outcome])), "messageDeleted": False, "polled": 1}
    outcome = await processor.process_job_id(job_id)
    deleted = await _finish_message(outcome, settings, request.queue_url, message.receipt_handle)
    return {**_summary(DrainSummary([outcome])), "messageDeleted": deleted, "polled": 1}


def _drain_answer(summary: DrainSummary) -> dict[str, Any]:
    """A drain's summary; a drain stopped by an API fault past the retries raises (the
    invocation fails, as before), once the jobs it held are finished or given back."""
    answer = _summary(summary)
    if summary.error is not None:
        logger.error("drain stopped: %s", summary.error, extra={"summary": answer})
        raise ApiError(
            f"drain stopped after finishing the {len(summary.outcomes)} job(s) it held: "
            f"{summary.error}"
        )
    return answer


def _summary(summary: DrainSummary) -> dict[str, Any]:
    _record_metrics(summary)
    return {
        "completed": summary.count("COMPLETED"),
        "failed": summary.count("FAILED"),
        "skipped": summary.count("SKIPPED"),
        "released": summary.count("RELEASED"),
        "stoppedForTime": summary.stopped_for_time,
        "jobs": [
            {
                "id": o.job_id,
                "status": o.status,
                "reason": o.reason,
                "scoreResultId": o.score_result_id,
                "cached": o.cached,
                "alreadyFinished": o.already_finished,
            }
            for o in summary.outcomes
        ],
    }


def _record_metrics(summary: DrainSummary) -> None:
    for status in ("COMPLETED", "FAILED", "SKIPPED", "RELEASED"):
        metrics.add_metric(
            name=f"Jobs{status.title()}", unit=MetricUnit.Count, value=summary.count(status)
        )
    metrics.add_metric(
        name="CacheHits", unit=MetricUnit.Count, value=sum(1 for o in summary.outcomes if o.cached)
    )
    cost = sum(float(o.cost_usd) for o in summary.outcomes if o.cost_usd is not None)
    metrics.add_metric(name="ModelCostUSD", unit=MetricUnit.NoUnit, value=cost)
