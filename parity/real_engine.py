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


def _usage_of(cost: dict[str, Any]) -> dict[str, Any]:
    """Token counts from a cost record (TactusScore keeps no token usage of its own)."""
    return {
        k: int(cost.get(k) or 0) for k in ("prompt_tokens", "completion_tokens", "total_tokens")
    }


class _Scorecard:
    """The part of Plexus's Scorecard.score_entire_text that runs dependencies: its
    `build_dependency_graph` and `check_dependency_conditions`, called on a stand-in that
    holds the case's score configurations (with ids) instead of the API's; a score whose
    conditions fail gets the SKIPPED result process_score makes, and a skipped dependency is
    not handed on."""

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        from types import SimpleNamespace

        from plexus.Scorecard import Scorecard

        self._check = Scorecard.check_dependency_conditions
        self._host = SimpleNamespace(
            scores=[{**c, "id": str(i + 1)} for i, c in enumerate(configs)], score_registry=None
        )
        names = [c["name"] for c in configs]
        self.graph, self.ids = Scorecard.build_dependency_graph(self._host, names)
        self.results: dict[str, Any] = {}

    async def skipped(self, config: dict[str, Any]) -> bool:
        from plexus.scores.Score import Score

        score_id = self.ids[config["name"]]
        if self._check(self._host, score_id, self.graph, self.results):
            return False
        self.results[score_id] = Score.Result(
            value="SKIPPED",
            explanation="Score was skipped because dependency conditions were not met",
            parameters=Score.Parameters(name=config["name"]),
        )
        return True

    def previous(self, config: dict[str, Any]) -> list[Any]:
        deps = self.graph[self.ids[config["name"]]]["deps"]
        return [
            self.results[d]
            for d in deps
            if d in self.results and self.results[d].value != "SKIPPED"
        ]

    def done(self, config: dict[str, Any], result: Any) -> None:
        from plexus.scores.Score import Score

        result.parameters = Score.Parameters(name=config["name"])
        self.results[self.ids[config["name"]]] = result


async def _score(config: dict[str, Any]) -> Any:
    """The score object, created as Plexus's Scorecard creates it (`create(**config)`)."""
    kind = config.get("class")
    if kind == "TactusScore":
        from plexus.scores.TactusScore import TactusScore

        return await TactusScore.create(**config)
    from plexus.scores.LangGraphScore import LangGraphScore

    return await LangGraphScore.create(**config)


async def run_case(case: dict[str, Any]) -> dict[str, Any]:
    from ruamel.yaml import YAML

    from plexus.scores.Score import Score

    os.environ["OPENAI_API_KEY"] = "sk-parity"
    # tactus (dspy) keeps the first model client of the process: Tactus cases reach the fake
    # model's "current" script, which the harness points at the case before sending it.
    tactus = "TactusScore" in case["config"] or any(
        d.get("class") == "TactusScore" for d in case.get("dependencies") or []
    )
    base_url = case["current_url"] if tactus else case["base_url"]
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_BASE"] = base_url
    os.environ["AZURE_API_BASE"] = case["azure_base"]
    # BedrockChat: boto3's bedrock-runtime client, pointed at the fake model.
    os.environ["AWS_ENDPOINT_URL_BEDROCK_RUNTIME"] = case["base_url"]
    os.environ["AWS_ACCESS_KEY_ID"] = "AKIDPARITY"
    os.environ["AWS_SECRET_ACCESS_KEY"] = "parity-secret"
    os.environ["AZURE_API_KEY"] = "azure-parity"
    os.environ["AZURE_API_VERSION"] = case["azure_version"]
    path: list[str] = []
    out: dict[str, Any] = {"id": case["id"]}
    try:
        config = YAML(typ="safe", pure=True).load(case["config"])
        dependencies = case.get("dependencies") or []
        scorecard = _Scorecard([*dependencies, config]) if dependencies else None
        for dependency in dependencies:
            assert scorecard is not None
            # A scorecard case: the scores it depends on first, as Plexus's Scorecard runs
            # them (its own dependency graph and condition check; a skipped score's result).
            if await scorecard.skipped(dependency):
                continue
            dep_score = await _score(dependency)
            dep_result = await dep_score.predict(
                Score.Input(
                    text=case.get("text", ""),
                    metadata=dict(case.get("metadata") or {}),
                    results=scorecard.previous(dependency),
                )
            )
            scorecard.done(dependency, dep_result)
        if scorecard is not None and await scorecard.skipped(config):
            result = scorecard.results[scorecard.ids[config["name"]]]
            out.update(value=result.value, explanation=result.explanation, confidence=None)
            out.update(usage=_usage_of({}), cost={}, path=path)
            return out
        previous = scorecard.previous(config) if scorecard is not None else []
        score = await _score(config)
        if hasattr(score, "workflow"):
            score.workflow = PathRecorder(score.workflow, path)
        result = await score.predict(
            Score.Input(
                text=case.get("text", ""),
                metadata=dict(case.get("metadata") or {}),
                results=previous,
            )
        )
        out.update(
            value=_plain(result.value),
            explanation=_plain(result.explanation),
            confidence=_plain(result.confidence),
            error=_plain(getattr(result, "error", None)),
        )
        cost = score.get_accumulated_costs()
        out["usage"] = (
            {k: _plain(v) for k, v in score.get_token_usage().items()}
            if hasattr(score, "get_token_usage")
            else _usage_of(cost)
        )
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

    # One case a line; each answered before the next is read, so the harness can point its
    # fake model at the case (a process-wide model client, such as tactus's dspy LM, keeps
    # the first base URL it was given).
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        case = json.loads(line)
        outcome = await run_case(case)
        sys.stdout.write(MARK + json.dumps(outcome) + "\n")
        sys.stdout.flush()
    # From inside the loop: asyncio.run's own shutdown would wait for the executor threads.
    _exit_now(0)
    return 0


def _exit_now(code: int) -> None:
    """Leaves at once, coverage's data saved first: a graph that ran past LANGGRAPH_TIMEOUT
    leaves Plexus's model retries going in a worker thread, which asyncio.run's shutdown and
    the interpreter would otherwise wait for (minutes of backoff)."""
    # Only under `coverage run` (the checkout may hold a module of that name of its own).
    measuring = getattr(sys.modules.get("coverage"), "Coverage", None)
    current = measuring.current() if measuring is not None else None
    if current is not None:
        current.stop()
        current.save()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: real_engine.py PLEXUS_CHECKOUT < cases.jsonl", file=sys.stderr)
        raise SystemExit(2)
    _exit_now(asyncio.run(main(sys.argv[1])))
