"""The scoring step of a job: the score's YAML parsed, the item read, the score run.

`run_score` is what runs behind the process boundary (plexus/worker/score_pool.py): all the
code a score configuration controls (YAML, Jinja2 templates, regexes, LogicalClassifier
code, the model calls) and nothing that holds a job. What it needs of the worker (the
item's attached files, the values of the scores it depends on, content from a URL, the
model-output store) it asks through a `ScoreHost`, which the pool answers from the worker's
own process. Requests and answers are plain JSON values, so they cross a pipe as they are.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from plexus.core import job_log

if TYPE_CHECKING:
    from plexus.scores.providers import Models
    from plexus.scores.run import ScoringSettings
    from plexus.scores.Score import Score

log = logging.getLogger(__name__)

# Where the score was answered from: its own rules, a model call, or the output store.
RULES, MODEL, STORE = "rules", "model", "store"


@dataclass(frozen=True)
class ScoreRequest:
    """One job's scoring: the champion version's YAML and the item, as the API gave them."""

    job_id: str
    version_id: str
    configuration: str | None
    # Names the score in errors: "score 'Greeting' version v-1".
    source: str
    item: dict[str, Any]
    job: dict[str, Any]
    use_store: bool = False

    def to_json(self) -> dict[str, Any]:
        # Shallow: it is JSON-encoded next (asdict deep-copies the item and job first).
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreRequest:
        return cls(**data)


@dataclass(frozen=True)
class Scored:
    """The scoring step's answer: the ScoreResult as JSON, where it came from, what it read."""

    classification: dict[str, Any]
    source: str
    text_chars: int
    lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scored:
        return cls(**data)


class ScoreHost(Protocol):
    """What the scoring step asks of the worker; every argument and answer is JSON."""

    async def attached_files(self, item: dict[str, Any]) -> list[str]: ...

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None: ...

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None: ...

    async def fetch(self, item: dict[str, Any]) -> str: ...

    async def store_get(self, version_id: str, key: str) -> dict[str, Any] | None: ...

    async def store_put(self, version_id: str, key: str, output: dict[str, Any]) -> None: ...


class _HostAsApi:
    """The host under the names plexus/worker/score_input.py calls on an API client."""

    def __init__(self, host: ScoreHost) -> None:
        self._host = host

    async def attached_files(self, item_id: str) -> list[str]:
        return await self._host.attached_files({"id": item_id})

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None:
        return await self._host.score_id_by_name(scorecard_id, name)

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None:
        return await self._host.newest_prediction(item_id, score_id)


class ConfigCache:
    """Parsed configurations by their text: a warm worker parses a version's YAML once.

    A parsed score holds compiled templates and no per-run state, so runs share it.
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._scores: OrderedDict[str, Score] = OrderedDict()

    def parse(self, configuration: str | None, source: str) -> Score:
        from plexus.scores import parse_score_config

        key = hashlib.sha256(f"{source}\x00{configuration}".encode()).hexdigest()
        score = self._scores.get(key)
        if score is None:
            score = parse_score_config(configuration, source=source)
            self._scores[key] = score
            if len(self._scores) > self._size:
                self._scores.popitem(last=False)
        else:
            self._scores.move_to_end(key)
        return score


async def run_score(
    request: ScoreRequest,
    host: ScoreHost,
    scoring: ScoringSettings,
    models: Models,
    configs: ConfigCache,
    progress: Any = None,
) -> Scored:
    """Parse, read, classify: the part of a job a score's configuration controls."""
    from plexus.scores import score_item
    from plexus.scores.result import ScoreResult
    from plexus.scores.run import Run
    from plexus.worker.score_input import input_key, worker_input

    with job_log.capture() as lines:
        config = configs.parse(request.configuration, request.source)
        run = Run(scoring, models)
        if progress is not None:
            run.progress = progress
        score_input = await worker_input(
            _HostAsApi(host),  # type: ignore[arg-type]
            config,
            request.item,
            request.job,
            run,
            host.fetch,
        )
        run.results = getattr(score_input, "dependency_results", {})
        text_chars = len(score_input.text)
        if not config.uses_model():
            result, source = await score_item(config, score_input, run), RULES
        else:
            key = input_key(score_input, run.results)
            saved = await host.store_get(request.version_id, key) if request.use_store else None
            if saved is not None:
                log.info("model output found in the store; no model call")
                result, source = ScoreResult.from_json(saved), STORE
            else:
                result, source = await score_item(config, score_input, run), MODEL
                if request.use_store:
                    await host.store_put(request.version_id, key, result.to_json())
    return Scored(result.to_json(), source, text_chars, lines)


class InProcessScorer:
    """The scoring step in this process, with no time limit: for the unit tests' fakes and
    for tools that run one score; the worker's own is the process pool."""

    def __init__(self, scoring: ScoringSettings) -> None:
        from plexus.scores.providers import Models

        self.scoring = scoring
        self.models = Models(scoring)
        self.configs = ConfigCache()

    async def score(
        self, request: ScoreRequest, host: ScoreHost, *, ends_at: float | None = None
    ) -> Scored:
        return await run_score(request, host, self.scoring, self.models, self.configs)

    async def close(self) -> None:
        await self.models.close()
