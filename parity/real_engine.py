"""Runs cases through the real Plexus LangGraphScore; executed by the Plexus virtualenv's python.

    PLEXUS_PYTHON parity/real_engine.py PLEXUS_CHECKOUT < cases.jsonl > outcomes.jsonl

Standard library and Plexus only (it runs in Plexus's environment, not this project's). Each
input line is a case with its model base URL; each output line is what the engine returned:
value, explanation, confidence, error, the LangGraph node path and Plexus's own token and cost
accounting. The engine is used as Plexus's worker uses it (`await LangGraphScore.create(**config)`,
then `predict(Score.Input(...))`); the only addition is that the compiled graph is run through
`astream(stream_mode=["updates", "values"])`, which is what its `ainvoke` does inside, so the
node path can be recorded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import traceback
from typing import Any

# Plexus code may print to stdout; outcome lines carry this mark.
MARK = "PARITY-OUTCOME "


class PathRecorder:
    """The compiled graph, with `ainvoke` recording the nodes it runs."""

    def __init__(self, app: Any, path: list[str]) -> None:
        self._app = app
        self._path = path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app, name)

    async def ainvoke(self, state: Any, config: Any = None, **kwargs: Any) -> Any:
        latest = None
        async for mode, chunk in self._app.astream(
            state, config=config, stream_mode=["updates", "values"], **kwargs
        ):
            if mode == "updates" and isinstance(chunk, dict):
                self._path.extend(chunk.keys())
            elif mode == "values":
                latest = chunk
        return latest


def _plain(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        return repr(value)


async def run_case(case: dict[str, Any]) -> dict[str, Any]:
    from ruamel.yaml import YAML

    from plexus.scores.LangGraphScore import LangGraphScore
    from plexus.scores.Score import Score

    os.environ["OPENAI_API_KEY"] = "sk-parity"
    os.environ["OPENAI_BASE_URL"] = case["base_url"]
    os.environ["OPENAI_API_BASE"] = case["base_url"]
    os.environ["AZURE_API_BASE"] = case["azure_base"]
    os.environ["AZURE_API_KEY"] = "azure-parity"
    os.environ["AZURE_API_VERSION"] = case["azure_version"]
    path: list[str] = []
    out: dict[str, Any] = {"id": case["id"]}
    try:
        config = YAML(typ="safe", pure=True).load(case["config"])
        score = await LangGraphScore.create(**config)
        score.workflow = PathRecorder(score.workflow, path)
        result = await score.predict(
            Score.Input(text=case.get("text", ""), metadata=case.get("metadata") or {}, results=[])
        )
        out.update(
            value=_plain(result.value),
            explanation=_plain(result.explanation),
            confidence=_plain(result.confidence),
            error=_plain(getattr(result, "error", None)),
        )
        cost = score.get_accumulated_costs()
        out["usage"] = {k: _plain(v) for k, v in score.get_token_usage().items()}
        out["cost"] = json.loads(json.dumps(cost, default=str))
    except Exception as exc:  # a crash at create time: recorded as the outcome
        out.update(crash=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-3000:])
    out["path"] = path
    return out


async def main(checkout: str) -> int:
    sys.path.insert(0, checkout)
    os.chdir(checkout)
    logging.disable(logging.CRITICAL)
    import plexus  # noqa: F401  (fail early and clearly when the checkout is wrong)

    for line in sys.stdin:
        if not line.strip():
            continue
        case = json.loads(line)
        outcome = await run_case(case)
        sys.stdout.write(MARK + json.dumps(outcome) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: real_engine.py PLEXUS_CHECKOUT < cases.jsonl", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(asyncio.run(main(sys.argv[1])))
