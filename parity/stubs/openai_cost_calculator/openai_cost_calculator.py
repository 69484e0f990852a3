"""See the package docstring: importable, never called by LangGraphScore."""

from __future__ import annotations

from typing import Any


def calculate_cost(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("openai_cost_calculator stub: not used by LangGraphScore")
