"""What every classifier returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from plexus.cost import Cost


@dataclass(frozen=True)
class Classification:
    value: str
    explanation: str
    confidence: float | None
    # Tokens and USD in Plexus's cost format; zero for deterministic classifiers.
    cost: Cost = field(default_factory=Cost)
    # Steps worth keeping in the trace (no secrets, no full prompts beyond the item text).
    trace: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "explanation": self.explanation,
            "confidence": self.confidence,
            "cost": self.cost.to_json(),
            "trace": self.trace,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Classification:
        return cls(
            value=str(data["value"]),
            explanation=str(data.get("explanation", "")),
            confidence=data.get("confidence"),
            cost=Cost.from_json(data.get("cost")),
            trace=dict(data.get("trace") or {}),
        )
