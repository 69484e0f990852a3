"""List queries: DynamoDB Query on the model's index, `limit` before `filter`, opaque
nextTokens, sort order by createdAt."""

from __future__ import annotations

from typing import Any

import pytest

from tests.local_api.conftest import Gql

LIST_JOBS = """
query Jobs($accountId: String!, $filter: ModelScoringJobFilterInput, $limit: Int,
           $nextToken: String, $sortDirection: ModelSortDirection) {
  listScoringJobByAccountIdAndCreatedAt(accountId: $accountId, filter: $filter, limit: $limit,
                            nextToken: $nextToken, sortDirection: $sortDirection) {
    items { id status scoreId createdAt }
    nextToken
  }
}
"""


def created(second: int) -> str:
    return f"2025-03-01T10:00:{second:02d}.000Z"


def all_pages(gql: Gql, **variables: Any) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    token = None
    for _ in range(100):
        body = gql(LIST_JOBS, nextToken=token, **variables)
        assert "errors" not in body, body
        connection = body["data"]["listScoringJobByAccountIdAndCreatedAt"]
        pages.append(connection["items"])
        token = connection["nextToken"]
        if token is None:
            return pages
    raise AssertionError("pagination did not end")


@pytest.fixture
def jobs(api: Any, account: Any, score_id: str) -> dict[str, Any]:
    """30 jobs one second apart; the matching ones (PENDING, score A) cluster so that a
    page of 4 read in between holds none of them."""
    other_score = account.score("Other", "name: Other\n")
    item = api.seed_item(account.id, text="x")
    matching, ids = [], []
    for second in range(30):
        status = "PENDING" if second in (0, 1, 2, 11, 17, 18, 29) else "COMPLETED"
        score = other_score if second in (2, 17) else score_id
        job = api.seed_job(
            account.id, account.scorecard_id, score, item, status=status, createdAt=created(second)
        )
        ids.append(job)
        if status == "PENDING" and score == score_id:
            matching.append(job)
    # Another account's pending jobs of the same score must never show up.
    other_account = api.seed_account(f"{account.key}-other")
    for second in range(5):
        api.seed_job(other_account, account.scorecard_id, score_id, item, createdAt=created(second))
    return {"matching": matching, "all": ids, "score_id": score_id}


def test_filtered_pages_return_every_match_and_nothing_else(
    gql: Gql, account: Any, jobs: dict[str, Any]
) -> None:
    pages = all_pages(
        gql,
        accountId=account.id,
        limit=4,
        filter={"status": {"eq": "PENDING"}, "scoreId": {"eq": jobs["score_id"]}},
    )
    found = [job["id"] for page in pages for job in page]
    assert found == jobs["matching"]  # all of them, once each, in createdAt order
    assert all(len(page) <= 4 for page in pages)
    # limit counts items read before the filter: 30 items need 8 pages, some empty.
    assert len(pages) >= 8
    assert any(page == [] for page in pages[:-1])


def test_descending_pages_without_filter(gql: Gql, account: Any, jobs: dict[str, Any]) -> None:
    pages = all_pages(gql, accountId=account.id, limit=7, sortDirection="DESC")
    found = [job["id"] for page in pages for job in page]
    assert found == list(reversed(jobs["all"]))
    assert [len(p) for p in pages[:4]] == [7, 7, 7, 7]


def test_or_and_begins_with_filter(gql: Gql, account: Any, jobs: dict[str, Any]) -> None:
    pages = all_pages(
        gql,
        accountId=account.id,
        filter={
            "or": [{"id": {"eq": jobs["all"][5]}}, {"status": {"beginsWith": "PEND"}}],
            "not": {"scoreId": {"ne": jobs["score_id"]}},
        },
    )
    found = [job["id"] for page in pages for job in page]
    wanted = {jobs["all"][5], *jobs["matching"]}
    assert found == [job for job in jobs["all"] if job in wanted]


def test_default_limit_is_100(gql: Gql, api: Any, account: Any, score_id: str) -> None:
    item = api.seed_item(account.id, text="x")
    for second in range(101):
        api.seed_job(
            account.id,
            account.scorecard_id,
            score_id,
            item,
            createdAt=f"2025-03-01T10:{second // 60:02d}:{second % 60:02d}.000Z",
        )
    body = gql(LIST_JOBS, accountId=account.id)
    connection = body["data"]["listScoringJobByAccountIdAndCreatedAt"]
    assert len(connection["items"]) == 100
    assert connection["nextToken"] is not None


def test_list_account_by_key(gql: Gql, account: Any) -> None:
    query = (
        "query($key: String!) { listAccountByKey(key: $key) { items { id key name } nextToken } }"
    )
    body = gql(query, key=account.key)
    assert body["data"]["listAccountByKey"] == {
        "items": [{"id": account.id, "key": account.key, "name": "Test account"}],
        "nextToken": None,
    }
    assert gql(query, key="no-such-key")["data"]["listAccountByKey"]["items"] == []


def test_score_results_by_item_and_by_job(gql: Gql, account: Any) -> None:
    create = """
    mutation($input: CreateScoreResultInput!) { createScoreResult(input: $input) { id } }
    """
    item = f"item-{account.id}"
    base = {
        "itemId": item,
        "accountId": account.id,
        "scorecardId": account.scorecard_id,
        "scoreId": f"score-{account.id}",
        "type": "prediction",
        "status": "COMPLETED",
    }
    with_job = gql(create, input={**base, "value": "Yes", "scoringJobId": f"job-{account.id}"})
    without_job = gql(create, input={**base, "value": "No"})
    by_job = """
    query($j: String!) { listScoreResultByScoringJobId(scoringJobId: $j) { items { id value } } }
    """
    items = gql(by_job, j=f"job-{account.id}")["data"]["listScoreResultByScoringJobId"]["items"]
    assert items == [{"id": with_job["data"]["createScoreResult"]["id"], "value": "Yes"}]
    by_item = """
    query($i: String!) { listScoreResultByItemId(itemId: $i) { items { id } } }
    """
    items = gql(by_item, i=item)["data"]["listScoreResultByItemId"]["items"]
    assert {i["id"] for i in items} == {
        with_job["data"]["createScoreResult"]["id"],
        without_job["data"]["createScoreResult"]["id"],
    }


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"nextToken": "not-a-token"}, "Invalid nextToken"),
        ({"limit": 0}, "limit must be at least 1"),
    ],
)
def test_bad_list_arguments_are_clear_errors(
    gql: Gql, account: Any, variables: dict[str, Any], message: str
) -> None:
    body = gql(LIST_JOBS, accountId=account.id, **variables)
    assert body["data"] == {"listScoringJobByAccountIdAndCreatedAt": None}
    [error] = body["errors"]
    assert error["errorType"] == "BadRequestException"
    assert message in error["message"]
