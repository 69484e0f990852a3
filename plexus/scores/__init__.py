"""The score engine: Plexus's score formats, run without LangChain (mirrors `plexus.scores`).

One module per score or node class, named as Plexus names it:

    plexus/scores/LangGraphScore.py          class: LangGraphScore (graph of nodes)
    plexus/scores/nodes/Classifier.py        ... YesOrNoClassifier, MultiClassClassifier,
                                              Extractor, Generator, FuzzyMatchClassifier,
                                              LogicalClassifier, LogicalNode
    plexus/scores/input_sources/             TextFileInputSource, DeepgramInputSource
    plexus/scores/LLMClassifier.py           this project's own classes:
    plexus/scores/KeywordClassifier.py         LLMClassifier, KeywordClassifier (also
    plexus/scores/RegexClassifier.py           Plexus's `keywords:`), RegexClassifier

The processor calls `parse_score_config`, `item_input` and `score_item`; nothing here is
imported on the empty poll's path (this module itself imports nothing heavy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import JobError
from plexus.scores.config import parse_score_config
from plexus.scores.item import item_metadata

if TYPE_CHECKING:
    from plexus.scores.result import ScoreResult
    from plexus.scores.run import Run
    from plexus.scores.Score import Score

__all__ = ["item_input", "parse_score_config", "score_item"]


async def item_input(score: Score, item: dict[str, Any], run: Run, text: str | None = None) -> Any:
    """What the score reads of the item: its input source's attachment, else `text`
    (the item's, or content the caller fetched), with the item's metadata."""
    from plexus.scores.Score import Score as _Score

    source = score.input_source()
    if source is not None:
        return await source.extract(item, run.settings)
    body = item.get("text") if text is None else text
    if not body:
        raise JobError(f"item {item.get('id', '?')} has no text")
    return _Score.Input(text=str(body), metadata=item_metadata(item))


async def score_item(score: Score, score_input: Any, run: Run) -> ScoreResult:
    """Score one item; `run.results` holds the values of the scores it depends on.

    As Plexus's Scorecard: a `depends_on` condition that does not hold gives the result
    "SKIPPED" (no model call); the score is handed the results of its own `depends_on` only,
    a skipped one left out."""
    from plexus.scores.dependencies import SKIPPED, SKIPPED_EXPLANATION, dependency_holds
    from plexus.scores.result import ScoreResult

    for name, condition in score.depends_on.items():
        if name not in run.results:
            raise JobError(
                f"score {score.name or '?'!r} depends on {name!r}, which has no result for this item"
            )
        value = run.results[name].value
        if not dependency_holds(condition, value):
            run.progress(
                f"score {score.name or '?'!r} skipped: {name!r} is {value!r}, its condition "
                f"is {condition!r}"
            )
            return ScoreResult(value=SKIPPED, explanation=SKIPPED_EXPLANATION, confidence=None)
    every = run.results
    run.results = {
        k: v for k, v in every.items() if k in score.depends_on and str(v.value) != SKIPPED
    }
    try:
        return await score.predict(score_input, run)
    finally:
        run.results = every
