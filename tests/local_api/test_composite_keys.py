"""The real resolvers' composite-sort-key rule, derived from the @index declarations, and
the composite-key list query the worker's cache lookup uses."""

from __future__ import annotations

from typing import Any

import pytest

from plexus.local.errors import CompositeKeyError
from plexus.local.models import load_models
from tests.local_api.conftest import Gql

CREATE = """
mutation($input: CreateScoreResultInput!) {
  createScoreResult(input: $input) { id status updatedAt }
}
"""
UPDATE = """
mutation($input: UpdateScoreResultInput!) { updateScoreResult(input: $input) { id value } }
"""
UPDATE_JOB = """
mutation($input: UpdateScoringJobInput!) { updateScoringJob(input: $input) { id status } }
"""
NEWEST = """
query($itemId: String!, $type: String!, $scoreId: String!) {
  listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt(itemId: $itemId,
      typeScoreIdUpdatedAt: {beginsWith: {type: $type, scoreId: $scoreId}},
      sortDirection: DESC, limit: 1) { items { id value } nextToken }
}
"""


def result_input(account: Any, **fields: Any) -> dict[str, Any]:
    return {
        "value": "Yes",
        "itemId": f"item-{account.id}",
        "accountId": account.id,
        "scorecardId": account.scorecard_id,
        "scoreId": f"score-{account.id}",
        "type": "prediction",
        "status": "COMPLETED",
        **fields,
    }


def test_create_without_status_is_refused_with_the_real_wording(gql: Gql, account: Any) -> None:
    given = result_input(account)
    del given["status"]
    body = gql(CREATE, input=given)
    assert body["data"] == {"createScoreResult": None}
    [error] = body["errors"]
    assert error["message"] == (
        "When creating any part of the composite sort key for @index 'byTypeStatusUpdated', "
        "you must provide all fields for the key. Missing key: 'status'."
    )
    assert error["errorType"] is None  # $util.error(message) sets none


def test_create_without_type_names_the_next_index(gql: Gql, account: Any) -> None:
    given = result_input(account)
    del given["type"]
    [error] = gql(CREATE, input=given)["errors"]
    # byTypeStatusUpdated's hash key is type; its sort key is complete. The cache index
    # (type#scoreId#updatedAt) is the one that misses it.
    assert "@index 'byItemIdAndTypeAndScoreIdAndUpdatedAt'" in error["message"]
    assert error["message"].endswith("Missing key: 'type'.")


def test_update_needs_every_key_the_resolver_touches(gql: Gql, account: Any) -> None:
    created = gql(CREATE, input=result_input(account))["data"]["createScoreResult"]
    [error] = gql(UPDATE, input={"id": created["id"], "value": "No"})["errors"]
    assert error["message"] == (
        "When updating any part of the composite sort key for @index 'byTypeStatusUpdated', "
        "you must provide all fields for the key. Missing key: 'status'."
    )
    full = {
        "id": created["id"],
        "value": "No",
        "type": "prediction",
        "status": "COMPLETED",
        "scoreId": f"score-{account.id}",
        "scorecardId": account.scorecard_id,
        "itemId": f"item-{account.id}",
    }
    # itemId is part of byScorecardItemAndCreatedAt (itemId#createdAt): createdAt too.
    [error] = gql(UPDATE, input=full)["errors"]
    assert error["message"].endswith("Missing key: 'createdAt'.")
    assert "@index 'byScorecardItemAndCreatedAt'" in error["message"]
    body = gql(UPDATE, input={**full, "createdAt": "2025-01-01T00:00:00.000Z"})
    assert body == {"data": {"updateScoreResult": {"id": created["id"], "value": "No"}}}


def test_scoring_job_updates_have_no_composite_key(gql: Gql, api: Any, account: Any) -> None:
    job = api.seed_job(account.id, account.scorecard_id, "s", "i")
    body = gql(UPDATE_JOB, input={"id": job, "status": "IN_PROGRESS"})
    assert body == {"data": {"updateScoringJob": {"id": job, "status": "IN_PROGRESS"}}}


def test_the_rule_is_derived_from_the_declarations() -> None:
    composite = {
        (model.name, index.name): index.sort_key_fields
        for model in load_models().values()
        for index in model.indexes
        if index.composite
    }
    assert composite == {
        ("ScoreVersion", "byScoreIdAndIsFeaturedAndCreatedAt"): ("isFeatured", "createdAt"),
        ("ScoreResult", "byTypeStatusUpdated"): ("status", "updatedAt"),
        ("ScoreResult", "byItemScorecardScore"): ("scorecardId", "scoreId"),
        ("ScoreResult", "byItemIdAndTypeAndScoreIdAndUpdatedAt"): ("type", "scoreId", "updatedAt"),
        ("ScoreResult", "byScorecardItemAndCreatedAt"): ("itemId", "createdAt"),
        ("ScoreResult", "byScorecardScoreItem"): ("scoreId", "itemId"),
    }
    version = load_models()["ScoreVersion"]
    with pytest.raises(CompositeKeyError, match="Missing key: 'isFeatured'"):
        version.with_composite_keys({"scoreId": "s", "createdAt": "t", "updatedAt": "t"}, "create")


def test_seeding_applies_the_same_rule(api: Any, account: Any) -> None:
    with pytest.raises(CompositeKeyError, match="Missing key: 'status'"):
        api.put("ScoreResult", {k: v for k, v in result_input(account).items() if k != "status"})


def test_cache_index_returns_the_newest_of_item_type_and_score(
    gql: Gql, api: Any, account: Any
) -> None:
    item = f"item-{account.id}"
    score = f"score-{account.id}"
    for i, (value, kind, score_id) in enumerate(
        [
            ("old", "prediction", score),
            ("other score", "prediction", f"other-{score}"),
            ("newest", "prediction", score),
            ("evaluation", "evaluation", score),
        ]
    ):
        stamp = f"2025-05-01T10:00:0{i}.000Z"
        api.put(
            "ScoreResult",
            result_input(
                account, value=value, type=kind, scoreId=score_id, updatedAt=stamp, createdAt=stamp
            ),
        )
    api.reset_counters()
    body = gql(NEWEST, itemId=item, type="prediction", scoreId=score)
    connection = body["data"]["listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt"]
    assert [r["value"] for r in connection["items"]] == ["newest"]
    assert connection["nextToken"] is not None  # "old" is still behind it
    assert api.request_count == 1
    empty = gql(NEWEST, itemId=item, type="prediction", scoreId="nothing")
    assert empty["data"]["listScoreResultByItemIdAndTypeAndScoreIdAndUpdatedAt"]["items"] == []
