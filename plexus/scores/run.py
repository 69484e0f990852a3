"""What one scoring run needs besides the score and the item: settings and model clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plexus.scores.scoring_settings import ScoringSettings

if TYPE_CHECKING:
    from plexus.scores.providers import Models

__all__ = ["Run", "ScoringSettings"]


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
