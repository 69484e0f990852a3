"""A score's `depends_on`, as Plexus's Scorecard reads it for every score class: a list of
the scorecard's other score names, or a mapping of name to a condition on that score's value
(`{operator: "==" | "!=" | "in" | "not in", value: ...}`, or a bare text meaning `==`; any
other bare value sets no condition, as Plexus's build_dependency_graph ignores it).

A condition is checked as Plexus's `Scorecard.check_dependency_conditions` checks it: the
dependency's value and the expected one as text, lower case, stripped; `in`/`not in` take a
list (or one value); an operator Plexus does not know never holds (the score is skipped)."""

from __future__ import annotations

import logging
from typing import Any

from plexus.core.errors import ScoreConfigError

log = logging.getLogger(__name__)

DEPENDENCY_OPERATORS = ("==", "!=", "in", "not in")
SKIPPED = "SKIPPED"
SKIPPED_EXPLANATION = "Score was skipped because dependency conditions were not met"


def parse_depends_on(value: Any, source: str) -> dict[str, dict[str, Any] | None]:
    if value is None:
        return {}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dict.fromkeys(value)
    if isinstance(value, dict):
        out: dict[str, dict[str, Any] | None] = {}
        for name, condition in value.items():
            if isinstance(condition, dict):
                operator = condition.get("operator", "==")
                if operator not in DEPENDENCY_OPERATORS:
                    log.warning(
                        "%s: depends_on %r: operator %r is not one Plexus knows "
                        "(==, !=, in, not in); the score is always skipped, as in Plexus",
                        source,
                        name,
                        operator,
                    )
                out[str(name)] = dict(condition)
            elif isinstance(condition, str):
                out[str(name)] = {"operator": "==", "value": condition}
            else:
                out[str(name)] = None
        return out
    raise ScoreConfigError(f"{source}: depends_on must be a list of score names or a mapping")


def _text(value: Any) -> str:
    return str(value).lower().strip()


def dependency_holds(condition: dict[str, Any] | None, value: Any) -> bool:
    """Whether a dependency whose result is `value` lets the score run."""
    if condition is None:
        return True
    operator = condition.get("operator", "==")
    expected = condition.get("value", "")
    if operator in ("in", "not in"):
        wanted = [_text(v) for v in (expected if isinstance(expected, list) else [expected])]
        return bool((_text(value) in wanted) == (operator == "in"))
    if operator == "==":
        return _text(value) == _text(expected)
    if operator == "!=":
        return _text(value) != _text(expected)
    return False
