"""The HTTP surface: API key, injected errors and latency, request accounting, bad bodies,
and the server's own lifecycle."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from plexus.local.api_server import LocalPlexusApi
from tests.conftest import PLEXUS_KEY
from tests.local_api.conftest import Gql

GET_ACCOUNT = "query($id: ID!) { getAccount(id: $id) { id key } }"
UNAUTHORIZED = {
    "errors": [
        {
            "errorType": "UnauthorizedException",
            "message": "You are not authorized to make this call.",
        }
    ]
}


@pytest.mark.parametrize("headers", [{"x-api-key": "wrong-key"}, {}])
def test_wrong_or_missing_api_key_is_401(api: Any, account: Any, headers: dict[str, str]) -> None:
    response = httpx.post(
        api.url, json={"query": GET_ACCOUNT, "variables": {"id": account.id}}, headers=headers
    )
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert account.id not in response.text


def test_injected_429_then_success(api: Any, gql: Gql, account: Any) -> None:
    api.inject_http_errors(429, 1, retry_after=0.25)
    first = gql.post(GET_ACCOUNT, id=account.id)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "0.25"
    [error] = first.json()["errors"]
    assert error["errorType"] == "TooManyRequestsException"
    second = gql(GET_ACCOUNT, id=account.id)
    assert second["data"]["getAccount"] == {"id": account.id, "key": account.key}
    assert api.request_count == 2
    assert api.requests == [("getAccount",), ("getAccount",)]


@pytest.mark.parametrize("status", [500, 503])
def test_injected_server_errors_last_count_requests(
    api: Any, gql: Gql, account: Any, status: int
) -> None:
    api.inject_http_errors(status, 2)
    statuses = [gql.post(GET_ACCOUNT, id=account.id).status_code for _ in range(3)]
    assert statuses == [status, status, 200]


def test_injecting_zero_clears_pending_errors(api: Any, gql: Gql, account: Any) -> None:
    api.inject_http_errors(503, 5)
    api.inject_http_errors(503, 0)
    assert gql.post(GET_ACCOUNT, id=account.id).status_code == 200


def test_latency_delays_every_request(api: Any, gql: Gql, account: Any) -> None:
    api.set_latency(0.2)
    started = time.monotonic()
    gql(GET_ACCOUNT, id=account.id)
    gql(GET_ACCOUNT, id=account.id)
    assert time.monotonic() - started >= 0.4
    api.set_latency(0)


def test_requests_record_root_fields_and_reset(api: Any, gql: Gql, account: Any) -> None:
    query = """
    query Both($id: ID!, $key: String!) {
      acct: getAccount(id: $id) { id }
      listAccountByKey(key: $key) { items { id } }
    }
    """
    body = gql(query, id=account.id, key=account.key)
    assert body["data"]["acct"] == {"id": account.id}
    assert api.requests == [("getAccount", "listAccountByKey")]
    api.reset_counters()
    assert api.request_count == 0 and api.requests == []


@pytest.mark.parametrize(
    ("content", "status", "error_type"),
    [
        (b"{not json", 400, "MalformedHttpRequestException"),
        (b'{"variables": {}}', 400, "BadRequestException"),
        (b'{"query": "{ __typename }", "variables": [1]}', 400, "BadRequestException"),
    ],
)
def test_bad_bodies_are_400(api: Any, content: bytes, status: int, error_type: str) -> None:
    response = httpx.post(
        api.url,
        content=content,
        headers={"x-api-key": PLEXUS_KEY},
    )
    assert response.status_code == status
    assert response.json()["errors"][0]["errorType"] == error_type


def test_graphql_validation_error_is_200_with_errors(gql: Gql) -> None:
    body = gql("{ noSuchField }")
    assert body["data"] is None
    assert body["errors"][0]["errorType"] == "ValidationError"
    assert "noSuchField" in body["errors"][0]["message"]


def test_introspection_works(gql: Gql) -> None:
    body = gql("{ __schema { mutationType { fields { name } } } }")
    names = {f["name"] for f in body["data"]["__schema"]["mutationType"]["fields"]}
    assert {"createScoringJob", "updateScoringJob", "createScoreResult"} <= names


def test_own_instance_lifecycle(moto_server: Any) -> None:
    api = LocalPlexusApi(moto_server.endpoint_url, "own-key", table_prefix="lifecycle-")
    with pytest.raises(RuntimeError, match="start"):
        api.seed_account("too-early")
    keep_alive = Gql("", "own-key")
    with api:
        assert api.url.startswith("http://127.0.0.1:") and api.url.endswith("/graphql")
        account_id = api.seed_account("lifecycle")
        keep_alive.url = api.url
        assert keep_alive("{ __typename }")["data"] == {"__typename": "Query"}
        assert "own-key" not in repr(api)
    # Neither a new connection nor the pooled keep-alive one gets an answer after stop().
    with pytest.raises(httpx.TransportError):
        httpx.post(keep_alive.url, json={"query": "{ __typename }"}, headers={"x-api-key": "k"})
    with pytest.raises(httpx.TransportError):
        keep_alive.post("{ __typename }")
    keep_alive.close()
    # Tables under an explicit prefix are reused by the next server.
    with LocalPlexusApi(moto_server.endpoint_url, "own-key", table_prefix="lifecycle-") as again:
        assert again.get("Account", account_id)["key"] == "lifecycle"
        client = Gql(again.url, "own-key")
        body = client(GET_ACCOUNT, id=account_id)
        client.close()
        assert body["data"]["getAccount"]["key"] == "lifecycle"


def test_default_prefixes_keep_instances_apart(moto_server: Any) -> None:
    with (
        LocalPlexusApi(moto_server.endpoint_url, "k") as one,
        LocalPlexusApi(moto_server.endpoint_url, "k") as two,
    ):
        account_id = one.seed_account("only-in-one")
        assert one.table_prefix != two.table_prefix
        assert two.get("Account", account_id) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"status": 200, "count": 1}, "400-599"),
        ({"status": 429, "count": -1}, "count"),
        ({"status": 429, "count": 1, "retry_after": -1}, "retry_after"),
    ],
)
def test_bad_fault_arguments(api: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        api.inject_http_errors(**kwargs)


def test_empty_api_key_is_refused(moto_server: Any) -> None:
    with pytest.raises(ValueError, match="api_key"):
        LocalPlexusApi(moto_server.endpoint_url, "")


def _big_document(size: int) -> bytes:
    # A GraphQL document that is costly to parse: many fields, each a selection.
    fields = " ".join(f"a{i}: __typename" for i in range(size // 18))
    return json.dumps({"query": "{ " + fields + " }"}).encode()


@pytest.mark.parametrize("headers", [{"x-api-key": "wrong-key"}, {}])
def test_the_api_key_is_checked_before_a_large_body_is_parsed(
    api: Any, headers: dict[str, str]
) -> None:
    document = _big_document(900_000)
    started = time.monotonic()
    response = httpx.post(api.url, content=document, headers=headers, timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 401 and response.json() == UNAUTHORIZED
    assert elapsed < 1.0, f"401 took {elapsed:.2f}s: the body was parsed first"
    assert api.requests[-1] == ()


@pytest.mark.parametrize("key", [PLEXUS_KEY, "wrong-key"])
def test_an_8_mb_document_is_refused_fast_unread(api: Any, key: str) -> None:
    document = _big_document(8_000_000)
    started = time.monotonic()
    try:
        response = httpx.post(api.url, content=document, headers={"x-api-key": key}, timeout=30)
    except httpx.TransportError:
        status = None  # the server answered and closed while the body was still on its way
    else:
        status = response.status_code
        assert "larger than 1048576 bytes" in response.text
    elapsed = time.monotonic() - started
    assert status in (413, None)
    assert elapsed < 2.0, f"refusing 8 MB took {elapsed:.2f}s"
