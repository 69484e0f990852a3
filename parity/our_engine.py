"""Runs a case through this project's engine, the way `plexus-lambda score` does."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parity.fake_model import FakeModel
    from plexus.scores.providers import Models
    from plexus.scores.run import ScoringSettings

AZURE_VERSION = "2024-10-21"
BEDROCK_ENV = ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@contextmanager
def bedrock_at(base_url: str) -> Iterator[None]:
    """boto3's bedrock-runtime client pointed at the fake model (with throwaway credentials),
    for the time of the block; the environment is restored after."""
    saved = {name: os.environ.get(name) for name in BEDROCK_ENV}
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": base_url,
            "AWS_ACCESS_KEY_ID": "AKIDPARITY",
            "AWS_SECRET_ACCESS_KEY": "parity-secret",
        }
    )
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def settings_for(base_url: str, azure_base: str) -> ScoringSettings:
    """The engine's settings with every provider pointed at the fake model."""
    from plexus.core.settings import Secret
    from plexus.scores.run import ScoringSettings

    return ScoringSettings(
        openai_api_key=Secret("sk-parity"),
        openai_base_url=base_url,
        azure_api_key=Secret("azure-parity"),
        azure_api_base=azure_base,
        azure_api_version=AZURE_VERSION,
        model_max_retries=0,
    )


async def run_case(
    case: dict[str, Any], base_url: str, azure_base: str, models: Models | None = None
) -> dict[str, Any]:
    """The case's outcome. `models` may be shared by many runs, as the worker shares it;
    by default the run has its own, closed at the end."""
    with bedrock_at(base_url):
        return await _run_case(case, base_url, azure_base, models)


async def _run_case(
    case: dict[str, Any], base_url: str, azure_base: str, models: Models | None
) -> dict[str, Any]:
    from plexus.core.errors import JobFailure
    from plexus.scores.config import load_yaml, score_from_mapping
    from plexus.scores.run import Run
    from plexus.scores.scorecard import score_with_dependencies

    out: dict[str, Any] = {"id": case["id"]}
    settings = settings_for(base_url, azure_base)
    run = Run.create(settings) if models is None else Run(settings, models)
    try:
        data = load_yaml(case["config"], case["id"])
        score = score_from_mapping(data, case["id"])
        name = score.name or "score"
        scores = {name: score}
        for index, text in enumerate(case.get("dependencies") or []):
            dependency = score_from_mapping(load_yaml(text, f"{case['id']}#{index}"), case["id"])
            scores[dependency.name or f"dependency {index}"] = dependency
        item = {
            "id": "parity",
            "text": case.get("text", ""),
            "metadata": case.get("metadata") or {},
        }
        result = (await score_with_dependencies(scores, name, item, run))[name]
    except (JobFailure, ValueError) as exc:
        out["failed"] = f"{type(exc).__name__}: {exc}"
        out["path"] = list(getattr(exc, "nodes_done", ()))
        return out
    finally:
        if models is None:
            await run.models.close()
    cost = result.cost.to_json()
    out.update(
        value=result.value,
        explanation=result.explanation,
        confidence=result.confidence,
        path=[node["node"] for node in result.routes],
        usage={
            "prompt_tokens": cost["prompt_tokens"],
            "completion_tokens": cost["completion_tokens"],
            "total_tokens": cost["total_tokens"],
            "successful_requests": cost["llm_calls"],
        },
        cost=cost,
    )
    return out


class SharedEngine:
    """Many cases, one after another, on one event loop and one set of model clients
    (what keeps the golden test fast: a client costs ~0.25 s to create)."""

    def __init__(self, server: FakeModel) -> None:
        from plexus.scores.providers import Models

        self.server = server
        self.base_url = server.base_url(server.CURRENT)
        self.azure_base = f"{server.base}/c/{server.CURRENT}"
        self.loop = asyncio.new_event_loop()
        self.models = Models(settings_for(self.base_url, self.azure_base))

    def run(self, case: dict[str, Any], key: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The case's outcome and the requests it sent, its replies served under `key`."""
        self.server.script(key, case["replies"])
        self.server.select(key)
        outcome = self.loop.run_until_complete(
            run_case(case, self.base_url, self.azure_base, self.models)
        )
        return outcome, self.server.requests(key)

    def close(self) -> None:
        self.loop.run_until_complete(self.models.close())
        self.loop.close()
