"""Chat models by Plexus's `model_provider` names, each through its vendor's own client.

- `ChatOpenAI`: openai's AsyncOpenAI (`OPENAI_API_KEY`, `OPENAI_BASE_URL`);
- `AzureChatOpenAI`: openai's AsyncAzureOpenAI; `model_name` is the deployment
  (`AZURE_API_KEY`, `AZURE_API_BASE`, `AZURE_API_VERSION`, Plexus's own names);
- `BedrockChat`: boto3's bedrock-runtime in `model_region` (default us-east-1, as Plexus):
  Anthropic models through InvokeModel with the Messages body Plexus's ChatBedrock sends
  (checked against the real engine by the parity harness), other models through Converse.

Throttling and timeouts are retried by each client (`PLEXUS_MODEL_MAX_RETRIES`); what is
left surfaces as `ModelCallError` naming the model. Every call's tokens are priced from
genai-prices' table; a model it does not know costs 0, as in Plexus.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from plexus.core.errors import JobError, ModelCallError, ScoreConfigError
from plexus.core.settings import SettingsError
from plexus.scores.scoring_settings import ScoringSettings

log = logging.getLogger(__name__)

PROVIDERS = ("ChatOpenAI", "AzureChatOpenAI", "BedrockChat")
# Real Plexus providers this worker does not ship a client for.
UNAVAILABLE = {
    "ChatVertexAI": "Google Vertex AI needs langchain-google-vertexai, which this worker does not ship",
    "ChatOllama": "Ollama runs beside a workstation, not a Lambda function",
}
# The provider names Plexus's cost components carry (LangGraphScore._normalize_provider).
COST_PROVIDER = {
    "ChatOpenAI": "openai",
    "AzureChatOpenAI": "azure_openai",
    "BedrockChat": "bedrock",
}
PRICE_PROVIDER = {"ChatOpenAI": "openai", "AzureChatOpenAI": "azure", "BedrockChat": "aws"}


def check_provider(provider: Any, where: str) -> str:
    if not isinstance(provider, str):
        raise ScoreConfigError(f"{where}: model_provider must be one of {', '.join(PROVIDERS)}")
    if provider in PROVIDERS:
        return str(provider)
    if provider in UNAVAILABLE:
        raise ScoreConfigError(
            f"{where}: model_provider {provider} is not available: {UNAVAILABLE[provider]}; "
            f"use one of {', '.join(PROVIDERS)}"
        )
    raise ScoreConfigError(
        f"{where}: unknown model_provider {str(provider)[:60]!r}; use one of {', '.join(PROVIDERS)}"
    )


@dataclass(frozen=True)
class ModelChoice:
    provider: str
    name: str
    temperature: float | None = 0.0
    max_tokens: int | None = 500
    region: str | None = None
    reasoning_effort: str | None = None
    # Plexus's LangChainUser sends top_p 0.03 to ChatOpenAI (not to Azure) unless the node sets it.
    top_p: float | None = None
    verbosity: str | None = None
    # ChatOpenAI models whose names start with gpt-5 or o go through the Responses API in
    # Plexus (LangChainUser.py, use_responses_api); Plexus's node classes set this.
    responses_api: bool = False


REASONING_EFFORTS = ("low", "medium", "high", "auto")
VERBOSITIES = ("low", "medium", "high")


def plexus_responses_api(provider: str, name: str) -> bool:
    """Plexus's rule: ChatOpenAI models named gpt-5... or o... use the Responses API."""
    lowered = name.lower()
    return provider == "ChatOpenAI" and lowered.startswith(("gpt-5", "o"))


def _effort(value: str | None) -> str:
    effort = (value or "low").lower()
    return effort if effort in REASONING_EFFORTS else "low"


def _verbosity(value: str | None) -> str:
    verbosity = (value or "medium").lower()
    return verbosity if verbosity in VERBOSITIES else "medium"


def openai_request(choice: ModelChoice) -> dict[str, Any]:
    """The body fields besides the messages, as langchain-openai 0.3.35 sends them for Plexus.

    gpt-5 models (any name containing "gpt-5") get no temperature or top_p; max_tokens goes
    as max_completion_tokens (chat) or max_output_tokens (Responses API); the Responses API
    carries the reasoning effort and verbosity, each falling back as Plexus's does.
    """
    gpt5 = "gpt-5" in choice.name.lower()
    body: dict[str, Any] = {"stream": False}
    if choice.responses_api:
        if choice.max_tokens:
            body["max_output_tokens"] = choice.max_tokens
        body["reasoning"] = {"effort": _effort(choice.reasoning_effort)}
        body["text"] = {"verbosity": _verbosity(choice.verbosity)}
    elif choice.max_tokens:
        body["max_completion_tokens"] = choice.max_tokens
    if not gpt5:
        if choice.top_p is not None and choice.provider == "ChatOpenAI":
            body["top_p"] = choice.top_p
        if choice.temperature is not None:
            body["temperature"] = choice.temperature
    return body


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    model: str
    seconds: float
    id: str | None = None
    finish_reason: str | None = None


