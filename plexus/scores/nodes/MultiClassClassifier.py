"""`MultiClassClassifier` (Plexus marks it legacy; `Classifier` replaces it).

Plexus's parser: a class (lower case) found in the completion's last words (first words with
`parse_from_start`), else anywhere in it, else, with `fuzzy_match`, the class whose rapidfuzz
partial_ratio/ratio against the completion is best if it reaches `fuzzy_match_threshold`
(0-1, default 0.8). No class after `maximum_retry_count` attempts (default 3) is
"unknown", "Maximum retries reached", as in Plexus. As Plexus does, the system message is
rendered with no variables, and a completion already in the state (an earlier Classifier's
or Generator's) is parsed first, before any call. `explanation` is the class itself unless
`explanation_message` asks the model for one in a second call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, classes_option, int_option

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


def parse_multi_class(
    completion: str,
    valid_classes: list[str],
    parse_from_start: bool = False,
    fuzzy_match: bool = False,
    fuzzy_match_threshold: float = 0.8,
) -> str | None:
    cleaned = " ".join(word.lower() for word in completion.split())
    words = cleaned.split()
    longest = max(len(c.split()) for c in valid_classes)
    edge = " ".join(words[:longest] if parse_from_start else words[-longest:])
    for name in valid_classes:
        if name.lower() in edge:
            return name
    for name in valid_classes:
        if name.lower() in cleaned:
            return name
    if fuzzy_match and cleaned:
        from rapidfuzz import fuzz

        best, best_score = None, 0.0
        for name in valid_classes:
            score = max(
                fuzz.partial_ratio(name.lower(), cleaned), fuzz.ratio(name.lower(), cleaned)
            )
            if score > best_score:
                best, best_score = name, score
        if best is not None and best_score >= fuzzy_match_threshold * 100:
            return best
    return None


class MultiClassClassifier(BaseNode):
    kind = "MultiClassClassifier"

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.valid_classes = classes_option(config, where)
        self.parse_from_start = bool(config.get("parse_from_start") or False)
        self.fuzzy_match = bool(config.get("fuzzy_match") or False)
        threshold = config.get("fuzzy_match_threshold", 0.8)
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ScoreConfigError(f"{where}: fuzzy_match_threshold must be a number from 0 to 1")
        self.threshold = float(threshold)
        self.max_retries = int_option(config, "maximum_retry_count", 3, where, minimum=1)
        self.explanation_prompt = self.explanation_message(config)
        self.explanation_model = self.second_model(config.get("explanation_model"))
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    def first_messages(self, state: GraphState) -> list[dict[str, str]]:
        """Plexus's opening turns: the system message formatted with no variables (its
        template object goes into the prompt as it is), the user message with the state."""
        if len(self.prompts) < 2:
            # Plexus indexes messages[1] (an IndexError there): this worker sends the one it has.
            return self.render_messages(state)
        (_, system), (_, user) = self.prompts[:2]
        return [
            {"role": "system", "content": system.render({})},
            {"role": "user", "content": user.render(dict(state))},
        ]

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        history = self.first_messages(state)
        # Plexus parses the completion already in the state (an earlier node's) before it
        # calls the model (MultiClassClassifier.py, use_existing_completion).
        existing = state.get("completion")
        for attempt in range(self.max_retries):
            if attempt == 0 and existing is not None:
                last = str(existing)
            else:
                last = (await self.call_model(run, record, history)).text or ""
            value = parse_multi_class(
                last, self.valid_classes, self.parse_from_start, self.fuzzy_match, self.threshold
            )
            if value is not None:
                explanation = value
                if self.explanation_prompt is not None:
                    explanation = await self.explain(
                        self.explanation_prompt,
                        state,
                        run,
                        record,
                        history,
                        last,
                        value,
                        model=self.explanation_model,
                    )
                state.update(classification=value, explanation=explanation, retry_count=attempt)
                return
            history = [
                *history,
                {"role": "assistant", "content": last},
                {
                    "role": "user",
                    "content": (
                        "You responded with an unknown classification. Please try again. "
                        f"This is attempt {attempt + 1} of {self.max_retries}. "
                        f"Valid classes are: {', '.join(self.valid_classes)}."
                    ),
                },
            ]
        state.update(
            classification="unknown",
            explanation="Maximum retries reached",
            retry_count=self.max_retries,
        )
