"""`Generator`: the model's completion as it is, in `completion`; `explanation` is cleared
(None), as Plexus's Generator leaves it.

An empty completion is asked again up to `maximum_retry_count` times (default 1, as
Plexus, with its retry message); still empty, the completion and explanation are Plexus's
"Failed to generate a valid completion after maximum retry attempts.".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, int_option
from plexus.scores.nodes.Classifier import history_messages, with_retry_turn

GIVE_UP = "Failed to generate a valid completion after maximum retry attempts."

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
        # As Plexus's Generator: the retry conversation and count are the graph state's (an
        # earlier Classifier's retries are sent after this node's prompt, and counted on).
        messages = self.render_messages(state)
        history: list[dict[str, str]] = list(state.get("chat_history") or [])
        retries = int(state.get("retry_count") or 0)
        while True:
            sent = history_messages(self.where, history)
            completion = await self.call_model(run, record, messages + sent)
            text = completion.text or ""
            if text.strip():
                # Plexus's Generator clears `explanation` and never sets it (Generator.py).
                state.update(
                    completion=text, explanation=None, chat_history=history, retry_count=retries
                )
                return
            if retries >= self.max_retries:
                break
            history = with_retry_turn(self.where, history, text, self.retry_message(retries + 1))
            retries += 1
        state.update(
            completion=GIVE_UP, explanation=GIVE_UP, chat_history=history, retry_count=retries
        )

    def retry_message(self, attempt: int) -> str:
        return (
            "Please try generating a response again. "
            f"This is attempt {attempt} of {self.max_retries}."
        )
