"""Conditional writes through real HTTP: the claim race, create/update guards, and the
condition operators, all checked by DynamoDB (moto) rather than by the server."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from tests.local_api.conftest import Gql

CONDITIONAL_FAILED = "DynamoDB:ConditionalCheckFailedException"

CLAIM = """
mutation Claim($id: ID!, $startedAt: AWSDateTime) {
  updateScoringJob(
    input: {id: $id, status: "IN_PROGRESS", startedAt: $startedAt}
    condition: {status: {eq: "PENDING"}}
  ) { id status startedAt }
}
"""

UPDATE_WITH_CONDITION = """
mutation Update($input: UpdateScoringJobInput!, $condition: ModelScoringJobConditionInput) {
  updateScoringJob(input: $input, condition: $condition) { id status metadata }
}
"""

CREATE_JOB = """
mutation Create($input: CreateScoringJobInput!) {
  createScoringJob(input: $input) { id status createdAt updatedAt }
}
"""


def assert_conditional_failure(body: dict[str, Any], field: str) -> None:
    assert body["data"] == {field: None}
    [error] = body["errors"]
    assert error["errorType"] == CONDITIONAL_FAILED
    assert error["path"] == [field]
    assert error["message"].startswith("The conditional request failed")


def test_racing_claims_have_exactly_one_winner(api: Any, account: Any, score_id: str) -> None:
    # moto checks a condition and writes in separate steps; a tiny GIL switch interval
    # makes a lost update likely unless the server keeps each write atomic.
    jobs = [account.job(score_id) for _ in range(8)]
    clients = [Gql(api.url), Gql(api.url)]
    outcomes: dict[str, list[dict[str, Any]]] = {job: [] for job in jobs}
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for job in jobs:
            barrier = threading.Barrier(len(clients))

            def claim(client: Gql, job: str = job, barrier: threading.Barrier = barrier) -> None:
                barrier.wait()
                outcomes[job].append(client(CLAIM, id=job, startedAt="2025-01-01T00:00:00.000Z"))

            threads = [threading.Thread(target=claim, args=(c,)) for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    finally:
        sys.setswitchinterval(previous)
        for client in clients:
            client.close()

    for job, bodies in outcomes.items():
        winners = [b for b in bodies if b["data"]["updateScoringJob"] is not None]
        losers = [b for b in bodies if b["data"]["updateScoringJob"] is None]
        assert len(winners) == 1 and len(losers) == 1, bodies
        assert winners[0]["data"]["updateScoringJob"]["status"] == "IN_PROGRESS"
        assert "errors" not in winners[0]
        assert_conditional_failure(losers[0], "updateScoringJob")
        assert api.get("ScoringJob", job)["status"] == "IN_PROGRESS"


def test_create_with_an_existing_id_fails(gql: Gql, api: Any, account: Any, score_id: str) -> None:
    existing = account.job(score_id)
    before = api.get("ScoringJob", existing)
    body = gql(
        CREATE_JOB,
        input={
            "id": existing,
            "status": "COMPLETED",
            "itemId": "other-item",
            "accountId": account.id,
            "scorecardId": account.scorecard_id,
        },
    )
    assert_conditional_failure(body, "createScoringJob")
    assert api.get("ScoringJob", existing) == before


def test_create_generates_id_and_timestamps(gql: Gql, api: Any, account: Any) -> None:
    body = gql(
        CREATE_JOB,
        input={
            "status": "PENDING",
            "itemId": "item",
            "accountId": account.id,
            "scorecardId": account.scorecard_id,
        },
    )
    job = body["data"]["createScoringJob"]
    assert len(job["id"]) == 36 and job["id"].count("-") == 4
    assert job["createdAt"] == job["updatedAt"]
    assert job["createdAt"][-1] == "Z" and len(job["createdAt"]) == len("2025-01-01T00:00:00.000Z")
    assert api.get("ScoringJob", job["id"])["createdAt"] == job["createdAt"]


def test_update_of_a_missing_id_fails_and_creates_nothing(gql: Gql, api: Any) -> None:
    body = gql(UPDATE_WITH_CONDITION, input={"id": "no-such-job", "status": "FAILED"})
    assert_conditional_failure(body, "updateScoringJob")
    assert api.get("ScoringJob", "no-such-job") is None


def test_update_sets_updated_at_and_null_removes(
    gql: Gql, api: Any, account: Any, score_id: str
) -> None:
    job = account.job(score_id)
    api_job = api.get("ScoringJob", job)
    body = gql(
        UPDATE_WITH_CONDITION,
        input={"id": job, "errorMessage": "boom", "metadata": '{"attempts": 1}'},
    )
    assert body["data"]["updateScoringJob"]["metadata"] == '{"attempts":1}'
    stored = api.get("ScoringJob", job)
    assert stored["errorMessage"] == "boom"
    assert stored["updatedAt"] >= api_job["updatedAt"]
    assert stored["createdAt"] == api_job["createdAt"]
    gql(UPDATE_WITH_CONDITION, input={"id": job, "errorMessage": None})
    assert "errorMessage" not in api.get("ScoringJob", job)


# A job may be taken when it is IN_PROGRESS, or PENDING and never started.
NESTED = {
    "or": [
        {"status": {"eq": "IN_PROGRESS"}},
        {"and": [{"status": {"eq": "PENDING"}}, {"not": {"startedAt": {"attributeExists": True}}}]},
    ]
}


@pytest.mark.parametrize(
    ("status", "started_at", "allowed"),
    [
        ("PENDING", None, True),
        ("PENDING", "2025-01-01T00:00:00.000Z", False),
        ("IN_PROGRESS", "2025-01-01T00:00:00.000Z", True),
        ("COMPLETED", None, False),
    ],
)
def test_nested_and_or_not_condition(
    gql: Gql,
    api: Any,
    account: Any,
    score_id: str,
    status: str,
    started_at: str | None,
    allowed: bool,
) -> None:
    item = api.seed_item(account.id, text="x")
    job = account.job_for_item(score_id, item, status=status, startedAt=started_at)
    body = gql(UPDATE_WITH_CONDITION, input={"id": job, "status": "DONE"}, condition=NESTED)
    if allowed:
        assert body["data"]["updateScoringJob"]["status"] == "DONE"
        assert api.get("ScoringJob", job)["status"] == "DONE"
    else:
        assert_conditional_failure(body, "updateScoringJob")
        assert api.get("ScoringJob", job)["status"] == status


# Against startedAt = "2025-06-15T12:00:00.000Z".
@pytest.mark.parametrize(
    ("operator", "operand", "holds"),
    [
        ("eq", "2025-06-15T12:00:00.000Z", True),
        ("eq", "2025-06-15T12:00:00.001Z", False),
        ("ne", "2025-06-15T12:00:00.000Z", False),
        ("ne", "2024", True),
        ("lt", "2025-06-15T12:00:00.000Z", False),
        ("lt", "2025-06-16", True),
        ("le", "2025-06-15T12:00:00.000Z", True),
        ("le", "2025-06-14", False),
        ("gt", "2025-06-15T12:00:00.000Z", False),
        ("gt", "2025-06-14", True),
        ("ge", "2025-06-15T12:00:00.000Z", True),
        ("ge", "2025-06-16", False),
        ("beginsWith", "2025-06", True),
        ("beginsWith", "2025-07", False),
        ("attributeExists", True, True),
        ("attributeExists", False, False),
    ],
)
def test_condition_operators(
    gql: Gql, api: Any, account: Any, score_id: str, operator: str, operand: Any, holds: bool
) -> None:
    item = api.seed_item(account.id, text="x")
    job = account.job_for_item(score_id, item, startedAt="2025-06-15T12:00:00.000Z")
    body = gql(
        UPDATE_WITH_CONDITION,
        input={"id": job, "status": "DONE"},
        condition={"startedAt": {operator: operand}},
    )
    if holds:
        assert body["data"]["updateScoringJob"]["status"] == "DONE", body
    else:
        assert_conditional_failure(body, "updateScoringJob")


def test_condition_on_a_missing_attribute(gql: Gql, account: Any, score_id: str) -> None:
    job = account.job(score_id)  # no startedAt
    body = gql(
        UPDATE_WITH_CONDITION,
        input={"id": job, "status": "DONE"},
        condition={"startedAt": {"attributeExists": False}, "status": {"ne": "FAILED"}},
    )
    assert body["data"]["updateScoringJob"]["status"] == "DONE"


def test_null_operand_is_a_clear_error(gql: Gql, api: Any, account: Any, score_id: str) -> None:
    job = account.job(score_id)
    body = gql(
        UPDATE_WITH_CONDITION,
        input={"id": job, "status": "DONE"},
        condition={"or": [{"status": {"eq": None}}]},
    )
    assert body["data"] == {"updateScoringJob": None}
    [error] = body["errors"]
    assert error["errorType"] == "BadRequestException"
    assert "condition.or[0].status.eq is null" in error["message"]
    assert api.get("ScoringJob", job)["status"] == "PENDING"
