"""The job processor: claim jobs, score them, store results, finish them.

One job, step by step (`_run`), each step a method over typed values:
  1. claim it (plexus/worker/claim.py);
  2. `_load`: the item, score and scorecard (one API round trip), then the champion version
     and the newest prediction of the item and score through the real cache index (one
     round trip); a result of this score version completes the job with it, no model call;
  3. `_score`: parse the YAML, read the item, classify (plexus/worker/scoring.py), in a
     score process under PLEXUS_SCORE_TIMEOUT_SECONDS (plexus/worker/score_pool.py),
     through the PostgreSQL model-output store when PLEXUS_POSTGRES_URI is set;
  4. `_upload`: trace.json and log.txt to S3;
  5. `_create_result`: the ScoreResult as the real resolvers require (status COMPLETED with
     type, item and score ids), its id derived from the job's so a retry never makes two;
  6. `_send_response`: with PLEXUS_RESPONSE_WORKER_QUEUE_URL set, `{"score_result_id"}` there;
  7. mark the job COMPLETED, or FAILED with the reason; a job the invocation's end cuts
     short goes back to PENDING (`Claimer.release`). One bad job never stops the others.
A network fault is never the job's fault: the API client retries it; one that outlasts the
retries gives the job back (`_give_back_after_fault`), or, when not even that can be
written, leaves it IN_PROGRESS to be claimed again after its lease. A drain whose listing
or claim fails that way takes no new job, finishes the ones it holds, then reports the
error (`DrainSummary.error`).
A job that had finished before (a redelivered message) is reported, not scored again.
The collaborators come in through plexus/worker/ports.py's interfaces.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator
from contextlib import AsyncExitStack, aclosing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar, cast

from plexus.clients.plexus_api import PREDICTION, ApiError, ApiUnavailable, ConditionFailed
from plexus.core import job_log
from plexus.core.errors import JobError, JobFailure, ServiceUnavailable
from plexus.core.settings import Settings, SettingsError
from plexus.worker.claim import Claim, Claimer, ClaimRefused, JobNotFound, lease_cutoff, utc_iso
from plexus.worker.scoring import Scored, ScoreRequest

if TYPE_CHECKING:
    from plexus.scores.result import ScoreResult as Classification
    from plexus.worker.ports import (
        Content,
        JobsApi,
        OutputStore,
        ResponseQueue,
        ResultFiles,
        Scorer,
    )

log = logging.getLogger(__name__)
T = TypeVar("T")

# ScoreResult ids are uuid5(job id) in this namespace: a retry re-creates the same id,
# which the API refuses, so a job has at most one result however often it runs.
RESULT_NAMESPACE = uuid.UUID("3f5b0d5e-8f0a-4d52-9d3e-6c7a1b2e9f10")
# Scoring stops this long before the invocation ends, to give the job back in time.
GIVE_BACK_SECONDS = 5.0


class Outcome(StrEnum):
    """What this worker did with a job (not the job's status in Plexus)."""

    COMPLETED = "COMPLETED"  # finished with a result
    FAILED = "FAILED"  # marked FAILED with the reason (or found failed before)
    SKIPPED = "SKIPPED"  # not ours to do: taken by another worker, or done before
    RELEASED = "RELEASED"  # given back to PENDING: the invocation ended first


@dataclass
class JobOutcome:
    job_id: str
    status: Outcome
    reason: str | None = None
    score_result_id: str | None = None
    cached: bool = False
    cost_usd: Decimal | None = None
    seconds: float = 0.0
    # The job had finished before this delivery (SQS redelivered it): reported, not scored.
    already_finished: bool = False

    @property
    def redeliver(self) -> bool:
        """Whether a queue message for this job should come back (failed, or given back)."""
        return self.status in (Outcome.FAILED, Outcome.RELEASED)


@dataclass
class DrainSummary:
    outcomes: list[JobOutcome] = field(default_factory=list)
    stopped_for_time: bool = False
    # A drain step (listing, claiming) that failed past the API client's retries; the jobs
    # in flight were finished (or given back) before the drain returned.
    error: str | None = None

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def score_result_id(job_id: str) -> str:
    return str(uuid.uuid5(RESULT_NAMESPACE, job_id))


# Errors that are the job's fault or an outside service's, reported as they are.
EXPECTED_ERRORS = (JobFailure, SettingsError, ApiError)


@dataclass(frozen=True)
class JobContext:
    """What the API holds for a claimed job: the records its scoring reads."""

    item: dict[str, Any]
    score: dict[str, Any]
    scorecard: dict[str, Any]
    version_id: str
    version: dict[str, Any]
    cached: dict[str, Any] | None


class Timings:
    """Seconds each step of a job took, for its trace."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 4)


class _JobHost:
    """What a job's scoring asks of this process (plexus/worker/scoring.py's ScoreHost)."""

    def __init__(self, processor: JobProcessor) -> None:
        self._processor = processor

    async def attached_files(self, item: dict[str, Any]) -> list[str]:
        from plexus.worker import score_input

        return await score_input.attached_files(self._processor.api, item)  # type: ignore[arg-type]

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None:
        return await self._processor.api.score_id_by_name(scorecard_id, name)

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None:
        return await self._processor.api.newest_prediction(item_id, score_id)

    async def fetch(self, item: dict[str, Any]) -> str:
        return await self._processor.content.fetch(item)

    async def store_get(self, version_id: str, key: str) -> dict[str, Any] | None:
        store = await self._processor.output_store()
        return None if store is None else await store.get(version_id, key)

    async def store_put(self, version_id: str, key: str, output: dict[str, Any]) -> None:
        store = await self._processor.output_store()
        if store is not None:
            await store.put(version_id, key, output)


class JobProcessor:
    """Processes jobs over one API session; `remaining_seconds` is the invocation's clock.

    Collaborators not given are the real ones, made from `settings` on first use.
    """

    def __init__(
        self,
        settings: Settings,
        api: JobsApi,
        *,
        remaining_seconds: Callable[[], float] | None = None,
        scorer: Scorer | None = None,
        files: ResultFiles | None = None,
        responses: ResponseQueue | None = None,
        store: OutputStore | None = None,
        content: Content | None = None,
    ) -> None:
        from plexus.worker.services import S3ResultFiles, SqsResponses, UrlContent

        self.settings = settings
        self.api = api
        self.claimer = Claimer(
            api,  # type: ignore[arg-type]
            lease_seconds=settings.lease_seconds,
            max_attempts=settings.max_attempts,
        )
        self._remaining = remaining_seconds
        self._scorer = scorer
        # Whatever the processor opens (the output store, the S3 connections) is closed by
        # close().
        self._resources = AsyncExitStack()
        if files is None:
            s3_files = S3ResultFiles(settings)
            self._resources.push_async_callback(s3_files.close)
            files = s3_files
        self.files = files
        if responses is None and settings.response_queue_url is not None:
            responses = SqsResponses(settings.region, settings.response_queue_url)
        self.responses = responses
        self.content = content or UrlContent(settings)
        self._store = store
        self._store_lock = asyncio.Lock()
        # A service's error message may echo a key back; never store one in a job.
        self._redact = job_log.RedactingFilter(settings.secrets()).redact
        # Each job's log lines become its log.txt, whoever runs the processor.
        plexus_logger = logging.getLogger("plexus")
        job_log.install(plexus_logger, settings.secrets())
        if plexus_logger.level == logging.NOTSET:
            plexus_logger.setLevel(logging.INFO)

    async def __aenter__(self) -> JobProcessor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._resources.aclose()

    @property
    def scorer(self) -> Scorer:
        """The container's score processes (made on the first job, not on an empty poll;
        from the event loop: the pool begins what its first fork needs)."""
        if self._scorer is None:
            from plexus.scores.run import ScoringSettings
            from plexus.worker.score_pool import shared_pool

            pool = shared_pool(
                ScoringSettings.from_settings(self.settings),
                limit_seconds=self.settings.score_timeout_seconds,
                keep=self.settings.concurrency,
                processes=self.settings.processes,
            )
            # The uploads' client is made before the first fork: shared with the score
            # processes, and off the event loop; begun now, in the background.
            pool.before_fork("attachments", self.files.prepare)
            pool.prepare_soon()
            self._scorer = pool
        return self._scorer

    async def output_store(self) -> OutputStore | None:
        if self._store is None and self.settings.postgres_uri is not None:
            async with self._store_lock:
                if self._store is None:
                    from plexus.clients.model_store import ModelOutputStore

                    uri = self.settings.postgres_uri.get()
                    self._store = await self._resources.enter_async_context(ModelOutputStore(uri))
        return self._store

    def out_of_time(self) -> bool:
        return (
            self._remaining is not None and self._remaining() < self.settings.min_remaining_seconds
        )

    # Entry points -------------------------------------------------------------------

    async def process_job_id(self, job_id: str) -> JobOutcome:
        """Claim and process one job (the `{"scoringJobId": ...}` and SQS paths)."""
        try:
            claim = await self._claim(job_id)
        except JobNotFound as exc:
            return JobOutcome(job_id, Outcome.FAILED, str(exc))
        except ApiUnavailable as exc:
            return self._claim_unanswered(job_id, exc)
        return await self._after_claim(job_id, claim)

    async def _claim(self, job_id: str, seen: dict[str, Any] | None = None) -> Claim | ClaimRefused:
        """Claim the job, keeping the claim's log lines (a retry, a read-back) for its log."""
        with job_log.capture() as lines:
            claim = await self.claimer.claim(job_id, seen=seen)
        if isinstance(claim, Claim):
            claim.log_lines = lines
        return claim

    def _claim_unanswered(self, job_id: str, exc: ApiError) -> JobOutcome:
        """A claim the API never answered: whether it landed is unknown, so the job is left
        to a later claim (PENDING, or IN_PROGRESS until its lease runs out); for SQS, the
        record is redelivered (RELEASED)."""
        what = "claim not answered" if isinstance(exc, ApiUnavailable) else "claim failed"
        reason = self._redact(f"{what}, left to a later claim: {exc}")
        log.warning("job %s: %s", job_id, reason)
        return JobOutcome(job_id, Outcome.RELEASED, reason)

    async def drain(self, account_key: str) -> DrainSummary:
        """Claim and process claimable jobs of the account until none is left or time runs short."""
        account_id = await self.api.account_id(account_key)
        summary = DrainSummary()
        slots = asyncio.Semaphore(self.settings.concurrency)

        # Jobs given back are for the next invocation, not for this one's next pass.
        given_back: set[str] = set()
        # A drain step that failed: no new claims; the jobs held are finished first.
        failures: list[Exception] = []

        async def run(job: dict[str, Any]) -> JobOutcome:
            try:
                try:
                    claim = await self._claim(job["id"], seen=job)
                except Exception as exc:
                    failures.append(exc)
                    return self._claim_unanswered(job["id"], _as_api_error(exc))
                return await self._after_claim(job["id"], claim)
            finally:
                slots.release()

        # Only jobs created within the window are read: the index's sort key bounds the
        # query, so the account's finished history does not cost a request per page.
        since = utc_iso(datetime.now(UTC) - timedelta(hours=self.settings.drain_window_hours))
        while True:
            tasks: list[asyncio.Task[JobOutcome]] = []
            oldest: str | None = None
            # Closed however the loop ends, so that the listing's read ahead ends too.
            listed = self._listed_until_failure(account_id, since, failures)
            async with aclosing(listed):
                async for job in listed:
                    if job["id"] in given_back:
                        continue
                    if job.get("createdAt") and (oldest is None or job["createdAt"] < oldest):
                        oldest = job["createdAt"]
                    await slots.acquire()
                    if failures:  # a claim failed past the retries: no new claims
                        slots.release()
                        break
                    if self.out_of_time():
                        slots.release()
                        summary.stopped_for_time = True
                        log.warning(
                            "less than PLEXUS_MIN_REMAINING_SECONDS=%gs left: no new claims",
                            self.settings.min_remaining_seconds,
                        )
                        break
                    tasks.append(asyncio.create_task(run(job)))
            # Whatever stopped the listing, the jobs held are finished (or given back)
            # before the drain returns and its caller closes the API client.
            outcomes = await asyncio.gather(*tasks)
            summary.outcomes.extend(outcomes)
            if failures:
                return self._drain_failed(summary, failures[0])
            given_back.update(o.job_id for o in outcomes if o.status == Outcome.RELEASED)
            # Jobs may have arrived while we worked: list again until a pass finds nothing to do.
            worked = [o for o in outcomes if o.status not in (Outcome.SKIPPED, Outcome.RELEASED)]
            if summary.stopped_for_time or not worked:
                return summary
            # What was older than this pass's oldest claimable job was finished or under
            # lease when read; new jobs are created now. So the next pass starts there.
            # (A lease that runs out meanwhile is the next invocation's to reclaim.)
            if oldest is not None and oldest > since:
                since = oldest

    async def _listed_until_failure(
        self, account_id: str, since: str, failures: list[Exception]
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The claimable jobs; a listing that fails past the retries ends the iteration,
        its error in `failures`, so that the drain finishes the jobs it holds first."""
        listing = self.api.claimable_jobs(
            account_id, since, lease_cutoff(self.settings.lease_seconds)
        )
        try:
            async with aclosing(listing):  # a drain that stops early ends the read ahead
                async for job in listing:
                    yield job
        except Exception as exc:
            failures.append(exc)

    def _drain_failed(self, summary: DrainSummary, exc: Exception) -> DrainSummary:
        """A listing or claim failed past the retries: the drain stops, with the error."""
        error = _as_api_error(exc)
        summary.error = self._redact(str(error))
        log.error(
            "drain stopped: %s; %d job(s) it held were finished or given back first",
            summary.error,
            len(summary.outcomes),
        )
        return summary

    # One job ------------------------------------------------------------------------

    async def _after_claim(self, job_id: str, claim: Claim | ClaimRefused) -> JobOutcome:
        if isinstance(claim, ClaimRefused):
            # A job that failed before stays failed for whoever asks again, so that SQS keeps
            # retrying its message and then dead-letters it, as the real stack expects.
            failed = claim.failed or claim.finished == "FAILED"
            log.info("job %s not processed: %s", job_id, claim.reason)
            return JobOutcome(
                job_id,
                Outcome.FAILED if failed else Outcome.SKIPPED,
                claim.reason,
                already_finished=claim.finished is not None,
            )
        started = time.perf_counter()
        with job_log.capture() as lines:
            outcome = await self._run(claim, lines)
        outcome.seconds = time.perf_counter() - started
        return outcome

    async def _run(self, claim: Claim, lines: list[str]) -> JobOutcome:
        # The first job makes the score processes' pool now, not at its scoring: what the
        # pool's first fork needs is then made while this job's API round trips run.
        _ = self.scorer
        lines.extend(claim.log_lines)
        log.info("job %s claimed (attempt %d)", claim.job_id, claim.attempt)
        timings = Timings()
        try:
            with timings.step("load"):
                context = await self._load(claim)
            if context.cached is not None:
                return await self._complete_from_cache(claim, context.cached)
            result_id = score_result_id(claim.job_id)
            # The attachments' PUTs are signed while the model works.
            self.files.sign_ahead(result_id, claim.attempt)
            with timings.step("score"):
                scored = await self._score(claim, context)
            lines.extend(scored.lines)
            from plexus.scores.result import ScoreResult

            classification = ScoreResult.from_json(scored.classification)
            log.info(
                "job %s: %s -> %r (%s)",
                claim.job_id,
                context.score["name"],
                classification.value,
                scored.source,
            )
            trace = _trace(claim, context, result_id, scored, timings)
            with timings.step("attachments"):
                attachments = await self._upload(result_id, trace, lines)
            await self._create_result(
                claim, context, result_id, classification, scored, attachments
            )
            await self._send_response(result_id)
            return await self._complete(claim, result_id, classification, scored.source)
        except ServiceUnavailable as exc:  # the Plexus API, S3 or SQS past their retries
            return await self._give_back_after_fault(claim, exc)
        except EXPECTED_ERRORS as exc:
            from plexus.worker.score_pool import OutOfTime

            if isinstance(exc, OutOfTime):
                return await self._release(claim, str(exc))
            return await self._fail(claim, str(exc), exc)
        except Exception as exc:
            log.exception("job %s: unexpected error", claim.job_id)
            return await self._fail(claim, f"internal error: {type(exc).__name__}: {exc}", exc)

    async def _load(self, claim: Claim) -> JobContext:
        job = claim.job
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
        return JobContext(item, score, scorecard, version_id, version, cached)

    async def _score(self, claim: Claim, context: JobContext) -> Scored:
        request = ScoreRequest(
            job_id=claim.job_id,
            version_id=context.version_id,
            configuration=context.version.get("configuration"),
            source=f"score {context.score['name']!r} version {context.version_id}",
            item=context.item,
            job=claim.job,
            use_store=self.settings.postgres_uri is not None or self._store is not None,
        )
        ends_at = None
        if self._remaining is not None:
            ends_at = time.monotonic() + self._remaining() - GIVE_BACK_SECONDS
        return await self.scorer.score(request, _JobHost(self), ends_at=ends_at)

    async def _complete(
        self, claim: Claim, result_id: str, classification: Classification, source: str
    ) -> JobOutcome:
        cost = classification.cost.total_cost
        finished = await self.claimer.complete(
            claim,
            {"scoreResultId": result_id, "cached": False, "source": source, "costUsd": str(cost)},
        )
        if not finished:
            return JobOutcome(
                claim.job_id, Outcome.SKIPPED, "lease lost to another worker", result_id
            )
        return JobOutcome(claim.job_id, Outcome.COMPLETED, score_result_id=result_id, cost_usd=cost)

    async def _fail(self, claim: Claim, message: str, exc: Exception) -> JobOutcome:
        message = self._redact(message)
        log.warning("job %s failed: %s", claim.job_id, message)
        kind = getattr(exc, "type_name", type(exc).__name__)
        details: dict[str, Any] = {"errorType": kind, "attempt": claim.attempt}
        cost = getattr(exc, "cost", None)
        if cost is not None:  # what the model calls before the failure cost (TactusScore)
            details["cost"] = cost.to_json()
        try:
            await self.claimer.fail(claim, message, details)
        except ApiError as api_exc:
            # The job stays IN_PROGRESS; its lease expiring brings it back.
            log.error(
                "job %s: could not record the failure (%s); left IN_PROGRESS for a claim "
                "after its lease (PLEXUS_JOB_LEASE_SECONDS=%g)",
                claim.job_id,
                api_exc,
                self.settings.lease_seconds,
            )
        return JobOutcome(claim.job_id, Outcome.FAILED, message)

    async def _give_back_after_fault(self, claim: Claim, exc: ServiceUnavailable) -> JobOutcome:
        """A service (the Plexus API, S3, SQS) kept failing past its retries: not the job's
        fault, so it goes back to PENDING (counted against PLEXUS_JOB_MAX_ATTEMPTS) rather
        than FAILED."""
        service = "Plexus API" if isinstance(exc, ApiUnavailable) else "AWS"
        return await self._release(
            claim, f"{service} fault, not the job's: {exc}", error_type="ServiceUnavailable"
        )

    async def _release(
        self, claim: Claim, reason: str, error_type: str = "OutOfTime"
    ) -> JobOutcome:
        """Give the job back before the invocation ends, rather than leave it to its lease."""
        reason = self._redact(reason)
        try:
            status = await self.claimer.release(claim, reason, error_type)
        except ApiError as api_exc:
            log.error(
                "job %s: could not give it back (%s); left IN_PROGRESS for a claim after its "
                "lease (PLEXUS_JOB_LEASE_SECONDS=%g)",
                claim.job_id,
                api_exc,
                self.settings.lease_seconds,
            )
            return JobOutcome(claim.job_id, Outcome.RELEASED, reason)
        if status == "FAILED":
            return JobOutcome(claim.job_id, Outcome.FAILED, reason)
        if status == "COMPLETED":  # an earlier, unanswered update had completed it
            return JobOutcome(claim.job_id, Outcome.COMPLETED)
        log.warning("job %s given back to PENDING: %s", claim.job_id, reason)
        return JobOutcome(claim.job_id, Outcome.RELEASED, reason)

    async def _send_response(self, result_id: str) -> None:
        # Before the job is marked COMPLETED, as the real worker does: a worker that dies in
        # between leaves the job to be retried, and the retry sends the same id again.
        if self.responses is None:
            return
        await self.responses.send(result_id)
        log.info("score result %s sent to the response queue", result_id)

    async def _complete_from_cache(self, claim: Claim, cached: dict[str, Any]) -> JobOutcome:
        log.info("job %s: reusing score result %s", claim.job_id, cached["id"])
        try:
            await self._send_response(cached["id"])
        except ServiceUnavailable as exc:
            return await self._give_back_after_fault(claim, exc)
        except EXPECTED_ERRORS as exc:
            return await self._fail(claim, str(exc), exc)
        finished = await self.claimer.complete(
            claim, {"scoreResultId": cached["id"], "cached": True, "costUsd": "0"}
        )
        return JobOutcome(
            claim.job_id,
            Outcome.COMPLETED if finished else Outcome.SKIPPED,
            score_result_id=cached["id"],
            cached=True,
            cost_usd=Decimal(0),
        )

    async def _upload(self, result_id: str, trace: dict[str, Any], lines: list[str]) -> list[str]:
        log.info("storing attachments of score result %s", result_id)
        return await self.files.upload(
            result_id, trace, "\n".join(lines) + "\n", attempt=trace["attempt"]
        )

    async def _create_result(
        self,
        claim: Claim,
        context: JobContext,
        result_id: str,
        classification: Classification,
        scored: Scored,
        attachments: list[str],
    ) -> None:
        item, score, version_id, source = (
            context.item,
            context.score,
            context.version_id,
            scored.source,
        )
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
        except ConditionFailed as exc:
            # The id is the job's own: either this create's earlier send landed unanswered,
            # or an earlier attempt of this job created it before it died; keep that one.
            why = "this create's earlier send" if exc.retried else "an earlier attempt"
            log.info("job %s: score result %s already exists (%s)", claim.job_id, result_id, why)


async def finish_all(coroutines: Iterable[Awaitable[T]]) -> list[T]:
    """Await every one, then raise the first error: unlike a bare gather, one job's error
    never returns while the others are still in flight on the API client their caller is
    about to close."""
    results = await asyncio.gather(*coroutines, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast("list[T]", results)


def _as_api_error(exc: Exception) -> ApiError:
    """A failed drain step's error, as the API error the callers report."""
    if isinstance(exc, ApiError):
        return exc
    return ApiError(f"internal error: {type(exc).__name__}: {exc}")


def _trace(
    claim: Claim, context: JobContext, result_id: str, scored: Scored, timings: Timings
) -> dict[str, Any]:
    """trace.json: what the job read, how it was answered, and how long each step took."""
    return {
        "scoringJobId": claim.job_id,
        "scoreResultId": result_id,
        "attempt": claim.attempt,
        "item": {
            "id": context.item["id"],
            "externalId": context.item.get("externalId"),
            "chars": scored.text_chars,
        },
        "scorecard": {"id": context.scorecard["id"], "name": context.scorecard.get("name")},
        "score": {
            "id": context.score["id"],
            "name": context.score["name"],
            "versionId": context.version_id,
        },
        "source": scored.source,
        "classification": scored.classification,
        "seconds": dict(timings.seconds),
    }
