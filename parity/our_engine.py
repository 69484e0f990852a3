"""Runs a case through this project's engine, the way `plexus-lambda score` does."""

from __future__ import annotations

from typing import Any


AZURE_VERSION = "2024-10-21"


async def run_case(case: dict[str, Any], base_url: str, azure_base: str) -> dict[str, Any]:
    from plexus.core.errors import JobFailure
    from plexus.scores.config import load_yaml, score_from_mapping
    from plexus.scores.run import Run, ScoringSettings
    from plexus.scores.scorecard import score_with_dependencies
    from plexus.core.settings import Secret

    out: dict[str, Any] = {"id": case["id"]}
    settings = ScoringSettings(
        openai_api_key=Secret("sk-parity"),
        openai_base_url=base_url,
        azure_api_key=Secret("azure-parity"),
        azure_api_base=azure_base,
        azure_api_version=AZURE_VERSION,
        model_max_retries=0,
    )
    run = Run.create(settings)
    try:
        data = load_yaml(case["config"], case["id"])
        score = score_from_mapping(data, case["id"])
        name = score.name or "score"
        item = {"id": "parity", "text": case.get("text", ""), "metadata": case.get("metadata") or {}}
        result = (await score_with_dependencies({name: score}, name, item, run))[name]
    except (JobFailure, ValueError) as exc:
        out["failed"] = f"{type(exc).__name__}: {exc}"
        return out
    finally:
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
