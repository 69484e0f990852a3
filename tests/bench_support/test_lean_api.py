"""The lean API stand-in of bench/throughput.py keeps what the worker relies on: a
conditional write is atomic (one winner among concurrent claims), list queries apply limit
before filter and sort keys as DynamoDB does, and a root field it does not serve fails
loudly, by name."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Iterator
from typing import Any

import pytest
from _lean_server import StandIn
from graphql import build_schema
from lean_api import SCHEMA_PATH, LeanApi, Store

from plexus.clients.plexus_api import ApiError, PlexusApi
from plexus.core.settings import Secret, load_settings
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


def test_limit_applies_before_filter_and_a_full_page_has_a_token() -> None:
    store = Store()
    for i in range(5):
        store.put(
            "ScoringJob",
            {
                "id": f"j{i}",
                "accountId": "a",
                "status": "PENDING" if i % 2 else "COMPLETED",
                "createdAt": f"2026-01-0{i + 1}T00:00:00.000Z",
            },
        )
    args: dict[str, Any] = {"accountId": "a", "limit": 2, "filter": {"status": {"eq": "PENDING"}}}
    pages = []
    while True:
        page = store.query("listScoringJobByAccountIdAndCreatedAt", args)
        pages.append([r["id"] for r in page["items"]])
        if not page["nextToken"]:
            break
        args["nextToken"] = page["nextToken"]
    # Pages of two by createdAt, filtered after; the last full page still carries a token.
    assert pages == [["j1"], ["j3"], []]


def test_composite_sort_key_newest_first() -> None:
    store = Store()
    for i, (kind, score) in enumerate(
        [("prediction", "s1"), ("prediction", "s2"), ("evaluation", "s1"), ("prediction", "s1")]
    ):
        store.put(
            "ScoreResult",
            {
                "id": f"r{i}",
                "itemId": "item",
                "type": kind,
                "scoreId": score,
                "updatedAt": f"2026-01-0{i + 1}T00:00:00.000Z",
            },
        )
    page = store.query(
        "listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt",
        {
            "itemId": "item",
            "typeScoreIdUpdatedAt": {"beginsWith": {"type": "prediction", "scoreId": "s1"}},
            "sortDirection": "DESC",
            "limit": 1,
        },
    )
    assert [r["id"] for r in page["items"]] == ["r3"]
    assert page["nextToken"]


def test_a_root_field_it_does_not_serve_fails_by_name() -> None:
    api = LeanApi(KEY)
    schema_text = SCHEMA_PATH.read_text(encoding="utf-8").replace(
        "type Query {", "type Query {\n  listWidgets(limit: Int): [String]", 1
    )
    api.documents.schema = build_schema(schema_text)
    answer = api.execute({"query": 'query W { listWidgets(limit: 1) getAccount(id: "x") { id } }'})
    assert answer["data"] == {"listWidgets": None, "getAccount": None}
    [error] = answer["errors"]
    assert error["errorType"] == "UnservedRootField"
    assert "'listWidgets'" in error["message"]
    assert api.stats()["unserved"] == {"listWidgets": 1}
