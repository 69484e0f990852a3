"""Faults aimed at the Plexus API requests a worker sends, for tests/reliability/fault_proxy.py.

`request_kind` names a GraphQL request by what it does to a job (claim, result, complete,
fail, give_back, listing, read); `ScriptedFaults` meets the next requests of a kind with
given actions; `RandomFaults` meets a seeded share of all requests with a fault. Both count
what they saw and what they did. `Backend` seeds and reads the two APIs the tests run
against (the lean in-memory one, bench/lean_api.py; the emulator on moto's DynamoDB,
plexus/local) through the same GraphQL, never through the proxy.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.reliability.fault_proxy import (
    CLOSE,
    FORWARD,
    LOSE_ANSWER,
    RESET,
    STALL,
    Action,
    Down,
    LateError,
    Refuse,
)

APPSYNC_429 = b'{"errors": [{"errorType": "TooManyRequestsException", "message": "Rate exceeded"}]}'
# The fault kinds of issue 22, each as the proxy injects it, by the name the tests use.
FAULTS: dict[str, Action] = {
    "refused": Down(0.15),  # the server restarts: the retry's new connection is refused
    "reset": RESET,  # a reset connection; the request never reached the API
    "closed_before": CLOSE,  # closed without an answer; the request never reached the API
    "closed_after": LOSE_ANSWER,  # the API applied it, the answer was lost
    "read_timeout": STALL,  # the API applied it, the answer came after the client's timeout
    "429": Refuse(429, APPSYNC_429, "application/json"),
    "503": Refuse(503, b"<html>Service Unavailable</html>", "text/html"),
    "504_after": LateError(504),  # the API applied it, then the gateway answered 504
}
# Which of them left the write applied (so the retry meets its own write).
APPLIED = {"closed_after", "read_timeout", "504_after"}


def request_kind(body: bytes) -> str:
    try:
        request = json.loads(body or b"{}")
        query = str(request.get("query", ""))
        variables = request.get("variables") or {}
    except (ValueError, AttributeError):
        return "other"
    if "updateScoringJob" in query:
        status = (variables.get("input") or {}).get("status")
        return {
            "IN_PROGRESS": "claim",
            "COMPLETED": "complete",
            "FAILED": "fail",
            "PENDING": "give_back",
        }.get(status, "update")
    if "createScoreResult" in query:
        return "result"
    if "listScoringJobByAccountIdAndCreatedAt" in query:
        return "listing"
    return "read"


def request_job(body: bytes) -> str | None:
    """The job a write is about (updateScoringJob's input id)."""
    try:
        fields = json.loads(body or b"{}").get("variables", {}).get("input") or {}
    except (ValueError, AttributeError):
        return None
    return fields.get("scoringJobId") or fields.get("id")


@dataclass
class ScriptedFaults:
    """`script[kind]`: the actions met by the next requests of that kind, in order."""

    script: dict[str, list[Action]]
    # Only the requests about this job meet the script (None: every job's).
    job_id: str | None = None
    sent: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def __call__(self, method: str, path: str, body: bytes) -> Action:
        kind = request_kind(body)
        with self._lock:
            self.sent[kind] += 1
            queue = self.script.get(kind)
            if self.job_id is not None and request_job(body) != self.job_id:
                return FORWARD
            if not queue:
                return FORWARD
            self.injected[kind] += 1
            return queue.pop(0)


@dataclass
class RandomFaults:
    """Each request meets one of `faults` (by name, from FAULTS) with probability `rate`."""

    rate: float
    faults: tuple[str, ...]
    seed: int = 22
    sent: Counter[str] = field(default_factory=Counter)
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(self.seed)

    def __call__(self, method: str, path: str, body: bytes) -> Action:
        kind = request_kind(body)
        with self._lock:
            self.sent[kind] += 1
            if self._random.random() >= self.rate:
                return FORWARD
            name = self._random.choice(self.faults)
            self.injected[(kind, name)] += 1
            return FAULTS[name]


KEYWORD_YAML = (
    'class: KeywordClassifier\nrules: [{value: "Yes", keywords: [hello]}]\ndefault: "No"\n'
)
BROKEN_YAML = "class: NoSuchClassifier\n"
Q_JOB = "query J($id: ID!) { getScoringJob(id: $id) { id status startedAt errorMessage metadata } }"
Q_RESULTS = """query R($job: String!) { listScoreResultByScoringJobId(scoringJobId: $job) {
    items { id value scoringJobId } } }"""


def seed_records(
    account_key: str, jobs: int, configuration: str = KEYWORD_YAML, created_at: str | None = None
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """An account, a scorecard, a score and `jobs` PENDING jobs on items that say hello."""
    account, card, score, version = (str(uuid.uuid4()) for _ in range(4))
    items = [str(uuid.uuid4()) for _ in range(jobs)]
    job_ids = [str(uuid.uuid4()) for _ in range(jobs)]
    records = {
        "Account": [{"id": account, "key": account_key, "name": account_key}],
        "Scorecard": [{"id": card, "accountId": account, "key": f"{account_key}-c", "name": "Q"}],
        "ScoreVersion": [
            {"id": version, "scoreId": score, "configuration": configuration, "isFeatured": "false"}
        ],
        "Score": [
            {
                "id": score,
                "name": "Greeting",
                "externalId": score,
                "order": 0,
                "type": "KeywordClassifier",
                "sectionId": f"section-{card}",
                "scorecardId": card,
                "championVersionId": version,
            }
        ],
        "Item": [
            {"id": item, "accountId": account, "text": f"Agent: hello {n}", "isEvaluation": False}
            for n, item in enumerate(items)
        ],
        "ScoringJob": [
            {
                "id": job,
                "accountId": account,
                "scorecardId": card,
                "scoreId": score,
                "itemId": item,
                "status": "PENDING",
                # One millisecond apart, so that a drain lists them in this order.
                **({"createdAt": f"{created_at[:-4]}{n:03d}Z"} if created_at else {}),
            }
            for n, (job, item) in enumerate(zip(job_ids, items, strict=True))
        ],
    }
    return records, job_ids


class Backend:
    """One of the two APIs under test: `url` is its GraphQL endpoint (no proxy)."""

    def __init__(self, name: str, url: str, api_key: str, put: Any) -> None:
        self.name, self.url, self._put = name, url, put
        self._http = httpx.Client(headers={"x-api-key": api_key}, timeout=10)

    def seed(
        self, jobs: int, configuration: str = KEYWORD_YAML, created_at: str | None = None
    ) -> tuple[str, list[str]]:
        key = f"acct-{uuid.uuid4().hex[:10]}"
        records, job_ids = seed_records(key, jobs, configuration, created_at)
        self._put(records)
        return key, job_ids

    def _query(self, query: str, **variables: Any) -> dict[str, Any]:
        answer = self._http.post(self.url, json={"query": query, "variables": variables})
        answer.raise_for_status()
        body = answer.json()
        assert not body.get("errors"), body
        return dict(body["data"])

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self._query(Q_JOB, id=job_id)["getScoringJob"])

    def results(self, job_id: str) -> list[dict[str, Any]]:
        items = self._query(Q_RESULTS, job=job_id)["listScoreResultByScoringJobId"]["items"]
        return [r for r in items if r]

    def close(self) -> None:
        self._http.close()
