"""In-memory stand-ins for the job processor's collaborators (plexus/worker/ports.py).

FakeApi keeps records in dicts and applies the conditions the processor writes with
(`status eq`, `startedAt eq`, `and`) as AppSync's DynamoDB resolvers do: a write whose
condition does not hold raises ConditionFailed and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from plexus.clients.plexus_api import ConditionFailed


def _holds(record: dict[str, Any], condition: dict[str, Any] | None) -> bool:
    if condition is None:
        return True
    if "and" in condition:
        return all(_holds(record, part) for part in condition["and"])
    ((name, test),) = condition.items()
    return record.get(name) == test["eq"]


@dataclass
class FakeApi:
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    scorecards: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    cached: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # A write that fails its condition once, as if another worker had taken the job.
    steal_on_status: str | None = None

    def seed(self, configuration: str, text: str = "hello") -> str:
        score_id, version_id, item_id, job_id = (str(uuid.uuid4()) for _ in range(4))
        self.scorecards.setdefault("card", {"id": "card", "name": "Quality"})
        self.scores[score_id] = {
            "id": score_id,
            "name": "Greeting",
            "championVersionId": version_id,
        }
        self.versions[version_id] = {"id": version_id, "configuration": configuration}
        self.items[item_id] = {"id": item_id, "text": text, "externalId": None}
        self.jobs[job_id] = {
            "id": job_id,
            "status": "PENDING",
            "accountId": "acct",
            "scorecardId": "card",
            "scoreId": score_id,
            "itemId": item_id,
            "createdAt": "2026-12-02T00:00:00.000Z",
        }
        return job_id

    async def account_id(self, key: str) -> str:
        return "acct"

    async def claimable_jobs(
        self, account_id: str, since: str, lease_cutoff: str
    ) -> AsyncIterator[dict[str, Any]]:
        for job in list(self.jobs.values()):
            if job["status"] == "PENDING":
                yield dict(job)

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return None if job is None else dict(job)

    async def update_job(
        self, fields: dict[str, Any], condition: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        job = self.jobs[fields["id"]]
        if not _holds(job, condition) or fields.get("status") == self.steal_on_status:
            self.steal_on_status = None
            raise ConditionFailed("The conditional request failed")
        job.update(fields)
        return dict(job)

    async def job_context(
        self, item_id: str, score_id: str, scorecard_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
        return self.items.get(item_id), self.scores.get(score_id), self.scorecards.get(scorecard_id)

    async def version_and_cached_result(
        self, version_id: str, item_id: str, score_id: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        return self.versions.get(version_id), self.cached.get((item_id, score_id))

    async def create_score_result(self, fields: dict[str, Any]) -> dict[str, Any]:
        if fields["id"] in self.results:
            raise ConditionFailed("The conditional request failed")
        self.results[fields["id"]] = dict(fields)
        return fields

    async def attached_files(self, item_id: str) -> list[str]:
        return []

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None:
        return next((s["id"] for s in self.scores.values() if s["name"] == name), None)

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None:
        return self.cached.get((item_id, score_id))


@dataclass
class FakeFiles:
    stored: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)

    def prepare(self) -> None:
        pass

    def sign_ahead(self, result_id: str, attempt: int) -> None:
        pass

    async def upload(
        self, result_id: str, trace: dict[str, Any], log_text: str, attempt: int
    ) -> list[str]:
        self.stored[result_id] = (trace, log_text)
        return [f"scoreresults/{result_id}/trace.json", f"scoreresults/{result_id}/log.txt"]


@dataclass
class FakeResponses:
    sent: list[str] = field(default_factory=list)

    async def send(self, result_id: str) -> None:
        self.sent.append(result_id)


@dataclass
class RaisingScorer:
    """A scorer whose every run raises `error`."""

    error: Exception

    async def score(self, request: Any, host: Any, *, ends_at: float | None = None) -> Any:
        raise self.error
