"""`BeforeAfterSlicer`: splits the item's text where the model's quote begins.

As Plexus's (plexus/scores/nodes/BeforeAfterSlicer.py): the completion is stripped of
quotes and a leading "Quote:"; the text is split into sentences with NLTK's Punkt
tokenizer (untrained, as Plexus constructs it); the sentence that best matches the quote
(rapidfuzz partial_ratio, at least 70) starts `after`, and everything earlier is `before`.
No sentence that close: `after` is the whole text and `before` is empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run

# SlicingOutputParser.FUZZY_MATCH_SCORE_CUTOFF in Plexus.
CUTOFF = 70


def slice_text(completion: str, text: str) -> tuple[str, str]:
    """(before, after) of `text` around the sentence the completion quotes."""
    from nltk.tokenize import PunktSentenceTokenizer
    from rapidfuzz import fuzz, process

    output = completion.strip().strip('"')
    if output.startswith("Quote:"):
        output = output[len("Quote:") :].strip()
    output = output.strip("\"'")
    sentences = PunktSentenceTokenizer().tokenize(text)
    match = process.extractOne(output, sentences, scorer=fuzz.partial_ratio, score_cutoff=CUTOFF)
    if match is None:
        return "", text
    start = text.index(match[0])
    return text[:start], text[start:]


class BeforeAfterSlicer(BaseNode):
    kind = "BeforeAfterSlicer"
    state_fields = ("before", "after")

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        completion = await self.call_model(run, record, self.render_messages(state))
        before, after = slice_text(completion.text or "", str(state.get("text") or ""))
        state.update(before=before, after=after)
