"""Settings from the environment, checked once at start.

A missing or malformed value raises `SettingsError` naming the variable. Secret values are
wrapped in `Secret`, whose repr and str never show the value, so a settings object can be
logged or put in an error without leaking a key.

This module is on the cold-start path of every invocation, so it imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class Secret:
    """A string that does not show itself in repr, str, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    api_url: str
    api_key: Secret
    account_key: str | None
    bucket: str | None
    openai_api_key: Secret | None
    openai_base_url: str | None
    postgres_uri: Secret | None
    fetch_schema: bool = False
    region: str | None = None
    concurrency: int = 4
    # A job left IN_PROGRESS longer than this was abandoned (Lambda's limit is 900 s).
    lease_seconds: float = 960.0
    max_attempts: int = 3
    # No new claim when less than this much of the invocation is left.
    min_remaining_seconds: float = 30.0
    api_timeout_seconds: float = 30.0
    model_timeout_seconds: float = 120.0
    model_max_retries: int = 3
    content_max_bytes: int = 5_000_000
    content_timeout_seconds: float = 30.0
    # The real job contract (queues, drain window, SQS failure reporting).
    drain_window_hours: float = 24.0
    response_queue_url: str | None = None
    request_queue_url: str | None = None
    sqs_failure_mode: str = "raise"
    sqs_poll_wait_seconds: int = 10
    # Scores: Azure OpenAI, item attachments, content hosts allowed despite the SSRF rule.
    azure_api_key: Secret | None = None
    azure_api_base: str | None = None
    azure_api_version: str | None = None
    datasources_bucket: str | None = None
    content_allowed_hosts: tuple[str, ...] = ()
    # A job's scoring (parse, render, classify) runs in a worker process killed past this;
    # below Lambda's 900 s ceiling and the default lease.
    score_timeout_seconds: float = 300.0
    # A rendered prompt longer than this is refused before any model call.
    max_prompt_chars: int = 1_000_000

    def secrets(self) -> list[str]:
        """Every secret value, for redaction filters."""
        values = [self.api_key, self.openai_api_key, self.postgres_uri, self.azure_api_key]
        return [s.get() for s in values if s is not None and s.get()]


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _required(env: Mapping[str, str], name: str, hint: str = "") -> str:
    value = _get(env, name)
    if value is None:
        raise SettingsError(f"{name} is not set{': ' + hint if hint else ''}")
    return value


def _parsed(
    env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T], what: str
) -> T:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"{name} must be {what}, got {raw!r}") from None
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError(raw)
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


