"""Scalars and seeding: AWSJSON travels as JSON strings and is stored decoded, AWSDateTime
is checked, and the seeding helpers write what the queries then read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.local_api.conftest import Gql

CREATE_RESULT = """
mutation($input: CreateScoreResultInput!) {
  createScoreResult(input: $input) { id value confidence metadata trace cost attachments }
}
"""
GET_RESULT = "query($id: ID!) { getScoreResult(id: $id) { id metadata trace cost confidence } }"

METADATA = {
    "nested": {"list": [1, 2.5, "three", None, True], "empty": {}},
    "unicode": "Grüße — ✓",
    "big": 12345678901234567890,
}


def result_input(account: Any, **fields: Any) -> dict[str, Any]:
    return {
        "value": "Yes",
        "itemId": f"item-{account.id}",
        "accountId": account.id,
        "scorecardId": account.scorecard_id,
        # The composite sort keys of ScoreResult's indexes make these mandatory.
        "scoreId": f"score-{account.id}",
        "type": "prediction",
        "status": "COMPLETED",
        **fields,
    }


def test_awsjson_round_trip(gql: Gql, api: Any, account: Any) -> None:
    body = gql(
        CREATE_RESULT,
        input=result_input(
            account,
            metadata=json.dumps(METADATA),
            trace=json.dumps(["a", {"b": 1}]),
            cost='"free"',
            confidence=0.875,
            attachments=["x/log.txt"],
        ),
    )
    created = body["data"]["createScoreResult"]
    assert json.loads(created["metadata"]) == METADATA
    fetched = gql(GET_RESULT, id=created["id"])["data"]["getScoreResult"]
    assert json.loads(fetched["metadata"]) == METADATA
    assert json.loads(fetched["trace"]) == ["a", {"b": 1}]
    assert json.loads(fetched["cost"]) == "free"
    assert fetched["confidence"] == 0.875
    # Stored as DynamoDB maps/lists (as AppSync stores AWSJSON), read back as JSON strings.
    stored = api.get("ScoreResult", created["id"])
    assert json.loads(stored["metadata"]) == METADATA
    assert stored["attachments"] == ["x/log.txt"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"an": "object"}, "AWSJSON must be a string"),
        ("{not json", "as valid JSON"),
        ('{"x": NaN}', "as valid JSON"),
    ],
)
def test_awsjson_must_be_a_json_string(
    gql: Gql, api: Any, account: Any, metadata: Any, message: str
) -> None:
    before = len(api.scan("ScoreResult"))
    body = gql(CREATE_RESULT, input=result_input(account, metadata=metadata))
    assert body["data"] is None
    assert message in body["errors"][0]["message"]
    assert len(api.scan("ScoreResult")) == before


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2025-01-31T12:00:00.000Z", True),
        ("2025-01-31T12:00:00+02:00", True),
        ("2025-01-31T12:00:00", False),
        ("2025-01-31", False),
        ("yesterday", False),
    ],
)
def test_awsdatetime_needs_iso_8601_with_zone(
    gql: Gql, account: Any, score_id: str, value: str, ok: bool
) -> None:
    job = account.job(score_id)
    mutation = """
    mutation($id: ID!, $at: AWSDateTime) {
      updateScoringJob(input: {id: $id, startedAt: $at}) { startedAt }
    }
    """
    body = gql(mutation, id=job, at=value)
    if ok:
        assert body["data"]["updateScoringJob"]["startedAt"] == value
    else:
        assert body["data"] is None
        assert "AWSDateTime" in body["errors"][0]["message"]


def test_seeded_graph_is_readable(gql: Gql, api: Any, account: Any) -> None:
    score_id, version_id = api.seed_score(account.scorecard_id, "Tone", "name: Tone\n", key="tone")
    item_id = api.seed_item(
        account.id, text="hi", metadata={"contentUrl": "https://x"}, external_id="ext-1"
    )
    job_id = api.seed_job(
        account.id, account.scorecard_id, score_id, item_id, metadata={"attempts": 0}
    )
    query = """
    query($s: ID!, $v: ID!, $i: ID!, $j: ID!, $c: ID!) {
      getScore(id: $s) { name key scorecardId championVersionId }
      getScoreVersion(id: $v) { scoreId configuration }
      getItem(id: $i) { accountId text metadata externalId }
      getScoringJob(id: $j) { status itemId scoreId scorecardId accountId metadata }
      getScorecard(id: $c) { accountId key }
    }
    """
    data = gql(query, s=score_id, v=version_id, i=item_id, j=job_id, c=account.scorecard_id)["data"]
    assert data["getScore"] == {
        "name": "Tone",
        "key": "tone",
        "scorecardId": account.scorecard_id,
        "championVersionId": version_id,
    }
    assert data["getScoreVersion"] == {"scoreId": score_id, "configuration": "name: Tone\n"}
    assert data["getItem"]["externalId"] == "ext-1"
    assert json.loads(data["getItem"]["metadata"]) == {"contentUrl": "https://x"}
    assert data["getScoringJob"]["status"] == "PENDING"
    assert json.loads(data["getScoringJob"]["metadata"]) == {"attempts": 0}
    assert data["getScorecard"] == {"accountId": account.id, "key": f"{account.key}-card"}

    newer = api.add_score_version(score_id, "name: Tone v2\n")
    assert api.get("Score", score_id)["championVersionId"] == newer
    side = api.add_score_version(score_id, "name: Tone v3\n", champion=False)
    assert api.get("Score", score_id)["championVersionId"] == newer
    assert api.get("ScoreVersion", side)["configuration"] == "name: Tone v3\n"


def test_seeding_rejects_bad_input(api: Any, account: Any, score_id: str) -> None:
    with pytest.raises(ValueError, match="no field"):
        api.seed_job(account.id, account.scorecard_id, score_id, "item", statuss="PENDING")
    with pytest.raises(ValueError, match="AWSDateTime"):
        api.seed_job(account.id, account.scorecard_id, score_id, "item", startedAt="soon")
    with pytest.raises(ValueError, match="valid JSON"):
        api.seed_item(account.id, metadata="{broken")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no Score"):
        api.add_score_version("no-such-score", "x")
    with pytest.raises(ValueError, match="unknown model"):
        api.get("Scores", "x")
