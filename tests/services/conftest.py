"""Fixtures for the test services' own tests: each helper started here, on its own, through
the plain start/stop API the session fixtures in tests/conftest.py use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.https_server import HttpsContentServer
from tests.support.postgres import PostgresServer

API_KEY = "sk-services-test-key-0003"


@pytest.fixture
def ai() -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI server per test: starting one costs a thread and a socket."""
    with FakeOpenAI(api_key=API_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="module")
def web() -> Iterator[HttpsContentServer]:
    with HttpsContentServer() as server:
        yield server
