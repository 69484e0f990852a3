"""Settings from the environment, checked once at start, each declared once.

Every setting is one field of `Settings` made by `setting(...)`: its variable, parser,
default, whether it is a secret, and the README's description. `load_settings`, the list
of secret values for redaction, the engine's `ScoringSettings` and README's configuration
table (checked by tests/worker/test_settings.py) all come from those declarations, so a new
setting is one field here and one line in README's table.

A missing or malformed value raises `SettingsError` naming the variable and never echoing
a secret. Secret values are wrapped in `Secret`, whose repr and str never show the value.

This module is on the cold-start path of every invocation, so it imports nothing heavy.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from plexus.core import sizing

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

    def parts(self) -> list[str]:
        """The value and, for a URI, its password raw and percent-decoded: what a library
        may quote back in an error (psycopg quotes the password token it cannot parse)."""
        parts = [self._value]
        try:
            password = urlsplit(self._value).password if "://" in self._value else None
        except ValueError:
            password = None
        if password:
            parts += [password, unquote(password)]
        return list(dict.fromkeys(parts))

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


# Parsers: each takes the stripped value and raises ValueError with what is wrong, which
# must never contain the value itself for a secret.


def _text(raw: str) -> str:
    return raw


def _number(kind: Callable[[str], T], raw: str, what: str) -> T:
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"must be {what}") from None


def _positive_int(raw: str) -> int:
    value = _number(int, raw, "a positive integer")
    if value < 1:
        raise ValueError("must be a positive integer")
    return value


def _non_negative_int(raw: str) -> int:
    value = _number(int, raw, "an integer >= 0")
    if value < 0:
        raise ValueError("must be an integer >= 0")
    return value


def _positive_float(raw: str) -> float:
    value = _number(float, raw, "a positive number")
    if not value > 0:
        raise ValueError("must be a positive number")
    return value


def _bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be 0 or 1 (true/false)")


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        parts = urlsplit(raw)
        if parts.scheme not in schemes or not parts.netloc:
            raise ValueError(f"must be a {' or '.join(schemes)} URL")
        return raw

    return parse


_http_url = _url("https", "http")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _postgres_uri(raw: str) -> Secret:
    _url("postgresql", "postgres")(raw)
    # libpq refuses such a URI with an error that quotes the token, the password included.
    if _BAD_ESCAPE.search(raw):
        raise ValueError(
            "must be a postgresql:// URI whose '%' escapes are each two hex digits "
            "(write a literal '%' in a password as %25)"
        )
    _key(raw)
    return Secret(raw)


def _key(raw: str) -> Secret:
    # A key travels in an HTTP header: httpx and the SDKs would otherwise fail with an error
    # that prints the key (Illegal header value) or a character of it (UnicodeEncodeError).
    for char in raw:
        if not char.isascii():
            raise ValueError("must be ASCII: it holds a non-ASCII character")
        if not char.isprintable() or char.isspace():
            raise ValueError("must be printable ASCII: it holds a control or space character")
    return Secret(raw)


def _failure_mode(raw: str) -> str:
    lowered = raw.lower()
    if lowered not in ("raise", "report"):
        raise ValueError("must be raise or report")
    return lowered


def _poll_wait(raw: str) -> int:
    value = _number(int, raw, "an integer from 0 to 20")
    if not 0 <= value <= 20:  # SQS's own bounds for WaitTimeSeconds
        raise ValueError("must be an integer from 0 to 20")
    return value


def _hosts(raw: str) -> tuple[str, ...]:
    return tuple(h.strip().lower().strip("[]") for h in raw.split(",") if h.strip())


def setting(
    env: str,
    parse: Callable[[str], Any],
    description: str,
    *,
    default: Any = None,
    required: str = "no",
    secret: bool = False,
    aliases: tuple[str, ...] = (),
) -> Any:
    """One setting's declaration, as a field of `Settings`.

    `required` is the README's "required" column ("yes", or when it is needed); only "yes"
    is enforced at start, the others by `require` on the path that needs the value.
    """
    metadata = {
        "env": env,
        "parse": parse,
        "description": description,
        "required": required,
        "secret": secret,
        "aliases": aliases,
    }
    if required == "yes":
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    api_url: str = setting(
        "PLEXUS_API_URL", _http_url, "the Plexus GraphQL endpoint", required="yes"
    )
    api_key: Secret = setting(
        "PLEXUS_API_KEY", _key, "sent as `x-api-key`", required="yes", secret=True
    )
    account_key: str | None = setting(
        "PLEXUS_ACCOUNT_KEY",
        _text,
        "the account whose jobs a scheduled run drains (`ACCOUNT_KEY`, the old name, still works)",
        required="for `{}` events",
        aliases=("ACCOUNT_KEY",),
    )
    bucket: str | None = setting(
        "AMPLIFY_STORAGE_SCORERESULTATTACHMENTS_BUCKET_NAME",
        _text,
        "bucket for `scoreresults/<id>/trace.json` and `log.txt`",
        required="to store results",
    )
    openai_api_key: Secret | None = setting(
        "OPENAI_API_KEY", _key, "the model's key", required="for LLM scores", secret=True
    )
    openai_base_url: str | None = setting(
        "OPENAI_BASE_URL", _http_url, "an OpenAI-compatible endpoint instead of OpenAI's"
    )
    postgres_uri: Secret | None = setting(
        "PLEXUS_POSTGRES_URI",
        _postgres_uri,
        "`postgresql://…`: keep model outputs so a retried job does not pay twice",
        secret=True,
    )
    fetch_schema: bool = setting(
        "PLEXUS_FETCH_SCHEMA_FROM_TRANSPORT",
        _bool,
        "`1` to introspect the API's schema; default `0`",
        default=False,
    )
    region: str | None = setting(
        "AWS_REGION",
        _text,
        "region for S3",
        required="set by Lambda",
        aliases=("AWS_DEFAULT_REGION",),
    )
    concurrency: int = setting(
        "PLEXUS_CONCURRENCY",
        _positive_int,
        "jobs scored at once per invocation (default 4); lowered, with one warning, to what the function's memory holds (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`)",
        default=4,
    )
    memory_mb: int | None = setting(
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        _positive_int,
        "the function's memory in MB: bounds `PLEXUS_CONCURRENCY` and, with 1 vCPU per 1,769 MB, the score processes",
        required="set by Lambda",
    )
    score_processes: int | None = setting(
        "PLEXUS_SCORE_PROCESSES",
        _positive_int,
        "processes that run the jobs' scoring, many jobs each (default: one per vCPU of the function, at most the cores)",
    )
    # Lambda's limit is 900 s, so a job IN_PROGRESS longer than the default was abandoned.
    lease_seconds: float = setting(
        "PLEXUS_JOB_LEASE_SECONDS",
        _positive_float,
        "after this long an IN_PROGRESS job counts as abandoned and may be claimed again (default 960)",
        default=960.0,
    )
    max_attempts: int = setting(
        "PLEXUS_JOB_MAX_ATTEMPTS",
        _positive_int,
        "claims of one job before it is marked FAILED (default 3)",
        default=3,
    )
    min_remaining_seconds: float = setting(
        "PLEXUS_MIN_REMAINING_SECONDS",
        _positive_float,
        "no new claim with less of the invocation left (default 30); keep it above one job's duration and below the function's timeout",
        default=30.0,
    )
    api_timeout_seconds: float = setting(
        "PLEXUS_API_TIMEOUT_SECONDS",
        _positive_float,
        "per Plexus API request (default 30)",
        default=30.0,
    )
    api_max_attempts: int = setting(
        "PLEXUS_API_MAX_ATTEMPTS",
        _positive_int,
        "tries of one Plexus API request through a transient fault (refused, reset or closed connection, timeout, 429, 5xx) before the job is given back (default 6)",
        default=6,
    )
    api_retry_seconds: float = setting(
        "PLEXUS_API_RETRY_SECONDS",
        _positive_float,
        "the first wait before a Plexus API request is retried; each later wait doubles, up to 16 times this, with up to this much jitter (default 0.25)",
        default=0.25,
    )
    model_timeout_seconds: float = setting(
        "PLEXUS_MODEL_TIMEOUT_SECONDS",
        _positive_float,
        "per model call (default 120)",
        default=120.0,
    )
    model_max_retries: int = setting(
        "PLEXUS_MODEL_MAX_RETRIES",
        _non_negative_int,
        "retries of a model call (default 3)",
        default=3,
    )
    content_max_bytes: int = setting(
        "PLEXUS_CONTENT_MAX_BYTES",
        _positive_int,
        "the most item content fetched from a URL (default 5 MB)",
        default=5_000_000,
    )
    content_timeout_seconds: float = setting(
        "PLEXUS_CONTENT_TIMEOUT_SECONDS",
        _positive_float,
        "time limit of one content fetch from a URL, redirects included (default 30 s)",
        default=30.0,
    )
    # Below Lambda's 900 s ceiling and the default lease.
    score_timeout_seconds: float = setting(
        "PLEXUS_SCORE_TIMEOUT_SECONDS",
        _positive_float,
        "a job's scoring (YAML, templates, rules, code, model calls) is stopped past this, its score process killed when its code does not yield (the other jobs there run again elsewhere); the job is FAILED naming the limit and the node (default 300; keep it below the function's timeout)",
        default=300.0,
    )
    max_prompt_chars: int = setting(
        "PLEXUS_MAX_PROMPT_CHARS",
        _positive_int,
        "a rendered prompt longer than this fails the job before any model call (default 1000000)",
        default=1_000_000,
    )
    drain_window_hours: float = setting(
        "PLEXUS_DRAIN_WINDOW_HOURS",
        _positive_float,
        "a drain looks at jobs created this many hours back, through the index `listScoringJobByAccountIdAndCreatedAt` (default 24); older PENDING jobs are left to the SQS paths or a direct invocation",
        default=24.0,
    )
    response_queue_url: str | None = setting(
        "PLEXUS_RESPONSE_WORKER_QUEUE_URL",
        _http_url,
        'SQS queue that gets `{"score_result_id": "…"}` for each finished job, as the real worker sends it',
    )
    request_queue_url: str | None = setting(
        "PLEXUS_SCORING_WORKER_REQUEST_STANDARD_QUEUE_URL",
        _http_url,
        "the request queue: when set, an empty event `{}` receives one message from it instead of draining the account",
    )
    sqs_failure_mode: str = setting(
        "PLEXUS_SQS_FAILURE_MODE",
        _failure_mode,
        "`raise` (default, the real stack: a failed record raises, SQS retries it and then dead-letters it) or `report` (answer `batchItemFailures`; needs `ReportBatchItemFailures` on the event source mapping)",
        default="raise",
    )
    sqs_poll_wait_seconds: int = setting(
        "PLEXUS_SQS_POLL_WAIT_SECONDS",
        _poll_wait,
        "long-poll wait of that one receive (0 to 20, default 10)",
        default=10,
    )
    azure_api_key: Secret | None = setting(
        "AZURE_API_KEY",
        _key,
        "Azure OpenAI's key, under the name Plexus uses",
        required="for `AzureChatOpenAI` scores",
        secret=True,
    )
    azure_api_base: str | None = setting(
        "AZURE_API_BASE",
        _http_url,
        "Azure OpenAI's endpoint",
        required="for `AzureChatOpenAI` scores",
    )
    azure_api_version: str | None = setting(
        "AZURE_API_VERSION",
        _text,
        "Azure OpenAI's API version",
        required="for `AzureChatOpenAI` scores",
    )
    datasources_bucket: str | None = setting(
        "DATASOURCES_BUCKET",
        _text,
        "bucket of item attachments under `items/` (Plexus's name)",
        required="for input sources",
    )
    content_allowed_hosts: tuple[str, ...] = setting(
        "PLEXUS_CONTENT_ALLOWED_HOSTS",
        _hosts,
        "comma-separated hosts an item's `contentUrl` may reach although they resolve to a private, loopback or link-local address",
        default=(),
    )

    def __post_init__(self) -> None:
        # Never more jobs at once than the function's memory holds (plexus/core/sizing.py).
        if self.memory_mb is not None:
            fits = sizing.jobs_that_fit(self.memory_mb, self.processes)
            if self.concurrency > fits:
                _warn_once(
                    f"PLEXUS_CONCURRENCY={self.concurrency} does not fit the function's "
                    f"{self.memory_mb} MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE) beside "
                    f"{self.processes} score process(es): {fits} jobs at once are used"
                )
                object.__setattr__(self, "concurrency", fits)

    @property
    def processes(self) -> int:
        """Score processes: PLEXUS_SCORE_PROCESSES, else one per vCPU of the function."""
        return sizing.score_processes(self.memory_mb, self.score_processes)

    def secrets(self) -> list[str]:
        """Every secret value and its parts, for redaction filters."""
        values: list[str] = []
        for f in SETTINGS:
            value = getattr(self, f.name)
            if f.metadata["secret"] and isinstance(value, Secret):
                values += value.parts()
        return list(dict.fromkeys(v for v in values if v))


SETTINGS: tuple[dataclasses.Field[Any], ...] = dataclasses.fields(Settings)
_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """One warning a process for each lowered figure (settings load at every invocation)."""
    if message not in _warned:
        _warned.add(message)
        logging.getLogger(__name__).warning(message)


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def _read(env: Mapping[str, str], f: dataclasses.Field[Any]) -> Any:
    meta = f.metadata
    name = meta["env"]
    raw = next((v for v in (_get(env, n) for n in (name, *meta["aliases"])) if v is not None), None)
    if raw is None:
        if meta["required"] == "yes":
            raise SettingsError(f"{name} is not set: {meta['description']}")
        return f.default
    try:
        return meta["parse"](raw)
    except ValueError as exc:
        # Never echo a secret, nor a URL (it may carry credentials).
        shown = "" if meta["secret"] or "URL" in str(exc) else f", got {raw!r}"
        raise SettingsError(f"{name} {exc}{shown}") from None


def read_settings(names: Iterable[str], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Some settings by field name, for the parts that need only those (the engine)."""
    env = os.environ if env is None else env
    by_name = {f.name: f for f in SETTINGS}
    return {name: _read(env, by_name[name]) for name in names}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and check every setting; raise SettingsError naming the first bad one."""
    return Settings(**read_settings((f.name for f in SETTINGS), env))


def default_of(name: str) -> Any:
    """A setting's declared default, for types that carry a part of the settings."""
    return next(f.default for f in SETTINGS if f.name == name)


def markdown_table() -> str:
    """README's configuration table, one row a variable, from the declarations."""
    rows = ["| variable | required | meaning |", "| --- | --- | --- |"]
    for f in SETTINGS:
        meta = f.metadata
        rows.append(f"| `{meta['env']}` | {meta['required']} | {meta['description']} |")
    return "\n".join(rows)


def require(value: T | None, name: str, why: str) -> T:
    """For settings only some paths need: fail on that path, naming the variable."""
    if value is None:
        raise SettingsError(f"{name} is not set: {why}")
    return value
