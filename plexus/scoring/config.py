"""A score's configuration: the YAML of its champion ScoreVersion, parsed and checked.

Supported classifiers (the `class` key):

    class: LLMClassifier          # an OpenAI-compatible chat model, structured output
    model: gpt-4o-mini
    valid_classes: [Yes, No]
    system_message: You review call transcripts.
    user_message: "Did the agent greet the caller?\\n\\n{text}"   # {text} = the item's text
    temperature: 0                # optional

    class: KeywordClassifier      # no model: first rule whose keyword occurs wins
    rules: [{value: Yes, keywords: [refund, money back]}]
    default: No

    class: RegexClassifier        # no model: first rule whose pattern matches wins
    rules: [{value: Yes, pattern: "\\bcancel(l?ed)?\\b"}]
    default: No
    ignore_case: true
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from plexus.errors import ScoreConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class LlmConfig(_Strict):
    kind: Literal["LLMClassifier"] = Field(alias="class")
    name: str | None = None
    model: str
    valid_classes: list[str] = Field(min_length=2)
    system_message: str = "You are a careful classifier. Answer with one of the allowed classes."
    user_message: str = "{text}"
    temperature: float | None = Field(default=None, ge=0, le=2)

    @model_validator(mode="before")
    @classmethod
    def _model_name_alias(cls, data: Any) -> Any:
        # Plexus score YAML often says model_name; accept both.
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
        if "{text}" not in template:
            raise ValueError("user_message must contain {text}, where the item's text goes")
        return template


class KeywordRule(_Strict):
    value: str
    keywords: list[str] = Field(min_length=1)


class KeywordConfig(_Strict):
    kind: Literal["KeywordClassifier"] = Field(alias="class")
    name: str | None = None
    rules: list[KeywordRule] = Field(min_length=1)
    default: str
    ignore_case: bool = True


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
    kind: Literal["RegexClassifier"] = Field(alias="class")
    name: str | None = None
    rules: list[RegexRule] = Field(min_length=1)
    default: str
    ignore_case: bool = False


ScoreConfig = Annotated[LlmConfig | KeywordConfig | RegexConfig, Field(discriminator="kind")]


class _Envelope(BaseModel):
    config: ScoreConfig


def parse_score_config(text: str | None, *, source: str = "score version") -> ScoreConfig:
    """Parse and check a score's YAML; raise ScoreConfigError with a readable reason."""
    if not text or not text.strip():
        raise ScoreConfigError(f"{source}: configuration is empty")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScoreConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise ScoreConfigError(f"{source}: invalid YAML: nested too deeply") from None
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        # PyYAML lets Python's own errors out of some values: a date such as 2023-02-29, an
        # integer past Python's 4300-digit limit, a tag on a value it cannot build (!!bool x).
        value_error = f"{type(exc).__name__}: {str(exc)[:200]}"
        raise ScoreConfigError(f"{source}: invalid YAML value ({value_error})") from None
    if not isinstance(data, dict):
        raise ScoreConfigError(
            f"{source}: configuration must be a YAML mapping, not {type(data).__name__}"
        )
    kind = data.get("class")
    if kind not in ("LLMClassifier", "KeywordClassifier", "RegexClassifier"):
        raise ScoreConfigError(
            f"{source}: unknown classifier class {kind!r}; "
            "expected LLMClassifier, KeywordClassifier or RegexClassifier"
        )
    try:
        return _Envelope.model_validate({"config": data}).config
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][2:]) or 'configuration'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ScoreConfigError(f"{source}: {reasons}") from None
