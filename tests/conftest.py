"""Session services for the worker's tests: all real, all on 127.0.0.1.

- moto's server: DynamoDB behind the local Plexus API, and S3 for attachments;
- the local Plexus API (graphql-core over HTTP, plexus/local);
- an OpenAI-compatible server with scripted replies (tests/support/fake_openai.py);
- a private PostgreSQL cluster (tests/support/postgres.py);
- an HTTPS server with a test CA, for pycurl (tests/support/https_server.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from plexus.core.settings import Settings, load_settings

PLEXUS_KEY = "da2-local-test-plexus-key-0001"
OPENAI_KEY = "sk-local-test-openai-key-0002"
REGION = "us-east-1"
BUCKET = "scoreresultattachments-test"
HANDLER_DIR = Path(__file__).resolve().parents[1] / "lambda_functions" / "score_processing"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked slow first, each group in its collected order: pytest-xdist hands
    tests out in this order, so the long ones start early on both workers rather than one
    of them running the last long test alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Any]:
    # A process of its own, so that the push tests' in-process mock_aws cannot wipe it.
    from plexus.local.aws import start_moto_process

    with start_moto_process() as server:
        yield server


@pytest.fixture(scope="session")
def aws_env(moto_server: Any) -> dict[str, str]:
    """What a process needs to reach moto's server as if it were AWS."""
    return {
        "AWS_ENDPOINT_URL": moto_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


@pytest.fixture
def use_aws_env(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    return aws_env


@pytest.fixture(scope="session")
def s3(aws_env: dict[str, str]) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=aws_env["AWS_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="session")
def plexus_api(moto_server: Any, aws_env: dict[str, str]) -> Iterator[Any]:
    from plexus.local.api_server import LocalPlexusApi

    api = LocalPlexusApi(
        dynamodb_endpoint_url=moto_server.endpoint_url, api_key=PLEXUS_KEY, region=REGION
    )
    with api:
        yield api


@pytest.fixture
def api(plexus_api: Any) -> Any:
    """The session's local API with counters and injected faults reset."""
    plexus_api.reset_counters()
    plexus_api.inject_http_errors(500, 0)
    plexus_api.set_latency(0)
    return plexus_api


@pytest.fixture(scope="session")
def openai_server() -> Iterator[Any]:
    from tests.support.fake_openai import FakeOpenAI

    with FakeOpenAI(api_key=OPENAI_KEY) as server:
        yield server


@pytest.fixture
def openai(openai_server: Any) -> Any:
    openai_server.reset()
    return openai_server


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    from tests.support.postgres import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def https_content() -> Iterator[Any]:
    from tests.support.https_server import HttpsContentServer

    with HttpsContentServer() as server:
        yield server


@dataclass
class Account:
    """A fresh account with a scorecard, seeded in the local API, for one test."""

    api: Any
    key: str
    id: str
    scorecard_id: str
    scores: dict[str, tuple[str, str]] = field(default_factory=dict)

    def score(self, name: str, configuration: str) -> str:
        score_id, version_id = self.api.seed_score(self.scorecard_id, name, configuration)
        self.scores[score_id] = (name, version_id)
        return score_id

    def job(self, score_id: str, text: str | None = "hello", **item: Any) -> str:
        item_id = self.api.seed_item(self.id, text=text, **item)
        return self.api.seed_job(self.id, self.scorecard_id, score_id, item_id)

    def job_for_item(self, score_id: str, item_id: str, **fields: Any) -> str:
        return self.api.seed_job(self.id, self.scorecard_id, score_id, item_id, **fields)


@pytest.fixture
def account(api: Any) -> Account:
    key = f"acct-{uuid.uuid4().hex[:10]}"
    account_id = api.seed_account(key, name="Test account")
    scorecard_id = api.seed_scorecard(account_id, key=f"{key}-card", name="Quality")
    return Account(api, key, account_id, scorecard_id)


@pytest.fixture
def worker_env(
    api: Any, openai: Any, s3: Any, aws_env: dict[str, str], account: Account
) -> dict[str, str]:
    """The environment a deployed function would have, pointing at the local services."""
    return {
        **aws_env,
        "PLEXUS_API_URL": api.url,
        "PLEXUS_API_KEY": PLEXUS_KEY,
        "PLEXUS_ACCOUNT_KEY": account.key,
        "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT": "0",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": openai.base_url,
        "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME": BUCKET,
        "PLEXUS_MODEL_TIMEOUT_SECONDS": "2",
        "PLEXUS_MODEL_MAX_RETRIES": "2",
        "PLEXUS_CONCURRENCY": "4",
        "PLEXUS_MIN_REMAINING_SECONDS": "10",
        # The test HTTPS content server listens on loopback, which content URLs may not name.
        "PLEXUS_CONTENT_ALLOWED_HOSTS": "127.0.0.1",
    }


@pytest.fixture
def settings(worker_env: dict[str, str], use_aws_env: dict[str, str]) -> Settings:
    return load_settings(worker_env)


@pytest.fixture
def function(worker_env: dict[str, str], tmp_path: Path) -> Any:
    """lambda_functions/score_processing under the real awslambdaric, as the image runs it;
    its output goes to `function.log_path`."""
    log_path = tmp_path / "function.log"
    from plexus.tooling.invoke import LocalFunction

    with log_path.open("wb") as log, LocalFunction(HANDLER_DIR, env=worker_env, output=log) as fn:
        fn.log_path = log_path
        yield fn
