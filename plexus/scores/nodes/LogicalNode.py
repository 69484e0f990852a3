"""`LogicalNode`: Python `code:` defining `function_name(context)` (default `execute`).

`context` holds `state` (with `model_dump()` and attribute access), `text`, `metadata`
(the item's metadata plus every state field) and `parameters`. A dict it returns updates
the state, through `output_mapping` (state field -> result key) when given; anything else
goes to the one `output_mapping` field, or to `result`. Only the graph's state fields keep
what it returns (as Plexus's LangGraph state does): a key no mapping declares is dropped. An exception raised by the function
is logged and the graph goes on as if the node had not run, as in Plexus (LogicalNode.py);
the trace names the error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from plexus.core.errors import JobError, ScoreConfigError
from plexus.scores.code import call, compile_function
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, mapping
from plexus.scores.nodes.LogicalClassifier import merged_metadata

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


class LogicalNode(BaseNode):
    kind = "LogicalNode"
    calls_model = False

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        name = config.get("function_name", "execute")
        if not isinstance(name, str) or not name.isidentifier():
            raise ScoreConfigError(f"{where}: function_name must be a Python name")
        self.function = compile_function(config.get("code"), name, where, self.name)
        self.output_mapping = mapping(config.get("output_mapping"), where, "output_mapping")

    @property
    def extra_fields(self) -> tuple[str, ...]:
        return tuple(self.output_mapping or ())

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        from plexus.scores.Score import Score

        context = {
            "state": state,
            "text": state.get("text"),
            "metadata": merged_metadata(state),
            "parameters": Score.Parameters(**self.config),
        }
        try:
            result = call(self.function, self.where, context)
        except JobError as exc:
            log.warning("%s", exc)
            run.progress(f"{exc} (ignored, as Plexus does)")
            record.result = {"error": str(exc)}
            return
        # Only fields of the graph's state survive the node (Plexus's LangGraph state keeps
        # its declared fields): a result key that no mapping declares is dropped, so the
        # node's `output:` then reads that name as a literal, as in Plexus.
        if isinstance(result, dict):
            if self.output_mapping:
                for field, key in self.output_mapping.items():
                    if key in result:
                        state[field] = result[key]
            else:
                state.update({k: v for k, v in result.items() if k in state})
        elif self.output_mapping and len(self.output_mapping) == 1:
            state[next(iter(self.output_mapping))] = result
        elif "result" in state:
            state["result"] = result
