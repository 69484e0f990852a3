"""What the worker fetches for a score beyond the item itself, through the Plexus API.

- `worker_input`: the score's input for a job: its input source's attachment, the item's
  text, or the content `fetch` gets from metadata.contentUrl; with `dependency_results`;
- `attached_files`: the item's `attachedFiles`, only for a score with an `item:` input
  source (the job's context query does not ask for them, to keep the usual job lean);
- `dependency_results`: for a score with `depends_on`, the newest earlier prediction of
  each named score of the same scorecard for this item. The worker scores one score per
  job; a dependency without a result fails the job naming it (score it first).
- `input_key`: what the model-output store keys a run on.

The requests use PlexusApi's own executor (retries, error mapping) with operations
defined here, so the client's module stays as it is.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from plexus.errors import JobError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from plexus.api_client import PlexusApi
    from plexus.scores.run import Run
    from plexus.scores.Score import Score


def _request(text: str) -> Any:
    from gql import GraphQLRequest

    return GraphQLRequest(text)


Q_ATTACHED_FILES = "query ItemFiles($id: ID!) { getItem(id: $id) { id attachedFiles } }"
Q_SCORE_NAME = "query ScoreName($id: ID!) { getScore(id: $id) { id name } }"


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
    data = await api._execute(_request(Q_ATTACHED_FILES), id=item["id"])
    found = (data.get("getItem") or {}).get("attachedFiles") or []
    return [str(f) for f in found if f]


async def dependency_results(
    api: PlexusApi, score: Score, item: dict[str, Any], job: dict[str, Any]
) -> dict[str, Any]:
    if not score.depends_on:
        return {}
    from plexus.api_client import Q_RESULTS_BY_ITEM
    from plexus.scores.Score import Score as _Score

    wanted = set(score.depends_on)
    result_filter = {"type": {"eq": "prediction"}}
    results: list[dict[str, Any]] = []
    token = None
    while True:
        page = await api._execute(
            Q_RESULTS_BY_ITEM, itemId=item["id"], filter=result_filter, nextToken=token
        )
        listing = page["listScoreResultByItemId"]
        results += [r for r in listing["items"] if r and r.get("scorecardId") == job["scorecardId"]]
        token = listing.get("nextToken")
        if not token:
            break
    names: dict[str, str] = {}
    for score_id in {r["scoreId"] for r in results if r.get("scoreId")}:
        found = (await api._execute(_request(Q_SCORE_NAME), id=score_id)).get("getScore")
        if found and found.get("name") in wanted:
            names[score_id] = found["name"]
    newest: dict[str, dict[str, Any]] = {}
    for r in sorted(results, key=lambda r: r.get("createdAt") or ""):
        if r.get("scoreId") in names:
            newest[names[r["scoreId"]]] = r
    missing = sorted(wanted - set(newest))
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
        return str(score_input.text)  # as before: the text alone
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{score_input.text}\n\x00{digest}"
