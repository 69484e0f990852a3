"""The benchmarks' API (bench/lean_api.py: the emulator on its memory backend, with the
benchmarks' executor) keeps what the worker relies on: a conditional write is atomic (one
winner among concurrent claims), AppSync's 401, and the answers graphql-core's executor
gives to the worker's documents. The emulator's rules themselves are tests/local_api's
cases, run against both backends."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import pytest
from _lean_server import StandIn
from lean_api import LeanApi

from plexus.clients import plexus_api as P
from plexus.clients.plexus_api import ApiError, PlexusApi
from plexus.core.settings import Secret, load_settings
from plexus.local.emulator import Emulator
from plexus.local.memory_store import MemoryStore
from plexus.worker.claim import Claim, Claimer, ClaimRefused

KEY = "lean-test-key"


@pytest.fixture
def lean_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandIn]:
    monkeypatch.setenv("PLEXUS_API_KEY", KEY)
    # A latency long enough that the concurrent claims are all in flight at once.
    with StandIn("lean_api.py", "--latency", "0.05") as api:
        yield api


def settings_for(api: StandIn) -> Any:
    env = {
        **os.environ,
        "PLEXUS_API_URL": f"{api.url}/graphql",
        "PLEXUS_API_KEY": KEY,
        "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
    }
    return dataclasses.replace(load_settings(env), concurrency=20)


def test_concurrent_claims_of_one_job_have_one_winner(lean_api: StandIn) -> None:
    lean_api.control(
        "/_seed",
        {
            "ScoringJob": [
                {
                    "id": "job-1",
                    "accountId": "acct",
                    "status": "PENDING",
                    "itemId": "i",
                    "scoreId": "s",
                    "scorecardId": "c",
                }
            ]
        },
    )
    lean_api.reset()

    async def claims() -> list[Claim | ClaimRefused]:
        async with PlexusApi(settings_for(lean_api)) as api:
            claimer = Claimer(api, lease_seconds=600, max_attempts=3)
            pending = {"id": "job-1", "status": "PENDING"}  # as a listing showed it to each
            return await asyncio.gather(*(claimer.claim("job-1", seen=pending) for _ in range(20)))

    outcomes = asyncio.run(claims())
    winners = [o for o in outcomes if isinstance(o, Claim)]
    assert len(winners) == 1, outcomes
    assert winners[0].job["status"] == "IN_PROGRESS"
    assert all(o.reason == "claimed by another worker" for o in outcomes if o not in winners)
    stats = lean_api.stats()
    assert stats["operations"] == {"updateScoringJob": 20}
    assert stats["peak_in_flight"] >= 2  # the claims overlapped: the test tested something


def test_wrong_key_gets_appsyncs_401(lean_api: StandIn) -> None:
    async def account() -> str:
        settings = dataclasses.replace(settings_for(lean_api), api_key=Secret("wrong-key"))
        async with PlexusApi(settings, max_attempts=1) as api:
            return await api.account_id("acme")

    with pytest.raises(ApiError, match="UnauthorizedException") as raised:
        asyncio.run(account())
    assert "wrong-key" not in str(raised.value)


def _worker_session(emulator: Emulator) -> list[dict[str, Any]]:
    """The documents a job's processing sends, in order, with fixed ids; the answers
    without timestamps (each executor's writes stamp their own)."""
    emulator.put("Account", {"id": "acct", "key": "acme", "name": "acme"})
    emulator.put("Scorecard", {"id": "card", "accountId": "acct", "key": "c", "name": "c"})
    emulator.put(
        "ScoreVersion",
        {"id": "v1", "scoreId": "s1", "configuration": "class: X", "isFeatured": "false"},
    )
    emulator.put(
        "Score",
        {
            "id": "s1",
            **{"name": "S", "order": 0, "type": "X", "sectionId": "x", "externalId": "e"},
            **{"scorecardId": "card", "championVersionId": "v1"},
        },
    )
    emulator.put("Item", {"id": "i1", "accountId": "acct", "text": "hi", "isEvaluation": False})
    job = {"accountId": "acct", "scorecardId": "card", "scoreId": "s1", "itemId": "i1"}
    for n, status in enumerate(["PENDING", "COMPLETED", "PENDING"]):
        created = f"2026-01-0{n + 1}T00:00:00.000Z"
        emulator.put("ScoringJob", {"id": f"j{n}", "status": status, "createdAt": created, **job})
    now = "2026-02-01T00:00:00.000Z"
    result = {"id": "r1", "value": "Yes", "itemId": "i1", "accountId": "acct", "code": "200"}
    result |= {"scorecardId": "card", "scoreId": "s1", "scoringJobId": "j0"}
    result |= {"type": "prediction", "status": "COMPLETED", "metadata": '{"a":1.5}'}
    requests = [
        (P.Q_ACCOUNT_BY_KEY, {"key": "acme"}),
        (
            P.Q_JOBS_BY_ACCOUNT,
            {"accountId": "acct", "since": "2026-01-01T00:00:00Z", "limit": 2}
            | {"filter": {"status": {"eq": "PENDING"}}},
        ),
        (
            P.M_UPDATE_JOB,
            {"input": {"id": "j0", "status": "IN_PROGRESS", "startedAt": now}}
            | {"condition": {"status": {"eq": "PENDING"}}},
        ),
        (P.M_UPDATE_JOB, {"input": {"id": "j0"}, "condition": {"status": {"eq": "PENDING"}}}),
        (P.Q_JOB_CONTEXT, {"itemId": "i1", "scoreId": "s1", "scorecardId": "card"}),
        (
            P.Q_VERSION_AND_RESULT,
            {"versionId": "v1", "itemId": "i1", "type": "prediction", "scoreId": "s1"},
        ),
        (P.M_CREATE_RESULT, {"input": result}),
        (P.M_CREATE_RESULT, {"input": result}),
        (P.Q_NEWEST_RESULT, {"itemId": "i1", "type": "prediction", "scoreId": "s1"}),
        (P.Q_JOB, {"id": "missing"}),
    ]
    answers = []
    for document, variables in requests:
        answer = emulator.execute({"query": document.query, "variables": variables})
        answers.append(_without_stamps(answer))
    return answers


def _without_stamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<stamp>"
            if k in ("createdAt", "updatedAt") or (isinstance(v, str) and "Request ID" in v)
            else _without_stamps(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_without_stamps(v) for v in value]
    return value


def test_the_benchmarks_executor_answers_as_graphql_core_does() -> None:
    fast = _worker_session(Emulator(MemoryStore(), fast=True))
    assert fast == _worker_session(Emulator(MemoryStore()))
    # The session tested something: a lost claim, a refused second create, a found result.
    errors = [a["errors"][0]["errorType"] for a in fast if "errors" in a]
    assert errors == ["DynamoDB:ConditionalCheckFailedException"] * 2
    assert fast[-2]["data"]["listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt"]["items"]


def test_a_document_the_schema_refuses_is_a_validation_error() -> None:
    api = LeanApi(KEY)
    answer = api.emulator.execute(
        {"query": 'query W { listWidgets(limit: 1) getAccount(id: "x") { id } }'}
    )
    assert answer["data"] is None
    [error] = answer["errors"]
    assert error["errorType"] == "ValidationError"
    assert "listWidgets" in error["message"]
