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

from plexus.cost import Cost
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


def price_usd(model: str, input_tokens: int, output_tokens: int) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD from genai-prices' bundled price table; None for an unknown model."""
    from genai_prices import Usage, calc_price

    try:
        price = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model,
            provider_id="openai",
        )
    except LookupError:
        return None
    return price.input_price, price.output_price


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
    model = completion.model or config.model
    prices = price_usd(model, input_tokens, output_tokens)
    details = usage.prompt_tokens_details if usage else None
    return Classification(
        value=value,
        explanation=explanation,
        confidence=confidence,
        cost=Cost.api_call(
            provider="openai",
            model=model,
            node=config.name or "score",
            prompt_tokens=input_tokens,
            completion_tokens=output_tokens,
            cached_tokens=(details.cached_tokens or 0) if details else 0,
            input_cost=prices[0] if prices else None,
            output_cost=prices[1] if prices else None,
        ),
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
