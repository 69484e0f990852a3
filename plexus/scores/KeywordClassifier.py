"""`KeywordClassifier`: no model; a keyword that occurs in the text decides.

Two formats. Plexus's own (plexus/scores/KeywordClassifier.py): `keywords:`, a list of
strings; "Yes" when any occurs in the text, ignoring case, else "No" (Plexus's value is
the boolean; this worker writes "Yes"/"No"). This project's own: `rules:`, each
`{value, keywords}`; the first rule with a keyword in the text wins, else `default`.

    class: KeywordClassifier
    keywords: [child, children, dependent]

    class: KeywordClassifier
    rules: [{value: Refund, keywords: [refund, money back]}]
    default: Other
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from plexus.core.errors import ScoreConfigError
from plexus.scores.result import ScoreResult
from plexus.scores.Score import Score
from plexus.scores.validation import pydantic_reasons

if TYPE_CHECKING:
    from plexus.scores.run import Run


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class KeywordRule(_Strict):
    value: str
    keywords: list[str] = Field(min_length=1)


class KeywordConfig(_Strict):
    name: str | None = None
    rules: list[KeywordRule] = Field(min_length=1)
    default: str
    ignore_case: bool = True


class KeywordClassifier(Score):
    kind = "KeywordClassifier"

    def __init__(self, config: KeywordConfig) -> None:
        self.config = config
        self.name = config.name
        self.depends_on = {}

    @classmethod
    def from_config(cls, data: dict[str, Any], source: str) -> KeywordClassifier:
        if "rules" not in data and isinstance(data.get("keywords"), list):
            # Plexus's format: any keyword means "Yes".
            odd = [k for k in data["keywords"] if not isinstance(k, str | int | float)]
            if odd:
                raise ScoreConfigError(
                    f"{source}: keywords must be a list of words, "
                    f"not of {type(odd[0]).__name__} (write `keywords: [a, b]`)"
                )
            keywords = [str(k) for k in data["keywords"]]
            if not keywords:
                raise ScoreConfigError(f"{source}: keywords must not be empty")
            data = {
                "name": data.get("name"),
                "rules": [{"value": "Yes", "keywords": keywords}],
                "default": "No",
                "ignore_case": True,
            }
        try:
            return cls(KeywordConfig.model_validate(data))
        except ValidationError as exc:
            raise ScoreConfigError(f"{source}: {pydantic_reasons(exc)}") from None

    def classify(self, text: str) -> ScoreResult:
        config = self.config
        haystack = text.casefold() if config.ignore_case else text
        for index, rule in enumerate(config.rules):
            for keyword in rule.keywords:
                needle = keyword.casefold() if config.ignore_case else keyword
                if needle in haystack:
                    return ScoreResult(
                        value=rule.value,
                        explanation=f"found keyword {keyword!r} (rule {index + 1})",
                        confidence=1.0,
                        trace={"score": self.kind, "rule": index, "keyword": keyword},
                    )
        return ScoreResult(
            value=config.default,
            explanation="no rule's keyword occurs in the text; default",
            confidence=1.0,
            trace={"score": self.kind, "rule": None},
        )

    async def predict(self, score_input: Score.Input, run: Run) -> ScoreResult:
        return self.classify(score_input.text)
