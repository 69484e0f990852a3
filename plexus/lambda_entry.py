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

from plexus import job_log
from plexus.api_client import PlexusApi
from plexus.events import (
    Drain,
    EventError,
    SingleJob,
    SqsBatch,
    job_id_from_sqs_record,
    parse_event,
)
from plexus.processor import DrainSummary, JobOutcome, JobProcessor
from plexus.settings import Settings, load_settings, require

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "score-processing")
logger = Logger(service=SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Plexus"), service=SERVICE
)
_loop: asyncio.AbstractEventLoop | None = None
_settings: Settings | None = None


class JobFailedError(RuntimeError):
    """Raised for an SQS record whose job failed, so the batch reports that record."""


def _setup() -> tuple[Settings, asyncio.AbstractEventLoop]:
    global _loop, _settings
    if _settings is None:
        settings = load_settings()
        copy_config_to_registered_loggers(source_logger=logger, include={"plexus"})
        job_log.install(logger, settings.secrets())
        _settings = settings
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _settings, _loop


def handle(event: Any, context: Any) -> dict[str, Any]:
    logging.getLogger("plexus").setLevel(logger.log_level)
    settings, loop = _setup()
    logger.append_keys(request_id=getattr(context, "aws_request_id", None))
    request = parse_event(event)

    def remaining() -> float:
        return context.get_remaining_time_in_millis() / 1000.0

    api = PlexusApi(settings)
    processor = JobProcessor(settings, api, remaining_seconds=remaining if context else None)
    loop.run_until_complete(api.__aenter__())
    try:
        if isinstance(request, SqsBatch):
            return _process_sqs(event, context, processor, settings)
        if isinstance(request, SingleJob):
            outcome = loop.run_until_complete(processor.process_job_id(request.job_id))
            return _summary(DrainSummary([outcome]))
        assert isinstance(request, Drain)
        account = require(
            settings.account_key,
            "PLEXUS_ACCOUNT_KEY",
            "an empty or schedule event drains that account's jobs",
        )
        return _summary(loop.run_until_complete(processor.drain(account)))
    finally:
        loop.run_until_complete(processor.close())
        loop.run_until_complete(api.__aexit__(None, None, None))
        metrics.flush_metrics(raise_on_empty_metrics=False)


def _process_sqs(
    event: dict[str, Any], context: Any, processor: JobProcessor, settings: Settings
) -> dict[str, Any]:
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
        if outcome.status == "FAILED":
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


def _summary(summary: DrainSummary) -> dict[str, Any]:
    _record_metrics(summary)
    return {
        "completed": summary.count("COMPLETED"),
        "failed": summary.count("FAILED"),
        "skipped": summary.count("SKIPPED"),
        "stoppedForTime": summary.stopped_for_time,
        "jobs": [
            {
                "id": o.job_id,
                "status": o.status,
                "reason": o.reason,
                "scoreResultId": o.score_result_id,
                "cached": o.cached,
            }
            for o in summary.outcomes
        ],
    }


def _record_metrics(summary: DrainSummary) -> None:
    for status in ("COMPLETED", "FAILED", "SKIPPED"):
        metrics.add_metric(
            name=f"Jobs{status.title()}", unit=MetricUnit.Count, value=summary.count(status)
        )
    metrics.add_metric(
        name="CacheHits", unit=MetricUnit.Count, value=sum(1 for o in summary.outcomes if o.cached)
    )
    cost = sum(float(o.cost_usd) for o in summary.outcomes if o.cost_usd is not None)
    metrics.add_metric(name="ModelCostUSD", unit=MetricUnit.NoUnit, value=cost)
