"""Fixtures for the local Plexus API's own tests: raw HTTP against the session's servers
(tests/conftest.py starts moto and the API; `account` seeds a fresh account per test).

Every test here that uses `api` is one case run against both storage backends: DynamoDB
on moto and memory (the benchmarks' backend), so the two keep AppSync's rules alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from plexus.local.api_server import LocalPlexusApi
from plexus.local.memory_store import MemoryStore
from tests.conftest import PLEXUS_KEY, REGION


class Gql:
    """POSTs GraphQL to the local API with the right key; returns the decoded body."""

    def __init__(self, url: str, api_key: str = PLEXUS_KEY) -> None:
        self.url = url
        self.client = httpx.Client(headers={"x-api-key": api_key}, timeout=30)

    def post(self, query: str, **variables: Any) -> httpx.Response:
        return self.client.post(self.url, json={"query": query, "variables": variables})

    def __call__(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.post(query, **variables)
        assert response.status_code == 200, response.text
        return response.json()

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def memory_api() -> Iterator[LocalPlexusApi]:
    with LocalPlexusApi(None, PLEXUS_KEY, REGION, store=MemoryStore()) as api:
        yield api


@pytest.fixture(params=["dynamodb", "memory"])
def api(request: pytest.FixtureRequest) -> LocalPlexusApi:
    """The session's local API on one backend, counters and injected faults reset."""
    name = "plexus_api" if request.param == "dynamodb" else "memory_api"
    server: LocalPlexusApi = request.getfixturevalue(name)
    server.reset_counters()
    server.inject_http_errors(500, 0)
    server.set_latency(0)
    return server


@pytest.fixture
def gql(api: Any) -> Iterator[Gql]:
    client = Gql(api.url)
    yield client
    client.close()


@pytest.fixture
def score_id(account: Any) -> str:
    return account.score("Greeting", "name: Greeting\nclass: KeywordClassifier\n")