def _url(name: str, raw: str | None, schemes: tuple[str, ...]) -> str | None:
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.netloc:
        # Never echo the value: a URL may carry credentials.
        raise SettingsError(f"{name} must be a {' or '.join(schemes)} URL")
    return raw


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise SettingsError naming the first bad one."""
    env = os.environ if env is None else env
    api_url = _url(
        "PLEXUS_API_URL",
        _required(env, "PLEXUS_API_URL", "the Plexus GraphQL endpoint"),
        ("https", "http"),
    )
    assert api_url is not None
    api_key = Secret(_required(env, "PLEXUS_API_KEY", "the Plexus API key"))
    postgres = _url(
        "PLEXUS_POSTGRES_URI", _get(env, "PLEXUS_POSTGRES_URI"), ("postgresql", "postgres")
    )
    openai_key = _get(env, "OPENAI_API_KEY")
    return Settings(
        api_url=api_url,
        api_key=api_key,
        # ACCOUNT_KEY is the name older deployments use.
        account_key=_get(env, "PLEXUS_ACCOUNT_KEY") or _get(env, "ACCOUNT_KEY"),
        bucket=_get(env, "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME"),
        openai_api_key=Secret(openai_key) if openai_key else None,
        openai_base_url=_url("OPENAI_BASE_URL", _get(env, "OPENAI_BASE_URL"), ("https", "http")),
        postgres_uri=Secret(postgres) if postgres else None,
        fetch_schema=_parsed(
            env, "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT", False, _bool, "0 or 1 (true/false)"
        ),
        region=_get(env, "AWS_REGION") or _get(env, "AWS_DEFAULT_REGION"),
        concurrency=_parsed(env, "PLEXUS_CONCURRENCY", 4, _positive_int, "a positive integer"),
        lease_seconds=_parsed(
            env, "PLEXUS_JOB_LEASE_SECONDS", 960.0, _positive_float, "a positive number"
        ),
        max_attempts=_parsed(
            env, "PLEXUS_JOB_MAX_ATTEMPTS", 3, _positive_int, "a positive integer"
        ),
        min_remaining_seconds=_parsed(
            env, "PLEXUS_MIN_REMAINING_SECONDS", 30.0, _positive_float, "a positive number"
        ),
        api_timeout_seconds=_parsed(
            env, "PLEXUS_API_TIMEOUT_SECONDS", 30.0, _positive_float, "a positive number"
        ),
        model_timeout_seconds=_parsed(
            env, "PLEXUS_MODEL_TIMEOUT_SECONDS", 120.0, _positive_float, "a positive number"
        ),
        model_max_retries=_parsed(
            env, "PLEXUS_MODEL_MAX_RETRIES", 3, _non_negative_int, "an integer >= 0"
        ),
        content_max_bytes=_parsed(
            env, "PLEXUS_CONTENT_MAX_BYTES", 5_000_000, _positive_int, "a positive integer"
        ),
        content_timeout_seconds=_parsed(
            env, "PLEXUS_CONTENT_TIMEOUT_SECONDS", 30.0, _positive_float, "a positive number"
        ),
        score_timeout_seconds=_parsed(
            env, "PLEXUS_SCORE_TIMEOUT_SECONDS", 300.0, _positive_float, "a positive number"
        ),
        max_prompt_chars=_max_prompt_chars(env),
        **_queue_settings(env),  # type: ignore[arg-type]
        **_score_settings(env),  # type: ignore[arg-type]
    )


SQS_FAILURE_MODES = ("raise", "report")


def _failure_mode(raw: str) -> str:
    lowered = raw.lower()
    if lowered not in SQS_FAILURE_MODES:
        raise ValueError(raw)
    return lowered


def _poll_wait(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 20:  # SQS's own bounds for WaitTimeSeconds
        raise ValueError(raw)
    return value


def _queue_settings(env: Mapping[str, str]) -> dict[str, object]:
    """The settings of the real job contract, in one block."""
    return {
        "drain_window_hours": _parsed(
            env, "PLEXUS_DRAIN_WINDOW_HOURS", 24.0, _positive_float, "a positive number"
        ),
        "response_queue_url": _url(
            "PLEXUS_RESPONSE_WORKER_QUEUE_URL",
            _get(env, "PLEXUS_RESPONSE_WORKER_QUEUE_URL"),
            ("https", "http"),
        ),
        "request_queue_url": _url(
            "PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL",
            _get(env, "PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL"),
            ("https", "http"),
        ),
        "sqs_failure_mode": _parsed(
            env, "PLEXUS_SQS_FAILURE_MODE", "raise", _failure_mode, "raise or report"
        ),
        "sqs_poll_wait_seconds": _parsed(
            env, "PLEXUS_SQS_POLL_WAIT_SECONDS", 10, _poll_wait, "an integer from 0 to 20"
        ),
    }


def _score_settings(env: Mapping[str, str]) -> dict[str, object]:
    """Settings only some scores need (Azure OpenAI, attachments, allowed content hosts)."""
    azure_key = _get(env, "AZURE_API_KEY")
    hosts = _get(env, "PLEXUS_CONTENT_ALLOWED_HOSTS") or ""
    return {
        "azure_api_key": Secret(azure_key) if azure_key else None,
        "azure_api_base": _url("AZURE_API_BASE", _get(env, "AZURE_API_BASE"), ("https", "http")),
        "azure_api_version": _get(env, "AZURE_API_VERSION"),
        "datasources_bucket": _get(env, "DATASOURCES_BUCKET"),
        "content_allowed_hosts": tuple(
            h.strip().lower().strip("[]") for h in hosts.split(",") if h.strip()
        ),
    }


def load_content_limits(env: Mapping[str, str] | None = None) -> dict[str, object]:
    """fetch_text's limits and allowed hosts, for `plexus-lambda score`."""
    env = os.environ if env is None else env
    return {
        "max_bytes": _parsed(
            env, "PLEXUS_CONTENT_MAX_BYTES", 5_000_000, _positive_int, "a positive integer"
        ),
        "timeout_seconds": _parsed(
            env, "PLEXUS_CONTENT_TIMEOUT_SECONDS", 30.0, _positive_float, "a positive number"
        ),
        "allowed_hosts": _score_settings(env)["content_allowed_hosts"],
    }


def _max_prompt_chars(env: Mapping[str, str]) -> int:
    return _parsed(env, "PLEXUS_MAX_PROMPT_CHARS", 1_000_000, _positive_int, "a positive integer")


def scoring_values(env: Mapping[str, str]) -> dict[str, object]:
    """What `plexus-lambda score` needs of the worker's settings: models and buckets only."""
    openai_key = _get(env, "OPENAI_API_KEY")
    scores = _score_settings(env)
    return {
        "openai_api_key": Secret(openai_key) if openai_key else None,
        "openai_base_url": _url("OPENAI_BASE_URL", _get(env, "OPENAI_BASE_URL"), ("https", "http")),
        "azure_api_key": scores["azure_api_key"],
        "azure_api_base": scores["azure_api_base"],
        "azure_api_version": scores["azure_api_version"],
        "model_timeout_seconds": _parsed(
            env, "PLEXUS_MODEL_TIMEOUT_SECONDS", 120.0, _positive_float, "a positive number"
        ),
        "model_max_retries": _parsed(
            env, "PLEXUS_MODEL_MAX_RETRIES", 3, _non_negative_int, "an integer >= 0"
        ),
        "max_prompt_chars": _max_prompt_chars(env),
        "region": _get(env, "AWS_REGION") or _get(env, "AWS_DEFAULT_REGION"),
        "datasources_bucket": scores["datasources_bucket"],
        "attachments_bucket": _get(env, "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME"),
    }


def require(value: T | None, name: str, why: str) -> T:
    """For settings only some paths need: fail on that path, naming the variable."""
    if value is None:
        raise SettingsError(f"{name} is not set: {why}")
    return value
