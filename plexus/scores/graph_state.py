"""The state a LangGraphScore's nodes share."""

from __future__ import annotations

from typing import Any


class GraphState(dict):  # type: ignore[type-arg]
    """The state nodes share: a dict whose fields also read as attributes, with
    `model_dump()` as Plexus's pydantic state has (LogicalNode code calls it)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def model_dump(self) -> dict[str, Any]:
        return dict(self)

    dict = model_dump
