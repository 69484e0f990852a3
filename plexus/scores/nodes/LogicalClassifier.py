"""`LogicalClassifier`: Python `code:` defining `score(parameters, input) -> Score.Result`.

`input.text` is the text; `input.metadata` is the item's metadata plus every state field
(earlier nodes' classifications, explanations and output aliases), as Plexus merges them.
The result's `value` becomes `classification` and `value`, its
`metadata["explanation"]` the explanation (as in Plexus, `Score.Result(explanation=...)`
is not read), and its other metadata keys the
state fields of those names the graph declares (others are dropped, as in Plexus). Returning None leaves the state as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.scores.code import call, compile_function
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


def merged_metadata(state: GraphState) -> dict[str, Any]:
    merged = dict(state.get("metadata") or {})
    for key, value in state.items():
        if key not in ("metadata", "text"):
            merged[key] = value
    return merged


class LogicalClassifier(BaseNode):
    kind = "LogicalClassifier"
    state_fields = ("criteria_met",)
    calls_model = False

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.function = compile_function(config.get("code"), "score", where, self.name)

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        from plexus.scores.Score import Score

        parameters = Score.Parameters(**self.config)
        score_input = Score.Input(
            text=str(state.get("text") or ""),
            metadata=merged_metadata(state),
            results=list((state.get("results") or {}).values()),
        )
        result = call(self.function, self.where, parameters, score_input)
        if result is None:
            return
        metadata = dict(getattr(result, "metadata", None) or {})
        value = getattr(result, "value", None)
        # Plexus reads only metadata["explanation"] (LogicalClassifier.py); the result's own
        # explanation argument is not used.
        explanation = metadata.get("explanation")
        state.update(classification=value, value=value, explanation=explanation)
        # Only fields the graph's state declares are kept (Plexus's state class drops the
        # rest): an undeclared key named by the score's `output:` is then a literal there.
        for key, item in metadata.items():
            if key != "explanation" and key in state:
                state[key] = item
