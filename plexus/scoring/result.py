"""What every classifier returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Classification:
    value: str
    explanation: str
    confidence: float | None
    # Model, token and USD accounting; empty for deterministic classifiers.
    usage: dict[str, Any] = field(default_factory=dict)
    # Steps worth keeping in the trace (no secrets, no full prompts beyond the item text).
    trace: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "explanation": self.explanation,
            "confidence": self.confidence,
            "usage": self.usage,
            "trace": self.trace,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Classification:
        return cls(
            value=str(data["value"]),
            explanation=str(data.get("explanation", "")),
            confidence=data.get("confidence"),
            usage=dict(data.get("usage") or {}),
            trace=dict(data.get("trace") or {}),
        )