def price_usd(
    model: str, input_tokens: int, output_tokens: int, provider: str = "ChatOpenAI"
) -> tuple[Decimal, Decimal] | None:
    """(input, output) USD from genai-prices' bundled table; None for an unknown model."""
    from genai_prices import Usage, calc_price

    try:
        price = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model,
            provider_id=PRICE_PROVIDER.get(provider, "openai"),
        )
    except LookupError:
        return None
    return price.input_price, price.output_price


def _http_client() -> Any:
    """openai's client on aiohttp (the SDK's DefaultAioHttpClient, its own defaults):
    httpcore's pool, its default, walks every open connection on each request, so a score
    process with 64 calls in flight spent a third of its CPU there (py-spy, 2026-12-07);
    aiohttp's connector does not. CA bundle and proxies as httpx reads them."""
    from openai import DefaultAioHttpClient

    return DefaultAioHttpClient()


class Models:
    """The clients of one worker process, made on first use and reused."""

    def __init__(self, settings: ScoringSettings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}

    async def close(self) -> None:
        for name, client in self._clients.items():
            if not name.startswith("BedrockChat"):
                await client.close()
        self._clients.clear()

    async def complete(
        self, choice: ModelChoice, messages: list[dict[str, str]], **extra: Any
    ) -> Completion:
        chars = sum(len(m.get("content") or "") for m in messages)
        if chars > self.settings.max_prompt_chars:
            # A template can render far more than any model takes (`{{ 'x' * 10**9 }}`).
            raise JobError(
                f"the prompt to {choice.provider} {choice.name} is {chars:,} characters, more "
                f"than PLEXUS_MAX_PROMPT_CHARS={self.settings.max_prompt_chars:,}; not sent"
            )
        if choice.provider == "BedrockChat":
            return await self._bedrock(choice, messages)
        return await self._openai(choice, messages, **extra)

    # OpenAI and Azure OpenAI -------------------------------------------------------------

    def _openai_client(self, provider: str) -> Any:
        if provider in self._clients:
            return self._clients[provider]
        s = self.settings
        if provider == "AzureChatOpenAI":
            from openai import AsyncAzureOpenAI

            why = "this score's model_provider is AzureChatOpenAI"
            if s.azure_api_key is None:
                raise SettingsError(f"AZURE_API_KEY is not set: {why}")
            if not s.azure_api_base:
                raise SettingsError(f"AZURE_API_BASE is not set: {why}")
            if not s.azure_api_version:
                raise SettingsError(f"AZURE_API_VERSION is not set: {why}")
            client: Any = AsyncAzureOpenAI(
                api_key=s.azure_api_key.get(),
                azure_endpoint=s.azure_api_base,
                api_version=s.azure_api_version,
                timeout=s.model_timeout_seconds,
                max_retries=s.model_max_retries,
                http_client=_http_client(),
            )
        else:
            from openai import AsyncOpenAI

            if s.openai_api_key is None:
                raise SettingsError("OPENAI_API_KEY is not set: this score calls an OpenAI model")
            client = AsyncOpenAI(
                api_key=s.openai_api_key.get(),
                base_url=s.openai_base_url,
                timeout=s.model_timeout_seconds,
                max_retries=s.model_max_retries,
                http_client=_http_client(),
            )
        self._clients[provider] = client
        return client

    async def _openai(
        self, choice: ModelChoice, messages: list[dict[str, str]], **extra: Any
    ) -> Completion:
        import openai

        client = self._openai_client(choice.provider)
        kwargs: dict[str, Any] = {**openai_request(choice), **extra}
        started = time.perf_counter()
        name = choice.name
        try:
            if choice.responses_api:
                return _from_response(
                    await client.responses.create(model=name, input=messages, **kwargs),
                    name,
                    started,
                )
            completion = await client.chat.completions.create(
                model=name,
                messages=messages,
                **kwargs,
            )
        except openai.APITimeoutError:
            raise ModelCallError(
                f"model {name} timed out after {client.timeout}s ({client.max_retries} retries)"
            ) from None
        except openai.RateLimitError as exc:
            raise ModelCallError(
                f"model {name} still throttled (429) after {client.max_retries} retries: "
                f"{_message(exc)}"
            ) from None
        except openai.APIStatusError as exc:
            raise ModelCallError(
                f"model {name} call failed with HTTP {exc.status_code}: {_message(exc)}"
            ) from None
        except openai.APIConnectionError as exc:
            raise ModelCallError(f"model {name} unreachable: {exc}") from None
        choice0 = completion.choices[0] if completion.choices else None
        usage = completion.usage
        details = usage.prompt_tokens_details if usage else None
        return Completion(
            text=(choice0.message.content or "") if choice0 else "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            cached_tokens=(details.cached_tokens or 0) if details else 0,
            model=completion.model or name,
            seconds=time.perf_counter() - started,
            id=completion.id,
            finish_reason=choice0.finish_reason if choice0 else None,
        )

    # Bedrock -------------------------------------------------------------------------------

    def _bedrock_client(self, region: str) -> Any:
        key = f"BedrockChat:{region}"
        if key not in self._clients:
            import boto3
            from botocore.config import Config

            self._clients[key] = boto3.client(
                "bedrock-runtime",
                region_name=region,
                config=Config(
                    read_timeout=self.settings.model_timeout_seconds,
                    connect_timeout=min(self.settings.model_timeout_seconds, 10),
                    retries={
                        "max_attempts": self.settings.model_max_retries + 1,
                        "mode": "standard",
                    },
                ),
            )
        return self._clients[key]

    async def _bedrock_anthropic(
        self, client: Any, region: str, choice: ModelChoice, messages: list[dict[str, str]]
    ) -> Completion:
        """An Anthropic model through InvokeModel, with the body Plexus's ChatBedrock sends:
        the Messages API (`anthropic_version`, `messages`, `system`, `max_tokens`,
        `temperature`)."""
        from botocore.exceptions import BotoCoreError, ClientError

        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict[str, Any] = {
            "anthropic_version": "bedrock-2023-05-31",
            "messages": [
                {
                    "role": "assistant" if m["role"] == "assistant" else "user",
                    "content": m["content"],
                }
                for m in messages
                if m["role"] != "system"
            ],
        }
        if system:
            body["system"] = system
        if choice.max_tokens:
            body["max_tokens"] = choice.max_tokens
        if choice.temperature is not None:
            body["temperature"] = choice.temperature
        started = time.perf_counter()
        try:
            response = await asyncio.to_thread(
                client.invoke_model,
                modelId=choice.name,
                body=json.dumps(body),
                contentType="application/json",
                accept="application/json",
            )
            answer = json.loads(response["body"].read())
        except (ClientError, BotoCoreError) as exc:
            raise _bedrock_error(choice.name, region, exc) from None
        parts = answer.get("content") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict))
        usage = answer.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("input_tokens") or 0),
            completion_tokens=int(usage.get("output_tokens") or 0),
            cached_tokens=int(usage.get("cache_read_input_tokens") or 0),
            model=choice.name,
            seconds=time.perf_counter() - started,
            id=answer.get("id"),
            finish_reason=answer.get("stop_reason"),
        )

    async def _bedrock(self, choice: ModelChoice, messages: list[dict[str, str]]) -> Completion:
        from botocore.exceptions import BotoCoreError, ClientError

        region = choice.region or "us-east-1"
        client = self._bedrock_client(region)
        if "anthropic" in choice.name:
            return await self._bedrock_anthropic(client, region, choice, messages)
        system = [{"text": m["content"]} for m in messages if m["role"] == "system"]
        turns: list[dict[str, Any]] = []
        for m in messages:
            if m["role"] == "system":
                continue
            role = "assistant" if m["role"] == "assistant" else "user"
            if turns and turns[-1]["role"] == role:
                # Converse wants the roles to alternate; join consecutive turns of one role.
                turns[-1]["content"].append({"text": m["content"]})
            else:
                turns.append({"role": role, "content": [{"text": m["content"]}]})
        inference: dict[str, Any] = {}
        if choice.max_tokens:
            inference["maxTokens"] = choice.max_tokens
        if choice.temperature is not None:
            inference["temperature"] = choice.temperature
        request: dict[str, Any] = {"modelId": choice.name, "messages": turns}
        if system:
            request["system"] = system
        if inference:
            request["inferenceConfig"] = inference
        started = time.perf_counter()
        try:
            response = await asyncio.to_thread(client.converse, **request)
        except (ClientError, BotoCoreError) as exc:
            raise _bedrock_error(choice.name, region, exc) from None
        content = ((response.get("output") or {}).get("message") or {}).get("content") or []
        text = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        usage = response.get("usage") or {}
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("inputTokens") or 0),
            completion_tokens=int(usage.get("outputTokens") or 0),
            cached_tokens=int(usage.get("cacheReadInputTokens") or 0),
            model=choice.name,
            seconds=time.perf_counter() - started,
            id=(response.get("ResponseMetadata") or {}).get("RequestId"),
            finish_reason=response.get("stopReason"),
        )


def _from_response(response: Any, name: str, started: float) -> Completion:
    """A Responses API answer as a Completion (its output text, usage and id)."""
    usage = response.usage
    details = usage.input_tokens_details if usage else None
    return Completion(
        text=response.output_text or "",
        prompt_tokens=usage.input_tokens if usage else 0,
        completion_tokens=usage.output_tokens if usage else 0,
        cached_tokens=(details.cached_tokens or 0) if details else 0,
        model=response.model or name,
        seconds=time.perf_counter() - started,
        id=response.id,
        finish_reason=response.status,
    )


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
    return str(exc)[:300]


def _bedrock_error(model: str, region: str | None, exc: Exception) -> ModelCallError:
    """A Bedrock call that failed past botocore's retries, named by model and region."""
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return ModelCallError(
            f"Bedrock model {model} ({region}) failed: "
            f"{error.get('Code', 'error')}: {str(error.get('Message', ''))[:300]}"
        )
    return ModelCallError(f"Bedrock model {model} ({region}) unreachable: {exc}")
