"""`LLMClassifier` (this project's own): one chat completion with structured output.

The reply must be JSON matching a schema whose `value` is an enum of `valid_classes`; a
reply outside them is an error (`ModelReplyError`), never a guess. `user_message` holds
`{text}` (or Jinja2's `{{ text }}`) where the item's text goes.

    class: LLMClassifier
    model: gpt-4o-mini              # or model_name
    valid_classes: ["Yes", "No"]
    system_message: You review call transcripts.
    user_message: "Did the agent greet the caller?\\n\\n{text}"
    temperature: 0                  # optional
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plexus.core.errors import ModelReplyError, ScoreConfigError
from plexus.scores.nodes.BaseNode import NodeRecord
from plexus.scores.providers import ModelChoice
from plexus.scores.result import ScoreResult
from plexus.scores.Score import Score
from plexus.scores.validation import pydantic_reasons

if TYPE_CHECKING:
    from plexus.scores.run import Run

JINJA_TEXT = re.compile(r"{{\s*text\s*}}")


class LlmConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    name: str | None = None
    model: str
    valid_classes: list[str] = Field(min_length=2)
    system_message: str = "You are a careful classifier. Answer with one of the allowed classes."
    user_message: str = "{text}"
    temperature: float | None = Field(default=None, ge=0, le=2)

    @model_validator(mode="before")
    @classmethod
    def _model_name_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "model" not in data and "model_name" in data:
            data = {**data, "model": data["model_name"]}
        return data

    @field_validator("valid_classes")
    @classmethod
    def _distinct(cls, classes: list[str]) -> list[str]:
        if len(set(classes)) != len(classes):
            raise ValueError("valid_classes has duplicates")
        return [str(c) for c in classes]

    @field_validator("user_message")
    @classmethod
    def _has_text(cls, template: str) -> str:
        if "{text}" not in template and not JINJA_TEXT.search(template):
            raise ValueError("user_message must contain {text}, where the item's text goes")
        return template


def response_schema(classes: list[str]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "classification",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "value": {"type": "string", "enum": classes},
                    "explanation": {"type": "string"},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                },
                "required": ["value", "explanation", "confidence"],
                "additionalProperties": False,
            },
        },
    }


def parse_reply(content: str | None, classes: list[str]) -> tuple[str, str, float | None]:
    """(value, explanation, confidence) from the model's JSON, or ModelReplyError."""
    if not content:
        raise ModelReplyError("the model returned an empty reply")
    try:
        data = json.loads(content)
    except json.JSONDecodeError:
        raise ModelReplyError(f"the model's reply is not JSON: {content[:200]!r}") from None
    if not isinstance(data, dict) or "value" not in data:
        raise ModelReplyError(f"the model's reply has no 'value': {content[:200]!r}")
    value = str(data["value"])
    if value not in classes:
        raise ModelReplyError(f"the model answered {value[:100]!r}, which is not one of {classes}")
    confidence = data.get("confidence")
    if not isinstance(confidence, int | float) or not 0 <= confidence <= 1:
        confidence = None
    return value, str(data.get("explanation", "")), confidence


class LLMClassifier(Score):
    kind = "LLMClassifier"

    def __init__(self, config: LlmConfig, source: str) -> None:
        self.config = config
        self.name = config.name
        self.depends_on = {}
        self.prompt = None
        if JINJA_TEXT.search(config.user_message):
            from plexus.scores.templates import Prompt

            self.prompt = Prompt(config.user_message, f"{source}: user_message")

    @classmethod
    def from_config(cls, data: dict[str, Any], source: str) -> LLMClassifier:
        try:
            return cls(LlmConfig.model_validate(data), source)
        except ValidationError as exc:
            raise ScoreConfigError(f"{source}: {pydantic_reasons(exc)}") from None

    def uses_model(self) -> bool:
        return True

    async def predict(self, score_input: Score.Input, run: Run) -> ScoreResult:
        config = self.config
        text = score_input.text
        if self.prompt is not None:
            user = self.prompt.render({"text": text, "metadata": score_input.metadata})
        else:
            user = config.user_message.replace("{text}", text)
        messages = [
            {"role": "system", "content": config.system_message},
            {"role": "user", "content": user},
        ]
        choice = ModelChoice("ChatOpenAI", config.model, config.temperature, max_tokens=None)
        record = NodeRecord(
            config.name or "score", self.kind, provider="ChatOpenAI", model=config.model
        )
        completion = await run.models.complete(
            choice, messages, response_format=response_schema(config.valid_classes)
        )
        record.calls.append(completion)
        value, explanation, confidence = parse_reply(completion.text, config.valid_classes)
        record.model = completion.model
        return ScoreResult(
            value=value,
            explanation=explanation,
            confidence=confidence,
            cost=record.cost(),
            trace={
                "score": self.kind,
                "classifier": self.kind,
                "model": config.model,
                "completion_id": completion.id,
                "finish_reason": completion.finish_reason,
                "seconds": round(completion.seconds, 3),
                "reply": completion.text,
            },
        )
