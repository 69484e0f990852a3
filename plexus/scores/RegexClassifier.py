"""`RegexClassifier` (this project's own): no model; the first rule whose regular
expression matches the text wins, else `default`.

    class: RegexClassifier
    rules: [{value: "Yes", pattern: "order (number|no\\.?) \\d+"}]
    default: "No"
    ignore_case: true
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from plexus.core.errors import ScoreConfigError
from plexus.scores.result import ScoreResult
from plexus.scores.Score import Score
from plexus.scores.validation import pydantic_reasons

if TYPE_CHECKING:
    from plexus.scores.run import Run


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class RegexRule(_Strict):
    value: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
        return pattern


class RegexConfig(_Strict):
    name: str | None = None
    rules: list[RegexRule] = Field(min_length=1)
    default: str
    ignore_case: bool = False


class RegexClassifier(Score):
    kind = "RegexClassifier"

    def __init__(self, config: RegexConfig) -> None:
        self.config = config
        self.name = config.name
        self.depends_on = {}

    @classmethod
    def from_config(cls, data: dict[str, Any], source: str) -> RegexClassifier:
        try:
            return cls(RegexConfig.model_validate(data))
        except ValidationError as exc:
            raise ScoreConfigError(f"{source}: {pydantic_reasons(exc)}") from None

    def classify(self, text: str) -> ScoreResult:
        flags = re.IGNORECASE if self.config.ignore_case else 0
        for index, rule in enumerate(self.config.rules):
            match = re.search(rule.pattern, text, flags)
            if match:
                return ScoreResult(
                    value=rule.value,
                    explanation=f"pattern {rule.pattern!r} matched {match.group(0)!r} (rule {index + 1})",
                    confidence=1.0,
                    trace={"score": self.kind, "rule": index, "match": list(match.span())},
                )
        return ScoreResult(
            value=self.config.default,
            explanation="no rule's pattern matches the text; default",
            confidence=1.0,
            trace={"score": self.kind, "rule": None},
        )

    async def predict(self, score_input: Score.Input, run: Run) -> ScoreResult:
        return self.classify(score_input.text)
