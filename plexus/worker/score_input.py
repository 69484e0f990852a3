"""What the worker fetches for a score beyond the item itself, through the Plexus API.

- `worker_input`: the score's input for a job: its input source's attachment, the item's
  text, or the content `fetch` gets from metadata.contentUrl; with `dependency_results`;
- `attached_files`: the item's `attachedFiles`, only for a score with an `item:` input
  source (the job's context query does not ask for them, to keep the usual job lean);
- `dependency_results`: for a score with `depends_on`, the newest earlier prediction of
  each named score of the same scorecard for this item (two requests each). The worker scores one score per
  job; a dependency without a result fails the job naming it (score it first).
- `input_key`: what the model-output store keys a run on.

The requests are PlexusApi's (plexus/api_client.py holds every document the worker sends).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from plexus.core.errors import JobError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from plexus.clients.plexus_api import PlexusApi
    from plexus.scores.run import Run
    from plexus.scores.Score import Score


async def worker_input(
    api: PlexusApi,
    score: Score,
    item: dict[str, Any],
    job: dict[str, Any],
    run: Run,
    fetch: Callable[[dict[str, Any]], Awaitable[str]],
) -> Any:
    from plexus.scores import item_input

    results = await dependency_results(api, score, item, job)
    if score.input_source() is not None:
        item = {**item, "attachedFiles": await attached_files(api, item)}
        score_input = await item_input(score, item, run)
    elif item.get("text"):
        score_input = await item_input(score, item, run)
    else:
        score_input = await item_input(score, item, run, text=await fetch(item))
    # The values of the scores it depends on travel with the input to _classify.
    score_input.dependency_results = results
    return score_input


async def attached_files(api: PlexusApi, item: dict[str, Any]) -> list[str]:
    return await api.attached_files(item["id"])


async def dependency_results(
    api: PlexusApi, score: Score, item: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    """Two requests a dependency: its id by name in this scorecard, then its newest
    prediction for the item through the cache index (never the item's whole history)."""
    if not score.depends_on:
        return {}
    from plexus.scores.Score import Score as _Score

    newest: dict[str, dict[str, Any]] = {}
    for name in sorted(set(score.depends_on)):
        score_id = await api.score_id_by_name(job["scorecardId"], name)
        result = await api.newest_prediction(item["id"], score_id) if score_id else None
        if result is not None:
            newest[name] = result
    missing = sorted(set(score.depends_on) - set(newest))
    if missing:
        raise JobError(
            f"score {score.name or '?'!r} depends on {', '.join(map(repr, missing))}, which "
            f"has no result for item {item['id']} yet; score that first"
        )
    return {
        name: _Score.Result(
            parameters=_Score.Parameters(name=name),
            value=r.get("value"),
            explanation=r.get("explanation"),
            confidence=r.get("confidence"),
        )
        for name, r in newest.items()
    }


def input_key(score_input: Any, results: dict[str, Any]) -> str:
    """The text, metadata and dependency values a run saw, as one string to hash."""
    payload = {
        "text": score_input.text,
        "metadata": score_input.metadata,
        "results": {k: getattr(v, "value", None) for k, v in sorted(results.items())},
    }
    if not payload["metadata"] and not payload["results"]:
        # A text-only input is keyed by its text alone.
        return str(score_input.text)
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{score_input.text}\n\x00{digest}"
