"""`TactusScore`: Lua in the Tactus DSL, run by the real `tactus` package (Plexus's standard).

    class: TactusScore
    valid_classes: ['Yes', 'No']
    code: |-
      default_model "openai/gpt-5.4-nano"
      ClassifyProcedure {
        classes = {"Yes", "No"},
        system_message = [[You review sales calls.]],
        user_message = [[Did the agent greet the caller? <transcript>{{ text }}</transcript>]]
      }

As Plexus's `plexus/scores/TactusScore.py`: `code:` (or the deprecated `tactus_code:`,
used only when `code:` is absent); the procedure's context is `text`, `metadata` (with
`metadata.metadata`, `schools` and `other_data` parsed when they are JSON strings) and,
when the score depends on others, `results` (their value, explanation and confidence);
a fresh runtime per prediction; value, explanation and confidence from the procedure's
output, confidence labels mapped as Plexus maps them; a value outside `valid_classes` is
kept and logged. Model settings in the YAML (`model_name`, `temperature`...) are accepted
and ignored, as in Plexus: the model is the Lua code's `default_model` or its own `model`.

Where this worker differs (README, "TactusScore"): a procedure that fails fails the job
with tactus's own message (Plexus stores the value "ERROR" and the text "must return
'value' in output"); its model calls' cost is in the job's errorDetails; each agent runs
on its own model (Plexus: the first model of the process); the cost counts `llm_calls`.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from plexus.core.cost import Cost
from plexus.core.errors import JobFailure, ScoreConfigError
from plexus.scores.result import ScoreResult
from plexus.scores.Score import Score
from plexus.scores.validation import pydantic_reasons

if TYPE_CHECKING:
    from plexus.scores.run import Run, ScoringSettings
    from plexus.scores.tactus_runtime import Credentials

log = logging.getLogger(__name__)

# Metadata fields Plexus stores as JSON strings, parsed so Lua sees tables.
JSON_FIELDS = ("schools", "other_data")
# Plexus's reading of a confidence label (TactusScore._convert_confidence).
CONFIDENCE_LABELS = {
    "high": 0.9,
    "medium": 0.6,
    "med": 0.6,
    "low": 0.3,
    "very high": 0.95,
    "very low": 0.1,
}


class TactusProcedureError(JobFailure, RuntimeError):
    """The procedure failed; `cost` is what its model calls cost before it did."""

    def __init__(self, message: str, cost: Cost) -> None:
        super().__init__(message)
        self.cost = cost


class TactusConfig(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    name: str | None = None
    code: str
    valid_classes: list[str] | None = None
    # Accepted and unused, as in Plexus.
    output: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _tactus_code(cls, data: Any) -> Any:
        # Plexus: `tactus_code` stands in for `code` only when `code` is absent.
        if isinstance(data, dict) and "tactus_code" in data:
            data = dict(data)
            fallback = data.pop("tactus_code")
            data.setdefault("code", fallback)
        return data


class TactusScore(Score):
    kind = "TactusScore"

    def __init__(self, config: TactusConfig, depends_on: dict[str, Any]) -> None:
        self.config = config
        self.name = config.name
        self.depends_on = depends_on

    @classmethod
    def from_config(cls, data: dict[str, Any], source: str) -> TactusScore:
        from plexus.scores.dependencies import parse_depends_on

        try:
            config = TactusConfig.model_validate(data)
        except ValidationError as exc:
            raise ScoreConfigError(
                f"{source}: invalid TactusScore: {pydantic_reasons(exc)}"
            ) from None
        if not config.code.strip():
            raise ScoreConfigError(f"{source}: TactusScore code is empty")
        return cls(config, parse_depends_on(data.get("depends_on"), source))

    def uses_model(self) -> bool:
        # Any line of the Lua may call a model (Classify, Agent, ClassifyProcedure).
        return True

    async def predict(self, score_input: Score.Input, run: Run) -> ScoreResult:
        from plexus.scores.tactus_runtime import run_procedure_in_thread

        context: dict[str, Any] = {
            "text": score_input.text,
            "metadata": parse_metadata(score_input.metadata or {}),
        }
        results = dependency_results(self.depends_on, run.results)
        if results:  # as Plexus: no `results` key when there are none
            context["results"] = results
        procedure_id = self.name or "tactus_score"
        run.progress(f"TactusScore {procedure_id!r}: running the procedure")
        try:
            done = await run_procedure_in_thread(
                self.config.code, context, procedure_id, credentials(run.settings)
            )
        except JobFailure:
            raise
        except Exception as exc:
            raise TactusProcedureError(
                f"TactusScore {procedure_id!r}: {type(exc).__name__}: {exc}", Cost()
            ) from exc
        cost = cost_of(done.cost_events)
        result = done.result
        if not result.get("success", True):
            raise TactusProcedureError(
                f"TactusScore {procedure_id!r}: {result.get('error') or 'the procedure failed'}",
                cost,
            )
        output = result.get("result", result)
        if isinstance(output, dict):
            value = output.get("value")
            explanation = output.get("explanation")
            confidence = output.get("confidence")
        else:
            # Plexus stores str() of anything else: a procedure that returns nothing scores
            # the value "None", and users evaluating with Plexus see that answer.
            value, explanation, confidence = str(output), None, None
        if value is None:
            raise TactusProcedureError(
                f"TactusScore {procedure_id!r}: the procedure returned no 'value' "
                f"(its output: {_short(output)})",
                cost,
            )
        value = str(value)
        classes = self.config.valid_classes
        if classes and value not in classes:
            # Plexus keeps the value and logs it.
            log.warning("TactusScore %r returned %r, not one of %s", procedure_id, value, classes)
        return ScoreResult(
            value=value,
            explanation=None if explanation is None else str(explanation),
            confidence=convert_confidence(confidence),
            cost=cost,
            trace={"tactus": trace_of(result, done.cost_events)},
        )


def parse_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Plexus's parsing: `metadata.metadata` given as a JSON string becomes a mapping, and
    so do `schools` and `other_data` at the top; what does not parse stays as it was."""
    if not metadata:
        return {}
    parsed = dict(metadata)
    inner = metadata.get("metadata")
    if isinstance(inner, str):
        try:
            parsed["metadata"] = json.loads(inner)
        except json.JSONDecodeError as exc:
            log.warning("metadata.metadata is not JSON (%s); kept as text", exc)
    elif isinstance(inner, dict):
        parsed["metadata"] = dict(inner)
    for name in JSON_FIELDS:
        if isinstance(parsed.get(name), str):
            try:
                parsed[name] = json.loads(parsed[name])
            except json.JSONDecodeError as exc:
                log.warning("metadata %s is not JSON (%s); kept as text", name, exc)
    return parsed


