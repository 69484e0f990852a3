"""The LLM classifier: one chat completion with structured output, checked, and priced.

The reply must be JSON matching a schema whose `value` is an enum of the score's classes.
A reply outside the classes is an error (`ModelReplyError`), never a guess. Throttling
(429) and timeouts are retried by the openai client itself (`max_retries`, honouring
`retry-after`); what is left after that surfaces as `ModelCallError`.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from plexus.errors import ModelCallError, ModelReplyError
from plexus.scoring.config import LlmConfig
from plexus.scoring.result import Classification
from plexus.settings import Settings, require

if TYPE_CHECKING:
    from openai import AsyncOpenAI


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


def make_client(settings: Settings) -> AsyncOpenAI:
    from openai import AsyncOpenAI

    key = require(settings.openai_api_key, "OPENAI_API_KEY", "this score uses an LLM classifier")
    return AsyncOpenAI(
        api_key=key.get(),
        base_url=settings.openai_base_url,
        timeout=settings.model_timeout_seconds,
        max_retries=settings.model_max_retries,
    )


def price_usd(model: str, input_tokens: int, output_tokens: int) -> Decimal | None:
    """USD cost from genai-prices' bundled price table; None for a model it does not know."""
    from genai_prices import Usage, calc_price

    try:
        price = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model,
            provider_id="openai",
        )
    except LookupError:
        return None
    return price.total_price


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


async def classify_llm(client: AsyncOpenAI, config: LlmConfig, text: str) -> Classification:
    import openai

    messages = [
        {"role": "system", "content": config.system_message},
        {"role": "user", "content": config.user_message.replace("{text}", text)},
    ]
    extra: dict[str, Any] = {}
    if config.temperature is not None:
        extra["temperature"] = config.temperature
    started = time.perf_counter()
    try:
        completion = await client.chat.completions.create(
            model=config.model,
            messages=messages,  # type: ignore[arg-type]
            response_format=response_schema(config.valid_classes),  # type: ignore[arg-type]
            **extra,
        )
    except openai.APITimeoutError:
        raise ModelCallError(
            f"model {config.model} timed out after {client.timeout}s ({client.max_retries} retries)"
        ) from None
    except openai.RateLimitError as exc:
        raise ModelCallError(
            f"model {config.model} still throttled (429) after {client.max_retries} retries: "
            f"{_message(exc)}"
        ) from None
    except openai.APIStatusError as exc:
        raise ModelCallError(
            f"model {config.model} call failed with HTTP {exc.status_code}: {_message(exc)}"
        ) from None
    except openai.APIConnectionError as exc:
        raise ModelCallError(f"model {config.model} unreachable: {exc}") from None
    elapsed = time.perf_counter() - started
    choice = completion.choices[0]
    value, explanation, confidence = parse_reply(choice.message.content, config.valid_classes)
    usage = completion.usage
    input_tokens = usage.prompt_tokens if usage else 0
    output_tokens = usage.completion_tokens if usage else 0
    cost = price_usd(completion.model or config.model, input_tokens, output_tokens)
    return Classification(
        value=value,
        explanation=explanation,
        confidence=confidence,
        usage={
            "model": completion.model or config.model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
            "cost_usd": str(cost) if cost is not None else None,
            "llm_calls": 1,
        },
        trace={
            "classifier": "LLMClassifier",
            "model": config.model,
            "completion_id": completion.id,
            "finish_reason": choice.finish_reason,
            "seconds": round(elapsed, 3),
            "reply": choice.message.content,
        },
    )


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(exc)[:300]
