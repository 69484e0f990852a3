"""Fixtures for the score engine's tests: real score configurations from AnthusAI/Plexus
(tests/scores/data, sources in its README), the real openai and boto3 clients against the
test model server on 127.0.0.1, S3 in moto."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plexus.core.settings import Secret
from tests.conftest import OPENAI_KEY

DATA = Path(__file__).parent / "data"


def data(name: str) -> str:
    return (DATA / name).read_text()


@pytest.fixture
def scoring(openai: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A Run whose providers all reach the test server: OpenAI, Azure OpenAI (same
    server, its Azure route) and Bedrock Converse (boto3 pointed at it)."""
    from plexus.scores.run import Run, ScoringSettings

    root = openai.base_url.removesuffix("/v1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", root)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = ScoringSettings(
        openai_api_key=Secret(OPENAI_KEY),
        openai_base_url=openai.base_url,
        azure_api_key=Secret(OPENAI_KEY),
        azure_api_base=root,
        azure_api_version="2024-06-01",
        model_timeout_seconds=5,
        model_max_retries=0,
    )
    yield Run.create(settings)


def score_text(score: Any, run: Any, text: str, metadata: dict[str, Any] | None = None) -> Any:
    """Score `text` with `score` (its dependencies' values in run.results)."""
    return run_async(
        run, lambda r: _score(score, r, {"id": "i-1", "text": text, "metadata": metadata})
    )


async def _score(score: Any, run: Any, item: dict[str, Any]) -> Any:
    from plexus.scores import item_input, score_item

    return await score_item(score, await item_input(score, item, run), run)


def run_async(run: Any, work: Any) -> Any:
    """Run `work(run)` in a fresh event loop with fresh model clients (an openai client
    belongs to the loop it first ran in), closing them after."""
    from plexus.scores.providers import Models

    async def go() -> Any:
        run.models = Models(run.settings)
        try:
            return await work(run)
        finally:
            await run.models.close()

    return asyncio.run(go())
