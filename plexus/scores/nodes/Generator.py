"""`Generator`: the model's completion as it is, in `completion`; `explanation` is cleared
(None), as Plexus's Generator leaves it.

An empty completion is asked again up to `maximum_retry_count` times (default 1, as
Plexus, with its retry message); still empty, the completion and explanation are Plexus's
"Failed to generate a valid completion after maximum retry attempts.".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError
from plexus.scores.nodes.BaseNode import NodeRecord, int_option
from plexus.scores.nodes.Classifier import RetryingNode

GIVE_UP = "Failed to generate a valid completion after maximum retry attempts."

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


class Generator(RetryingNode):
    kind = "Generator"

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.max_retries = int_option(config, "maximum_retry_count", 1, where)
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        # As Plexus's Generator: the retry conversation and count are the graph state's (an
        # earlier Classifier's retries are sent after this node's prompt, and counted on).
        text, _last, history, retries = await self.ask(
            state, run, record, lambda text: text if text.strip() else None
        )
        if text is not None:
            # Plexus's Generator clears `explanation` and never sets it (Generator.py).
            state.update(
                completion=text, explanation=None, chat_history=history, retry_count=retries
            )
            return
        state.update(
            completion=GIVE_UP, explanation=GIVE_UP, chat_history=history, retry_count=retries
        )

    def retry_message(self, attempt: int) -> str:
        return (
            "Please try generating a response again. "
            f"This is attempt {attempt} of {self.max_retries}."
        )