def dependency_results(depends_on: dict[str, Any], results: dict[str, Any]) -> list[dict[str, Any]]:
    """The scores this one depends on, in `depends_on`'s order, as Plexus hands them to
    Lua: value, explanation and confidence (no names)."""
    return [
        {
            "value": getattr(results[name], "value", None),
            "explanation": getattr(results[name], "explanation", None),
            "confidence": getattr(results[name], "confidence", None),
        }
        for name in depends_on
        if name in results
    ]


def convert_confidence(confidence: Any) -> float | None:
    """Plexus's mapping: a number (or numeric text) clamped to 0..1, a label by
    CONFIDENCE_LABELS, anything else None."""
    if confidence is None or isinstance(confidence, bool):
        return None
    if isinstance(confidence, int | float):
        return max(0.0, min(1.0, float(confidence)))
    if isinstance(confidence, str):
        try:
            return max(0.0, min(1.0, float(confidence)))
        except ValueError:
            pass
        label = CONFIDENCE_LABELS.get(confidence.lower().strip())
        if label is None:
            log.warning("confidence %r is neither a number nor a known label", confidence)
        return label
    return None


def cost_of(events: list[Any]) -> Cost:
    """One `api_call` component per model call, priced as tactus priced it (litellm's
    packaged table), in this worker's cost format."""
    total = Cost()
    for call in events:
        model = getattr(call, "model", None)
        provider = getattr(call, "provider", None)
        if not provider and isinstance(model, str) and "/" in model:
            provider = model.split("/", 1)[0]
        usd = Decimal(str(getattr(call, "total_cost", 0) or 0))
        input_cost = Decimal(str(getattr(call, "prompt_cost", 0) or 0))
        one = Cost.api_call(
            provider=str(provider or "tactus"),
            model=model,
            node=str(getattr(call, "agent_name", None) or "tactus"),
            prompt_tokens=int(getattr(call, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(call, "completion_tokens", 0) or 0),
            cached_tokens=int(getattr(call, "cache_tokens", 0) or 0),
            input_cost=min(input_cost, usd),
            output_cost=usd - min(input_cost, usd),
        )
        total = total + one
    return total


def trace_of(result: dict[str, Any], events: list[Any]) -> dict[str, Any]:
    """What the trace keeps: the procedure's output and each call's model and tokens."""
    return {
        "output": _jsonable(result.get("result")),
        "calls": [
            {
                "agent": getattr(call, "agent_name", None),
                "model": getattr(call, "model", None),
                "prompt_tokens": getattr(call, "prompt_tokens", 0),
                "completion_tokens": getattr(call, "completion_tokens", 0),
                "retries": getattr(call, "retry_count", 0),
            }
            for call in events
        ],
    }


def credentials(settings: ScoringSettings) -> Credentials:
    """The worker's model settings by provider prefix, handed to each LM tactus makes."""
    from plexus.scores.tactus_runtime import Credentials

    openai: dict[str, str] = {}
    if settings.openai_api_key is not None:
        openai["api_key"] = settings.openai_api_key.get()
    if settings.openai_base_url:
        openai["api_base"] = settings.openai_base_url
    azure: dict[str, str] = {}
    if settings.azure_api_key is not None:
        azure["api_key"] = settings.azure_api_key.get()
    if settings.azure_api_base:
        azure["api_base"] = settings.azure_api_base
    if settings.azure_api_version:
        azure["api_version"] = settings.azure_api_version
    return Credentials(
        {"openai": openai, "azure": azure},
        timeout_seconds=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
    )


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _short(value: Any) -> str:
    text = json.dumps(_jsonable(value))
    return text if len(text) <= 200 else text[:200] + "..."
