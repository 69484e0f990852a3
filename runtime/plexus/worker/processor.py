"""The job processor: claim jobs, score them, store results, finish them.

One job, step by step (`_score`):
  1. claim it (plexus/claim.py);
  2. load the item, score and scorecard (one API round trip);
  3. load the champion version and the newest prediction of the item and score through the
     real cache index (one round trip); a result of this score version completes the job
     with that result, no model call;
  4. score the item (plexus/scores: LangGraphScore graphs and the simpler classes), through
     the PostgreSQL model-output store when PLEXUS_POSTGRES_URI is set;
  5. upload trace.json and log.txt to S3 (plexus/attachments.py);
  6. create the ScoreResult as the real resolvers require (status COMPLETED with type, item
     and score ids), its id derived from the job's so a retried job never makes two;
  7. with PLEXUS_RESPONSE_WORKER_QUEUE_URL set, send `{"score_result_id": ...}` there;
  8. mark the job COMPLETED, or FAILED with the reason. One bad job never stops the others.
A job that had finished before (a redelivered message) is reported, not scored again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from plexus.clients.plexus_api import PREDICTION, ApiError, ConditionFailed, PlexusApi, parse_json
from plexus.core import job_log
from plexus.core.errors import JobError, JobFailure
from plexus.core.settings import Settings, SettingsError, require
from plexus.worker.claim import Claim, Claimer, ClaimRefused, JobNotFound, lease_cutoff, utc_iso

if TYPE_CHECKING:
    from plexus.scores.result import ScoreResult as Classification
    from plexus.scores.Score import Score as ScoreConfig

log = logging.getLogger(__name__)

# ScoreResult ids are uuid5(job id) in this namespace: a retry re-creates the same id,
# which the API refuses, so a job has at most one result however often it runs.
RESULT_NAMESPACE = uuid.UUID("3f5b0d5e-8f0a-4d52-9d3e-6c7a1b2e9f10")


@dataclass
class JobOutcome:
    job_id: str
    # COMPLETED / FAILED: this worker finished it. SKIPPED: not ours to do (taken, done).
    status: str
    reason: str | None = None
    score_result_id: str | None = None
    cached: bool = False
    cost_usd: Decimal | None = None
    seconds: float = 0.0
    # The job had finished before this delivery (SQS redelivered it): reported, not scored.
    already_finished: bool = False


@dataclass
class DrainSummary:
    outcomes: list[JobOutcome] = field(default_factory=list)
    stopped_for_time: bool = False

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def score_result_id(job_id: str) -> str:
    return str(uuid.uuid5(RESULT_NAMESPACE, job_id))


# Errors that are the job's fault or an outside service's, reported as they are.
EXPECTED_ERRORS = (JobFailure, SettingsError, ApiError)


class JobProcessor:
    """Processes jobs over one API session; `remaining_seconds` is the invocation's clock."""

    def __init__(
        self,
        settings: Settings,
        api: PlexusApi,
        *,
        remaining_seconds: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.api = api
        self.claimer = Claimer(
            api, lease_seconds=settings.lease_seconds, max_attempts=settings.max_attempts
        )
        self._remaining = remaining_seconds
        self._model_client: Any = None
        self._store: Any = None
        self._store_lock = asyncio.Lock()
        # A service's error message may echo a key back; never store one in a job.
        self._redact = job_log.RedactingFilter(settings.secrets()).redact
        # Each job's log lines become its log.txt, whoever runs the processor.
        plexus_logger = logging.getLogger("plexus")
        job_log.install(plexus_logger, settings.secrets())
        if plexus_logger.level == logging.NOTSET:
            plexus_logger.setLevel(logging.INFO)

    async def close(self) -> None:
        if self._model_client is not None:
            await self._model_client.close()
        if self._store is not None:
            await self._store.__aexit__(None, None, None)

    def out_of_time(self) -> bool:
        return (
            self._remaining is not None and self._remaining() < self.settings.min_remaining_seconds
        )

    # Entry points -------------------------------------------------------------------

    async def process_job_id(self, job_id: str) -> JobOutcome:
        """Claim and process one job (the `{"scoringJobId": ...}` and SQS paths)."""
        try:
            claim = await self.claimer.claim(job_id)
        except JobNotFound as exc:
            return JobOutcome(job_id, "FAILED", str(exc))
        return await self._after_claim(job_id, claim)

    async def drain(self, account_key: str) -> DrainSummary:
        """Claim and process claimable jobs of the account until none is left or time runs short."""
        account_id = await self.api.account_id(account_key)
        summary = DrainSummary()
        slots = asyncio.Semaphore(self.settings.concurrency)

        async def run(job: dict[str, Any]) -> JobOutcome:
            try:
                claim = await self.claimer.claim(job["id"], seen=job)
                return await self._after_claim(job["id"], claim)
            finally:
                slots.release()

        # Only jobs created within the window are read: the index's sort key bounds the
        # query, so the account's finished history does not cost a request per page.
        since = utc_iso(datetime.now(UTC) - timedelta(hours=self.settings.drain_window_hours))
        while True:
            tasks: list[asyncio.Task[JobOutcome]] = []
            oldest: str | None = None
            async for job in self.api.claimable_jobs(
                account_id, since, lease_cutoff(self.settings.lease_seconds)
            ):
                if job.get("createdAt") and (oldest is None or job["createdAt"] < oldest):
                    oldest = job["createdAt"]
                await slots.acquire()
                if self.out_of_time():
                    slots.release()
                    summary.stopped_for_time = True
                    log.warning(
                        "less than PLEXUS_MIN_REMAINING_SECONDS=%gs left: no new claims",
                        self.settings.min_remaining_seconds,
                    )
                    break
                tasks.append(asyncio.create_task(run(job)))
            outcomes = await asyncio.gather(*tasks)
            summary.outcomes.extend(outcomes)
            # Jobs may have arrived while we worked: list again until a pass finds nothing to do.
            if summary.stopped_for_time or not any(o.status != "SKIPPED" for o in outcomes):
                return summary
            # What was older than this pass's oldest claimable job was finished or under
            # lease when read; new jobs are created now. So the next pass starts there.
            # (A lease that runs out meanwhile is the next invocation's to reclaim.)
            if oldest is not None and oldest > since:
                since = oldest

    # One job ------------------------------------------------------------------------

    async def _after_claim(self, job_id: str, claim: Claim | ClaimRefused) -> JobOutcome:
        if isinstance(claim, ClaimRefused):
            # A job that failed before stays failed for whoever asks again, so that SQS keeps
            # retrying its message and then dead-letters it, as the real stack expects.
            status = "FAILED" if claim.failed or claim.finished == "FAILED" else "SKIPPED"
            log.info("job %s not processed: %s", job_id, claim.reason)
            return JobOutcome(
                job_id, status, claim.reason, already_finished=claim.finished is not None
            )
        started = time.perf_counter()
        with job_log.capture() as lines:
            outcome = await self._score(claim, lines)
        outcome.seconds = time.perf_counter() - started
        return outcome

    async def _score(self, claim: Claim, lines: list[str]) -> JobOutcome:
        job = claim.job
        log.info("job %s claimed (attempt %d)", claim.job_id, claim.attempt)
        steps: dict[str, float] = {}
        try:
            t0 = time.perf_counter()
            if not job.get("scoreId"):
                raise JobError(f"scoring job {claim.job_id} has no scoreId")
            item, score, scorecard = await self.api.job_context(
                job["itemId"], job["scoreId"], job["scorecardId"]
            )
            if item is None:
                raise JobError(f"item {job['itemId']} not found")
            if score is None:
                raise JobError(f"score {job['scoreId']} not found")
            if scorecard is None:
                raise JobError(f"scorecard {job['scorecardId']} not found")
            version_id = score.get("championVersionId")
            if not version_id:
                raise JobError(f"score {score['name']!r} ({score['id']}) has no champion version")
            version, cached = await self.api.version_and_cached_result(
                version_id, item["id"], score["id"]
            )
            if version is None:
                raise JobError(f"score version {version_id} not found")
            steps["load"] = time.perf_counter() - t0
            if cached is not None:
                return await self._complete_from_cache(claim, cached)
            from plexus.scores import parse_score_config

            config = parse_score_config(
                version.get("configuration"),
                source=f"score {score['name']!r} version {version_id}",
            )
            t0 = time.perf_counter()
            score_input = await self._item_text(item, config, job)
            text = score_input.text
            steps["content"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            classification, source = await self._classify(config, version_id, score_input)
            steps["classify"] = time.perf_counter() - t0
            log.info(
                "job %s: %s -> %r (%s)", claim.job_id, score["name"], classification.value, source
            )
            result_id = score_result_id(claim.job_id)
            trace = {
                "scoringJobId": claim.job_id,
                "scoreResultId": result_id,
                "attempt": claim.attempt,
                "item": {
                    "id": item["id"],
                    "externalId": item.get("externalId"),
                    "chars": len(text),
                },
                "scorecard": {"id": scorecard["id"], "name": scorecard.get("name")},
                "score": {"id": score["id"], "name": score["name"], "versionId": version_id},
                "source": source,
                "classification": classification.to_json(),
                "seconds": {k: round(v, 4) for k, v in steps.items()},
            }
            t0 = time.perf_counter()
            attachments = await self._upload(result_id, trace, lines)
            steps["attachments"] = time.perf_counter() - t0
            await self._create_result(
                claim, item, score, version_id, result_id, classification, source, attachments
            )
            await self._send_response(result_id)
            cost = classification.cost.total_cost
            finished = await self.claimer.complete(
                claim,
                {
                    "scoreResultId": result_id,
                    "cached": False,
                    "source": source,
                    "costUsd": str(cost),
                },
            )
            if not finished:
                return JobOutcome(
                    claim.job_id, "SKIPPED", "lease lost to another worker", result_id
                )
            return JobOutcome(
                claim.job_id,
                "COMPLETED",
                score_result_id=result_id,
                cost_usd=cost,
            )
        except EXPECTED_ERRORS as exc:
            return await self._fail(claim, str(exc), exc)
        except Exception as exc:
            log.exception("job %s: unexpected error", claim.job_id)
            return await self._fail(claim, f"internal error: {type(exc).__name__}: {exc}", exc)

    async def _fail(self, claim: Claim, message: str, exc: Exception) -> JobOutcome:
        message = self._redact(message)
        log.warning("job %s failed: %s", claim.job_id, message)
        details: dict[str, Any] = {"errorType": type(exc).__name__, "attempt": claim.attempt}
        cost = getattr(exc, "cost", None)
        if cost is not None:  # what the model calls before the failure cost (TactusScore)
            details["cost"] = cost.to_json()
        try:
            await self.claimer.fail(claim, message, details)
        except ApiError as api_exc:
            # The job stays IN_PROGRESS; its lease expiring brings it back.
            log.error("job %s: could not record the failure: %s", claim.job_id, api_exc)
        return JobOutcome(claim.job_id, "FAILED", message)

    async def _send_response(self, result_id: str) -> None:
        # Before the job is marked COMPLETED, as the real worker does: a worker that dies in
        # between leaves the job to be retried, and the retry sends the same id again.
        if self.settings.response_queue_url is None:
            return
        from plexus.clients.queues import send_response

        await send_response(self.settings.region, self.settings.response_queue_url, result_id)
        log.info("score result %s sent to the response queue", result_id)

    async def _complete_from_cache(self, claim: Claim, cached: dict[str, Any]) -> JobOutcome:
        log.info("job %s: reusing score result %s", claim.job_id, cached["id"])
        try:
            await self._send_response(cached["id"])
        except EXPECTED_ERRORS as exc:
            return await self._fail(claim, str(exc), exc)
        finished = await self.claimer.complete(
            claim, {"scoreResultId": cached["id"], "cached": True, "costUsd": "0"}
        )
        status = "COMPLETED" if finished else "SKIPPED"
        return JobOutcome(
            claim.job_id, status, score_result_id=cached["id"], cached=True, cost_usd=Decimal(0)
        )

    async def _item_text(
        self, item: dict[str, Any], config: ScoreConfig, job: dict[str, Any]
    ) -> Any:
        """What the score reads of the item (plexus/scores/worker_support.py)."""
        from plexus.worker.score_input import worker_input

        return await worker_input(self.api, config, item, job, self._scoring_run(), self._fetch)

    async def _fetch(self, item: dict[str, Any]) -> str:
        url = parse_json(item.get("metadata")).get("contentUrl")
        if not url:
            raise JobError(f"item {item['id']} has no text and no metadata.contentUrl")
        from plexus.clients.content import fetch_text

        return await asyncio.to_thread(
            fetch_text,
            str(url),
            max_bytes=self.settings.content_max_bytes,
            timeout_seconds=self.settings.content_timeout_seconds,
            allowed_hosts=self.settings.content_allowed_hosts,
        )

    def _scoring_run(self) -> Any:
        from plexus.scores.providers import Models
        from plexus.scores.run import Run, ScoringSettings

        scoring = ScoringSettings.from_settings(self.settings)
        if self._model_client is None:
            # The model clients live as long as the processor; close() closes them.
            self._model_client = Models(scoring)
        return Run(scoring, self._model_client)

    async def _classify(
        self, config: ScoreConfig, version_id: str, score_input: Any
    ) -> tuple[Classification, str]:
        from plexus.scores import score_item
        from plexus.scores.result import ScoreResult
        from plexus.worker.score_input import input_key

        run = self._scoring_run()
        run.results = getattr(score_input, "dependency_results", {})
        if not config.uses_model():
            return await score_item(config, score_input, run), "rules"
        store = await self._output_store()
        key = input_key(score_input, run.results)
        if store is not None:
            saved = await store.get(version_id, key)
            if saved is not None:
                log.info("model output found in the store; no model call")
                return ScoreResult.from_json(saved), "store"
        result = await score_item(config, score_input, run)
        if store is not None:
            await store.put(version_id, key, result.to_json())
        return result, "model"

    async def _output_store(self) -> Any:
        if self.settings.postgres_uri is None:
            return None
        async with self._store_lock:
            if self._store is None:
                from plexus.clients.model_store import ModelOutputStore

                self._store = await ModelOutputStore(self.settings.postgres_uri.get()).__aenter__()
        return self._store

    async def _upload(self, result_id: str, trace: dict[str, Any], lines: list[str]) -> list[str]:
        from plexus.clients.attachments import upload_attachments

        bucket = require(
            self.settings.bucket,
            "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME",
            "score results' trace and log go to this bucket",
        )
        log.info("storing attachments of score result %s", result_id)
        return await upload_attachments(
            self.settings.region,
            bucket,
            result_id,
            trace,
            "\n".join(lines) + "\n",
            attempt=trace["attempt"],
        )

    async def _create_result(
        self,
        claim: Claim,
        item: dict[str, Any],
        score: dict[str, Any],
        version_id: str,
        result_id: str,
        classification: Classification,
        source: str,
        attachments: list[str],
    ) -> None:
        fields = {
            "id": result_id,
            "value": classification.value,
            "explanation": classification.explanation,
            "confidence": classification.confidence,
            # The real worker's metadata keys (the dashboard shows source and explanation),
            # plus how this worker got the answer and on which attempt.
            "metadata": json.dumps(
                {
                    "source": "Worker",
                    "cached_at": utc_iso(),
                    "external_id": item.get("externalId"),
                    "explanation": classification.explanation,
                    "scoring": source,
                    "attempt": claim.attempt,
                },
                default=str,
            ),
            "cost": json.dumps(classification.cost.to_json()),
            "trace": json.dumps(classification.trace, default=str),
            "code": "200",
            "type": PREDICTION,
            # Required by the real resolvers: the index byTypeStatusUpdated (status#updatedAt)
            # gets updatedAt from the resolver, so its status must come with every create.
            "status": "COMPLETED",
            "attachments": attachments,
            "itemId": item["id"],
            "accountId": claim.job["accountId"],
            "scorecardId": claim.job["scorecardId"],
            "scoreId": score["id"],
            "scoreVersionId": version_id,
            "scoringJobId": claim.job_id,
        }
        try:
            await self.api.create_score_result(fields)
        except ConditionFailed:
            # An earlier attempt of this job created it before it died; keep that one.
            log.info("score result %s already exists (earlier attempt)", result_id)
