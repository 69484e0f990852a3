"""What scoring an item returns, whatever the score class."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plexus.core.cost import Cost


@dataclass(frozen=True)
class ScoreResult:
    value: str
    # None where Plexus gives none (a Tactus procedure that returns no explanation).
    explanation: str | None
    confidence: float | None
    # Tokens and USD in Plexus's cost format, one component per node that called a model.
    cost: Cost = field(default_factory=Cost)
    # Steps worth keeping in the trace (no secrets, no prompts beyond the item's text).
    trace: dict[str, Any] = field(default_factory=dict)

    @property
    def routes(self) -> list[dict[str, Any]]:
        """Each node that ran, in order, with where it went next (`END` last)."""
        return list(self.trace.get("nodes") or [])

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "explanation": self.explanation,
            "confidence": self.confidence,
            "cost": self.cost.to_json(),
            "trace": self.trace,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScoreResult:
        return cls(
            value=str(data["value"]),
            explanation=None if data.get("explanation") is None else str(data["explanation"]),
            confidence=data.get("confidence"),
            cost=Cost.from_json(data.get("cost")),
            trace=dict(data.get("trace") or {}),
        )
