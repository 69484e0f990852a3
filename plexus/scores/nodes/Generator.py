"""`Generator`: the model's completion as it is, in `completion`; `explanation` is cleared
(None), as Plexus's Generator leaves it.

An empty completion is asked again up to `maximum_retry_count` times (default 1, as
Plexus); still empty, the node fails (Plexus would store an error text as the completion).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ModelReplyError, ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, int_option

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


class Generator(BaseNode):
    kind = "Generator"

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.max_retries = int_option(config, "maximum_retry_count", 1, where)
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        messages = self.render_messages(state)
        for _ in range(self.max_retries + 1):
            completion = await self.call_model(run, record, messages)
            if completion.text and completion.text.strip():
                # Plexus's Generator clears `explanation` and never sets it (Generator.py).
                state.update(completion=completion.text, explanation=None)
                return
        raise ModelReplyError(
            f"{self.where}: the model returned an empty completion ({self.max_retries + 1} attempts)"
        )
