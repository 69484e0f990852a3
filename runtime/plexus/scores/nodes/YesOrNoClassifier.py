"""`YesOrNoClassifier` (Plexus marks it legacy; `Classifier` with Yes/No replaces it).

The completion's words are scanned from the end (or the start, `parse_from_start`) for
"yes" or "no"; the classification is lower case, as Plexus's. `{{retry_feedback}}` in a
prompt carries Plexus's retry text on later attempts. A completion with neither word after
`maximum_retry_count` attempts (default 3) fails the node (Plexus would answer "unknown").
`explanation_message` asks the model for an explanation in a second call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from plexus.core.errors import ModelReplyError, ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, int_option

if TYPE_CHECKING:
    from plexus.scores.LangGraphScore import GraphState
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
    refused_options: ClassVar[dict[str, str]] = {
        **BaseNode.refused_options,
        "explanation_model": "a second model for explanations is not implemented by this worker",
    }

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.parse_from_start = bool(config.get("parse_from_start") or False)
        self.max_retries = int_option(config, "maximum_retry_count", 3, where, minimum=1)
        self.explanation_prompt = self.explanation_message(config)
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        last = ""
        for attempt in range(self.max_retries):
            feedback = (
                f'You responded with {last}, but we need a "Yes" or a "No". Please try again. '
                f"This is attempt {attempt + 1} of {self.max_retries}."
                if attempt
                else ""
            )
            messages = self.render_messages(state, {"retry_feedback": feedback})
            completion = await self.call_model(run, record, messages)
            last = completion.text or ""
            value = parse_yes_or_no(last, self.parse_from_start)
            if value is None:
                continue
            explanation = last
            if self.explanation_prompt is not None:
                explanation = await self.explain(
                    self.explanation_prompt, state, run, record, messages, value, value
                )
            state.update(classification=value, explanation=explanation, retry_count=attempt)
            return
        raise ModelReplyError(
            f"{self.where}: the model answered {last.strip()[-200:]!r}, neither yes nor no "
            f"({self.max_retries} attempts)"
        )
