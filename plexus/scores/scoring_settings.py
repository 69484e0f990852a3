"""What the engine reads of the worker's settings (`ScoringSettings`), so that
`plexus-lambda score` can run a score with no Plexus API settings at all."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from plexus.core.settings import Secret, default_of, read_settings

# The engine's settings: field -> the worker's setting it comes from (core/settings.py).
_FROM_SETTINGS = {
    "openai_api_key": "openai_api_key",
    "openai_base_url": "openai_base_url",
    "azure_api_key": "azure_api_key",
    "azure_api_base": "azure_api_base",
    "azure_api_version": "azure_api_version",
    "model_timeout_seconds": "model_timeout_seconds",
    "model_max_retries": "model_max_retries",
    "max_prompt_chars": "max_prompt_chars",
    "region": "region",
    "datasources_bucket": "datasources_bucket",
    "attachments_bucket": "bucket",
    "content_max_bytes": "content_max_bytes",
    "content_timeout_seconds": "content_timeout_seconds",
    "content_allowed_hosts": "content_allowed_hosts",
}


@dataclass(frozen=True)
class ScoringSettings:
    """What the engine reads of the settings, declared (defaults, parsers) in core/settings.py."""

    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    azure_api_key: Secret | None = None
    azure_api_base: str | None = None
    azure_api_version: str | None = None
    model_timeout_seconds: float = default_of("model_timeout_seconds")
    model_max_retries: int = default_of("model_max_retries")
    max_prompt_chars: int = default_of("max_prompt_chars")
    region: str | None = None
    # Item attachments under items/ live in Plexus's data-sources bucket; others in the
    # score-result attachments bucket (as plexus/utils/score_result_s3_utils.py decides).
    datasources_bucket: str | None = None
    attachments_bucket: str | None = None
    # Item content fetched from a URL (`plexus-lambda score`; the worker fetches its own).
    content_max_bytes: int = default_of("content_max_bytes")
    content_timeout_seconds: float = default_of("content_timeout_seconds")
    content_allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Any) -> ScoringSettings:
        """From the worker's `Settings` (or anything with its field names)."""
        return cls(**{ours: getattr(settings, theirs) for ours, theirs in _FROM_SETTINGS.items()})

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScoringSettings:
        """The same variables the worker reads, for `plexus-lambda score`."""
        values = read_settings(_FROM_SETTINGS.values(), os.environ if env is None else env)
        return cls(**{ours: values[theirs] for ours, theirs in _FROM_SETTINGS.items()})
