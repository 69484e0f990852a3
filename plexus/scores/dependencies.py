"""A score's `depends_on`, as Plexus reads it for every score class: a list of the
scorecard's other score names, or a mapping of name to a condition on that score's value
(`{operator: "==" | "!=", value: ...}`, or a bare value meaning `==`)."""

from __future__ import annotations

from typing import Any

from plexus.core.errors import ScoreConfigError

DEPENDENCY_OPERATORS = ("==", "!=")


def parse_depends_on(value: Any, source: str) -> dict[str, dict[str, Any] | None]:
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value)
    if isinstance(value, dict):
        out: dict[str, dict[str, Any] | None] = {}
        for name, condition in value.items():
            if condition is None:
                out[str(name)] = None
            elif isinstance(condition, dict):
                operator = condition.get("operator", "==")
                if not isinstance(operator, str) or operator not in DEPENDENCY_OPERATORS:
                    raise ScoreConfigError(
                        f"{source}: depends_on {name!r}: operator must be == or !=, got {operator!r}"
                    )
                out[str(name)] = {"operator": operator, "value": condition.get("value")}
            else:
                out[str(name)] = {"operator": "==", "value": condition}
        return out
    raise ScoreConfigError(f"{source}: depends_on must be a list of score names or a mapping")
