"""A scorecard document (`scores:` or `sections: [{scores: ...}]`), as in Plexus's
repository and `plexus-lambda score`: score one of its scores, its dependencies first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError

if TYPE_CHECKING:
    from plexus.scores.result import ScoreResult
    from plexus.scores.run import Run
    from plexus.scores.Score import Score


def scorecard_scores(data: Any, source: str = "scorecard") -> list[dict[str, Any]] | None:
    """The score mappings of a scorecard document, or None when it is a single score."""
    if not isinstance(data, dict) or "class" in data:
        return None
    if "scores" in data:
        if not isinstance(data["scores"], list):
            raise ScoreConfigError(f"{source}: scores must be a list of scores")
        return list(data["scores"])
    if "sections" in data:
        sections = data["sections"]
        if not isinstance(sections, list):
            raise ScoreConfigError(f"{source}: sections must be a list of sections")
        entries: list[Any] = []
        for index, section in enumerate(sections):
            scores = (section or {}).get("scores") if isinstance(section, dict | None) else None
            if not isinstance(section, dict | None) or not isinstance(scores, list | None):
                raise ScoreConfigError(
                    f"{source}: section {index + 1} must be a mapping with a list of scores"
                )
            entries += scores or []
        return entries
    return None


def parse_scorecard(entries: list[Any], source: str) -> dict[str, Score]:
    from plexus.scores.config import score_from_mapping

    scores: dict[str, Score] = {}
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise ScoreConfigError(f"{source}: score {index + 1} has no name")
        scores[name] = score_from_mapping(entry, f"{source}: score {name!r}")
    for name, score in scores.items():
        for dependency in score.depends_on:
            if dependency not in scores:
                raise ScoreConfigError(
                    f"{source}: score {name!r} depends on {dependency!r}, which is not in it"
                )
    for name in scores:
        order(scores, name)  # refuses a cycle now, whichever score is run
    return scores


def order(scores: dict[str, Score], target: str) -> list[str]:
    """`target` and everything it depends on, dependencies first; a cycle is an error."""
    done: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name) :], name])
            raise ScoreConfigError(f"depends_on has a cycle: {cycle}")
        visiting.append(name)
        for dependency in scores[name].depends_on:
            visit(dependency)
        visiting.pop()
        done.append(name)

    visit(target)
    return done


async def score_with_dependencies(
    scores: dict[str, Score], target: str, item: dict[str, Any], run: Run
) -> dict[str, ScoreResult]:
    from plexus.scores import item_input, score_item
    from plexus.scores.Score import Score as _Score

    out: dict[str, ScoreResult] = {}
    for name in order(scores, target):
        score = scores[name]
        run.progress(f"score {name!r}")
        result = await score_item(score, await item_input(score, item, run), run)
        out[name] = result
        run.results[name] = _Score.Result(
            parameters=_Score.Parameters(name=name),
            value=result.value,
            explanation=result.explanation,
            confidence=result.confidence,
        )
    return out
