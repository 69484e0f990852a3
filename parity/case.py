"""A parity case: a score's YAML, an item, the model's scripted replies, a source."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

DOC = "documentation/agent/score-authoring/score-yaml-format.md"
ROUTING_TEST = "plexus/scores/test_langgraphscore_routing.py"
HEAD = "name: Parity\nclass: LangGraphScore\nmodel_provider: ChatOpenAI\nmodel_name: gpt-4o-mini\n"
OUT = "output:\n  value: classification\n  explanation: explanation\n"
TEXT = "Agent: Hello, thank you for calling. Customer: I want to cancel my order."
YN = "valid_classes: ['Yes', 'No']"


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    config: str
    replies: list[Any] = field(default_factory=list)
    text: str = TEXT
    metadata: dict[str, Any] = field(default_factory=dict)
    # A scorecard case: the YAML of each score this one depends on, dependencies first;
    # each is scored before this one and its result handed on, as Plexus's Scorecard does.
    dependencies: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
