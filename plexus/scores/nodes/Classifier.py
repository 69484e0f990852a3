"""`Classifier`: one of `valid_classes`, read from the model's free-text completion.

The completion is parsed as Plexus's ClassificationOutputParser does: case, punctuation and
underscores are ignored and a class must stand as whole words; by default the last class
mentioned wins (reasoning first, answer last), `parse_from_start: true` takes the first;
when classes overlap ("Yes" and "Yes, but"), the longer one wins. `explanation` is the
whole completion.

An answer that names no class gets Plexus's retry message, up to `maximum_retry_count`
times (default 6); if it still names none the classification is "unknown" and the
explanation "Maximum retries reached", as in Plexus (Classifier.py, handle_max_retries).
An empty completion is retried without being sent back (Plexus drops empty messages).
The retry conversation and count stay in the state for the next Classifier, as in Plexus.
The node's own `output:` applies inside it only on that branch (Plexus wires it after the
max-retries node); on success LangGraphScore's value setters apply it.
`enable_confidence` is accepted and ignored, as Plexus ignores it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from plexus.core.errors import JobError, ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, classes_option, int_option

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


ROLES = {"ai": "assistant", "human": "user", "system": "system"}
T = TypeVar("T")


def with_retry_turn(
    where: str, history: list[dict[str, str]], reply: str, request: str
) -> list[dict[str, str]]:
    """The conversation after a reply that could not be used and the request to try again,
    in the state's message form (as Plexus keeps it). Plexus's retry puts the whole history
    into the state's `messages`, a list of mappings: an entry that is none fails there."""
    for turn in history:
        if not isinstance(turn, dict):
            raise JobError(
                f"{where}: the state's chat_history holds {type(turn).__name__} "
                f"{str(turn)[:100]!r}, which a retry cannot put into the messages (a list of "
                "mappings)"
            )
    return [
        *history,
        {"type": "ai", "content": reply, "_type": "AIMessage"},
        {"type": "human", "content": request, "_type": "HumanMessage"},
    ]


def history_messages(where: str, history: list[Any]) -> list[dict[str, str]]:
    """The state's retry conversation as chat messages, as Plexus sends it after a node's
    own prompt: empty turns (and entries that are no message) left out; a turn's `type`
    (any case) is `human`, `ai` or `system`. A turn of another type, or one whose content
    is not text, fails the node as it fails Plexus's (LangChain refuses the message)."""
    out = []
    for turn in history:
        content = turn.get("content", "") if isinstance(turn, dict) else None
        if not content:
            continue
        kind = str(turn.get("type", "")).lower()
        if not isinstance(content, str) or kind not in ROLES:
            raise JobError(
                f"{where}: a turn of the state's chat_history is no message LangChain takes "
                f"(type {turn.get('type')!r})"
            )
        if content.strip():
            out.append({"role": ROLES[kind], "content": content})
    return out


def normalize(text: str) -> str:
    """Lower case, underscores as spaces, single spaces, only letters, digits and spaces."""
    text = " ".join(text.replace("_", " ").split())
    return "".join(c.lower() for c in text if c.isalnum() or c.isspace())


def parse_classification(
    completion: str, valid_classes: list[str], parse_from_start: bool = False
) -> str | None:
    """The class the completion names, or None."""
    classes = [(c, normalize(c), i) for i, c in enumerate(valid_classes)]
    if not parse_from_start:
        classes.sort(key=lambda entry: len(entry[1]), reverse=True)
    matches: list[tuple[str, int, int, int]] = []  # class, line, position, length
    for line_number, line in enumerate(completion.strip().split("\n")):
        normalized = normalize(line)
        for name, wanted, _ in classes:
            if not wanted:
                continue
            pos = normalized.find(wanted)
            while pos != -1:
                end = pos + len(wanted)
                whole_word = (pos == 0 or normalized[pos - 1].isspace()) and (
                    end == len(normalized) or normalized[end].isspace()
                )
                if whole_word:
                    inside_longer = not parse_from_start and any(
                        m[1] == line_number and m[2] <= pos < m[2] + m[3] and m[3] > len(wanted)
                        for m in matches
                    )
                    if not inside_longer:
                        matches.append((name, line_number, pos, len(wanted)))
                    pos = normalized.find(wanted, end)
                else:
                    pos = normalized.find(wanted, pos + 1)
    if not matches:
        return None
    if parse_from_start:
        return matches[0][0]
    return max(matches, key=lambda m: (m[1], m[2]))[0]


class RetryingNode(BaseNode):
    """A node that asks its model again, with a retry message, for an answer it cannot use
    (Classifier, Generator). The retry conversation and its count live in the graph's state,
    as in Plexus: a node after one that needed a retry sends that conversation after its own
    prompt and counts its attempts on from there (README, "retry history")."""

    max_retries: int

    def retry_message(self, attempt: int) -> str:
        raise NotImplementedError

    async def ask(
        self, state: GraphState, run: Run, record: NodeRecord, accept: Callable[[str], T | None]
    ) -> tuple[T | None, str, list[dict[str, str]], int]:
        """The first answer `accept` takes (None once the retries are spent), the last
        completion's text, and the retry conversation and count to leave in the state."""
        messages = self.render_messages(state)
        history: list[dict[str, str]] = list(state.get("chat_history") or [])
        retries = int(state.get("retry_count") or 0)
        while True:
            sent = history_messages(self.where, history)
            completion = await self.call_model(run, record, messages + sent)
            text = completion.text or ""
            value = accept(text)
            if value is not None or retries >= self.max_retries:
                return value, text, history, retries
            history = with_retry_turn(self.where, history, text, self.retry_message(retries + 1))
            retries += 1


class Classifier(RetryingNode):
    kind = "Classifier"
    state_fields = ("reasoning", "confidence", "raw_logprobs")
    refused_options: ClassVar[dict[str, str]] = {
        **BaseNode.refused_options,
        "confidence": "confidence from token log-probabilities is not implemented by this worker",
    }
    own_output_always = False

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.valid_classes = classes_option(config, where)
        self.parse_from_start = bool(config.get("parse_from_start") or False)
        self.max_retries = int_option(config, "maximum_retry_count", 6, where)
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    def retry_message(self, attempt: int) -> str:
        classes = "', '".join(self.valid_classes)
        return (
            f"You responded with an invalid classification. Please classify as one of: "
            f"'{classes}'. This is attempt {attempt} of {self.max_retries}."
        )

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        def classification(text: str) -> str | None:
            if not text.strip():
                return None
            return parse_classification(text, self.valid_classes, self.parse_from_start)

        value, last, history, retries = await self.ask(state, run, record, classification)
        if value is not None:
            state.update(
                classification=value,
                explanation=last.strip(),
                completion=last,
                chat_history=history,
                retry_count=retries,
            )
            return
        state.update(
            classification="unknown",
            explanation="Maximum retries reached",
            completion=None,
            chat_history=history,
            retry_count=retries,
        )
        record.exhausted = True
