"""`YesOrNoClassifier` (Plexus marks it legacy; `Classifier` with Yes/No replaces it).

The completion's words are scanned from the end (or the start, `parse_from_start`) for
"yes" or "no"; the classification is lower case, as Plexus's. A completion with neither
word is "unknown" after that one call, as in Plexus (which retries, up to
`maximum_retry_count`, only a call that raises; `{{retry_feedback}}` renders empty);
`maximum_retry_count: 0` makes no call and answers "unknown", "Maximum retries reached".
`explanation_message` asks the model for an explanation in a second call, in Plexus's form:
the prompt flattened into one user message, the lower-case answer, the follow-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, int_option

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


def parse_yes_or_no(completion: str, parse_from_start: bool = False) -> str | None:
    cleaned = "".join(c.lower() for c in completion if c.isalnum() or c.isspace())
    words = cleaned.split()
    for word in words if parse_from_start else reversed(words):
        if word in ("yes", "no"):
            return word
    return None


class YesOrNoClassifier(BaseNode):
    kind = "YesOrNoClassifier"

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.parse_from_start = bool(config.get("parse_from_start") or False)
        self.max_retries = int_option(config, "maximum_retry_count", 3, where)
        self.explanation_prompt = self.explanation_message(config)
        self.explanation_model = self.second_model(config.get("explanation_model"))
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    def flattened_prompt(self, state: GraphState) -> str:
        """The node's prompt as Plexus's explanation call sends it: one user message,
        "System: ...\nHuman: ..." (ChatPromptTemplate.format), rendered with `text` only."""
        names = {"system": "System", "user": "Human"}
        text = {"text": state.get("text")}
        return "\n".join(f"{names[role]}: {prompt.render(text)}" for role, prompt in self.prompts)

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        # Plexus retries only when the model call raises; an answer with neither word is
        # "unknown" at once (YesOrNoClassifier.py). A failed call fails the job here (README).
        if self.max_retries == 0:
            # Plexus's retry loop runs no attempt at all: no call, and its give-up answer.
            state.update(
                classification="unknown", explanation="Maximum retries reached", retry_count=0
            )
            return
        messages = self.render_messages(state, {"retry_feedback": ""})
        completion = await self.call_model(run, record, messages)
        last = completion.text or ""
        value = parse_yes_or_no(last, self.parse_from_start)
        if value is None:
            state.update(classification="unknown", explanation=last, retry_count=0)
            return
        explanation = last
        if self.explanation_prompt is not None:
            follow_up = self.explanation_prompt.render(
                {**state, "classification": value, "explanation": last}
            )
            conversation = [
                {"role": "user", "content": self.flattened_prompt(state)},
                {"role": "assistant", "content": value},
                {"role": "user", "content": follow_up},
            ]
            explanation = (
                await self.call_model(run, record, conversation, model=self.explanation_model)
            ).text
        state.update(classification=value, explanation=explanation, retry_count=0)
