"""What one scoring run needs besides the score and the item: settings and model clients.

`ScoringSettings` is the part of the worker's settings the engine reads, so that
`plexus-lambda score` can run a score with no Plexus API settings at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plexus.core.settings import Secret

if TYPE_CHECKING:
    from plexus.core.settings import Settings
    from plexus.scores.providers import Models


@dataclass(frozen=True)
class ScoringSettings:
    openai_api_key: Secret | None = None
    openai_base_url: str | None = None
    azure_api_key: Secret | None = None
    azure_api_base: str | None = None
    azure_api_version: str | None = None
    model_timeout_seconds: float = 120.0
    model_max_retries: int = 3
    max_prompt_chars: int = 1_000_000
    region: str | None = None
    # Item attachments under items/ live in Plexus's data-sources bucket; others in the
    # score-result attachments bucket (as plexus/utils/score_result_s3_utils.py decides).
    datasources_bucket: str | None = None
    attachments_bucket: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringSettings:
        return cls(
            openai_api_key=settings.openai_api_key,
            openai_base_url=settings.openai_base_url,
            azure_api_key=settings.azure_api_key,
            azure_api_base=settings.azure_api_base,
            azure_api_version=settings.azure_api_version,
            model_timeout_seconds=settings.model_timeout_seconds,
            model_max_retries=settings.model_max_retries,
            max_prompt_chars=settings.max_prompt_chars,
            region=settings.region,
            datasources_bucket=settings.datasources_bucket,
            attachments_bucket=settings.bucket,
        )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScoringSettings:
        """The same variables the worker reads, for `plexus-lambda score`."""
        from plexus.core.settings import scoring_values

        return cls(**scoring_values(os.environ if env is None else env))


@dataclass
class Run:
    """One scoring run: settings, the model clients (shared across runs of a processor),
    and where progress lines go."""

    settings: ScoringSettings
    models: Models
    progress: Callable[[str], None] = field(default=lambda line: None)
    # Values of the scorecard's other scores, by name, for `depends_on` and templates.
    results: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: ScoringSettings, **kwargs: Any) -> Run:
        from plexus.scores.providers import Models

        return cls(settings, Models(settings), **kwargs)
