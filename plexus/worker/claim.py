"""Where a job is claimed: the ScoringJob state transitions, each a conditional write.

    PENDING --claim--> IN_PROGRESS --finish--> COMPLETED | FAILED
    IN_PROGRESS (the invocation ends first) --release--> PENDING, or FAILED at the limit
    IN_PROGRESS (lease expired) --reclaim--> IN_PROGRESS (attempts + 1), or FAILED at the limit

Every transition is conditional on the state the worker saw (`status`, and for an
IN_PROGRESS job its `startedAt`, which identifies the claim), so two workers can never both
own a job: the loser's write fails with ConditionFailed, which is normal, not an error.

A write whose answer was lost is retried by the API client (plexus/clients/plexus_api.py);
the retry may then fail its condition because the first send did land. So a claim retried
into ConditionFailed, and every finishing write that fails its condition, reads the job back
(`_read_back`): a job holding the `startedAt` this worker wrote, in the state it asked for,
is its own write, not another worker's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from plexus.clients.plexus_api import ConditionFailed, PlexusApi, parse_json
from plexus.core.timestamps import utc_iso as utc_iso  # re-exported: the processor's import

log = logging.getLogger(__name__)

PENDING, IN_PROGRESS, COMPLETED, FAILED = "PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"


def lease_cutoff(lease_seconds: float) -> str:
    """Claims that started before this moment have outlived their lease."""
    return utc_iso(datetime.now(UTC) - timedelta(seconds=lease_seconds))


@dataclass
class Claim:
    """A job this worker owns, and the `startedAt` that proves it."""

    job: dict[str, Any]
    attempt: int
    # The claim's own log lines (its retries, a read-back), for the job's log.txt.
    log_lines: list[str] = field(default_factory=list)

    @property
    def job_id(self) -> str:
        return str(self.job["id"])

    @property
    def started_at(self) -> str:
        return str(self.job["startedAt"])

    def owned_condition(self) -> dict[str, Any]:
        return {"and": [{"status": {"eq": IN_PROGRESS}}, {"startedAt": {"eq": self.started_at}}]}


@dataclass
class ClaimRefused:
    """Why a job was not claimed: already taken, finished, or given up on."""

    job_id: str
    reason: str
    # Set when this worker gave up on the job (attempt limit) and marked it FAILED.
    failed: bool = False
    # COMPLETED or FAILED when the job had already finished (a redelivered message).
    finished: str | None = None


class JobNotFound(LookupError):
    pass


class Claimer:
    def __init__(self, api: PlexusApi, *, lease_seconds: float, max_attempts: int) -> None:
        self.api = api
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts

    async def claim(self, job_id: str, seen: dict[str, Any] | None = None) -> Claim | ClaimRefused:
        """Claim a job by id. `seen` is the job as a listing returned it, if any."""
        if seen is None or seen.get("status") == PENDING:
            started_at = utc_iso()
            try:
                job = await self.api.update_job(
                    {"id": job_id, "status": IN_PROGRESS, "startedAt": started_at},
                    condition={"status": {"eq": PENDING}},
                )
                return Claim(job, attempt=1)
            except ConditionFailed as exc:
                if exc.retried:
                    own = await self._own_claim(job_id, started_at, attempt=1)
                    if own is not None:
                        return own
                elif seen is not None:
                    return ClaimRefused(job_id, "claimed by another worker")
            seen = await self.api.get_job(job_id)
            if seen is None:
                raise JobNotFound(f"scoring job {job_id} not found")
        status = seen.get("status")
        if status in (COMPLETED, FAILED):
            reason = f"already {status}"
            if status == FAILED and seen.get("errorMessage"):
                reason += f": {seen['errorMessage']}"
            return ClaimRefused(job_id, reason, finished=status)
        if status != IN_PROGRESS:
            return ClaimRefused(job_id, f"job is {status}")
        if not self._lease_expired(seen):
            return ClaimRefused(job_id, "job is IN_PROGRESS under another worker's lease")
        return await self._reclaim(seen)

    async def _own_claim(self, job_id: str, started_at: str, attempt: int) -> Claim | None:
        """After a retried claim failed its condition: the claim, if the first send landed."""
        job = await self._read_back(job_id, IN_PROGRESS, started_at)
        if job is None:
            return None
        log.warning(
            "job %s: the claim's answer was lost; read back, the claim is this worker's",
            job_id,
        )
        return Claim(job, attempt=attempt)

    async def _read_back(self, job_id: str, status: str, started_at: str) -> dict[str, Any] | None:
        """The job, if it is in `status` under the claim that wrote `started_at`."""
        job = await self.api.get_job(job_id)
        if job is None or job.get("status") != status or job.get("startedAt") != started_at:
            return None
        return job

    def _lease_expired(self, job: dict[str, Any]) -> bool:
        started = job.get("startedAt")
        return started is None or started < lease_cutoff(self.lease_seconds)

    async def _reclaim(self, job: dict[str, Any]) -> Claim | ClaimRefused:
        metadata = parse_json(job.get("metadata"))
        attempts = int(metadata.get("attempts", 1))
        stale = {
            "and": [{"status": {"eq": IN_PROGRESS}}, {"startedAt": {"eq": job.get("startedAt")}}]
        }
        if attempts >= self.max_attempts:
            reason = (
                f"abandoned: {attempts} attempts each outlived the {self.lease_seconds:g}s lease "
                "(the function timed out or crashed)"
            )
            try:
                await self.api.update_job(
                    {
                        "id": job["id"],
                        "status": FAILED,
                        "completedAt": utc_iso(),
                        "errorMessage": reason,
                    },
                    condition=stale,
                )
            except ConditionFailed:
                return ClaimRefused(job["id"], "reclaimed by another worker")
            log.warning("job %s failed: %s", job["id"], reason)
            return ClaimRefused(job["id"], reason, failed=True)
        metadata["attempts"] = attempts + 1
        started_at = utc_iso()
        try:
            claimed = await self.api.update_job(
                {
                    "id": job["id"],
                    "status": IN_PROGRESS,
                    "startedAt": started_at,
                    "metadata": json.dumps(metadata),
                },
                condition=stale,
            )
        except ConditionFailed as exc:
            own = None
            if exc.retried:
                own = await self._own_claim(job["id"], started_at, attempt=attempts + 1)
            return own or ClaimRefused(job["id"], "reclaimed by another worker")
        log.info("job %s reclaimed after its lease expired (attempt %d)", job["id"], attempts + 1)
        return Claim(claimed, attempt=attempts + 1)

    async def complete(self, claim: Claim, extra_metadata: dict[str, Any]) -> bool:
        """Mark COMPLETED; False when the lease was lost to another worker meanwhile."""
        metadata = {**parse_json(claim.job.get("metadata")), **extra_metadata}
        return await self._finish(
            claim, {"status": COMPLETED, "metadata": json.dumps(metadata, default=str)}
        )

    async def fail(self, claim: Claim, message: str, details: dict[str, Any]) -> bool:
        return await self._finish(
            claim,
            {
                "status": FAILED,
                "errorMessage": message[:2000],
                "errorDetails": json.dumps(details, default=str),
            },
        )

    async def release(self, claim: Claim, reason: str, error_type: str = "OutOfTime") -> str:
        """Give a job this worker cannot finish back to PENDING for the next claim; after
        `max_attempts` give-backs, FAILED with the reason. Answers the status written (or,
        when an earlier write of this claim had landed unanswered, the status it wrote:
        COMPLETED, FAILED or PENDING), or "" when the claim was lost meanwhile."""
        metadata = parse_json(claim.job.get("metadata"))
        releases = int(metadata.get("releases", 0)) + 1
        if releases >= self.max_attempts:
            message = f"given back {releases} times, each time unfinished: {reason}"
            done = await self.fail(claim, message, {"errorType": error_type, "releases": releases})
            return FAILED if done else ""
        metadata["releases"] = releases
        try:
            await self.api.update_job(
                {"id": claim.job_id, "status": PENDING, "metadata": json.dumps(metadata)},
                condition=claim.owned_condition(),
            )
        except ConditionFailed:
            job = await self.api.get_job(claim.job_id)
            status = str((job or {}).get("status"))
            if job and job.get("startedAt") == claim.started_at and status != IN_PROGRESS:
                log.warning(
                    "job %s: read back, already %s by this worker's earlier write",
                    claim.job_id,
                    status,
                )
                return status
            log.warning("job %s: lease lost before it could be given back", claim.job_id)
            return ""
        return PENDING

    async def _finish(self, claim: Claim, fields: dict[str, Any]) -> bool:
        try:
            await self.api.update_job(
                {"id": claim.job_id, "completedAt": utc_iso(), **fields},
                condition=claim.owned_condition(),
            )
            return True
        except ConditionFailed:
            # A lost answer, then a retry that met the first send's result: ours after all.
            if await self._read_back(claim.job_id, fields["status"], claim.started_at):
                log.warning(
                    "job %s: the %s update's answer was lost; read back, it landed",
                    claim.job_id,
                    fields["status"],
                )
                return True
            log.warning(
                "job %s: lease lost before it could be marked %s", claim.job_id, fields["status"]
            )
            return False
