"""Token and USD accounting in the format the Plexus dashboard sums.

A ScoreResult's `cost` is what the real `LangGraphScore.get_accumulated_costs()` returns:
`prompt_tokens`, `completion_tokens`, `total_tokens`, `cached_tokens`, `llm_calls`,
`input_cost`, `output_cost`, `total_cost` (USD, floats) and `components`, one `api_call`
entry per node that called a model. The dashboard (`dashboard/utils/cost-analysis.ts`)
reads that object; a result without it counts as $0.

Sums are kept in `Decimal` so a job's total is exact; `to_json()` turns them into floats
as the real worker writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

ZERO = Decimal(0)


@dataclass(frozen=True)
class Cost:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    llm_calls: int = 0
    input_cost: Decimal = ZERO
    output_cost: Decimal = ZERO
    # One entry per model call or node, as LangGraphScore's `components`.
    components: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def total_cost(self) -> Decimal:
        return self.input_cost + self.output_cost

    @classmethod
    def api_call(
        cls,
        *,
        provider: str | None,
        model: str | None,
        node: str,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        input_cost: Decimal | None = None,
        output_cost: Decimal | None = None,
    ) -> Cost:
        """One model call. A model without a known price costs 0, as in Plexus (it logs it)."""
        input_cost = input_cost or ZERO
        output_cost = output_cost or ZERO
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cached_tokens=cached_tokens,
            llm_calls=1,
            input_cost=input_cost,
            output_cost=output_cost,
            components=(
                {
                    "type": "api_call",
                    "provider": provider,
                    "model": model,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "cached_tokens": cached_tokens,
                    "llm_calls": 1,
                    "usd": float(input_cost + output_cost),
                    "metadata": {"node_name": node},
                },
            ),
        )

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            llm_calls=self.llm_calls + other.llm_calls,
            input_cost=self.input_cost + other.input_cost,
            output_cost=self.output_cost + other.output_cost,
            components=self.components + other.components,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            "cached_tokens": self.cached_tokens,
            "llm_calls": self.llm_calls,
            "input_cost": float(self.input_cost),
            "output_cost": float(self.output_cost),
            "total_cost": float(self.total_cost),
            "components": list(self.components),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Cost:
        """The inverse of `to_json` (a stored model output, a cached result's cost)."""
        if not data:
            return cls()
        return cls(
            prompt_tokens=int(data.get("prompt_tokens") or 0),
            completion_tokens=int(data.get("completion_tokens") or 0),
            cached_tokens=int(data.get("cached_tokens") or 0),
            llm_calls=int(data.get("llm_calls") or 0),
            input_cost=Decimal(str(data.get("input_cost") or 0)),
            output_cost=Decimal(str(data.get("output_cost") or 0)),
            components=tuple(data.get("components") or ()),
        )
