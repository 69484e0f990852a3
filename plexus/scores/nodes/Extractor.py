"""`Extractor`: a quote or other free text from the model, grounded in the item's text.

As Plexus's: the completion is stripped of quotes and a leading "Quote:"; then, unless
`trust_model_output`, the best-matching span of the text replaces it when its rapidfuzz
score reaches `fuzzy_match_score_cutoff` (default 50): with `use_exact_matching`, the
completion itself if it occurs (partial_ratio); otherwise a sliding window of the
completion's length (ratio). A weak match keeps the model's words, as Plexus does.
The result is `extracted_text`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord, int_option

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run


def ground_extraction(
    completion: str, text: str, cutoff: int = 50, exact: bool = False, trust: bool = False
) -> str:
    output = completion.strip().strip('"')
    if output.startswith("Quote:"):
        output = output[len("Quote:") :].strip()
    output = output.strip("\"'")
    if "No clear example" in output or trust or not output:
        return output
    from rapidfuzz import fuzz

    if exact:
        return output  # Plexus keeps the model's words whether or not they match
    best, best_score = None, 0.0
    width = len(output)
    for start in range(max(len(text) - len(output.split()) + 1, 0)):
        window = text[start : start + width]
        score = fuzz.ratio(output, window)
        if score > best_score:
            best, best_score = window, score
    return best if best and best_score >= cutoff else output


class Extractor(BaseNode):
    kind = "Extractor"
    state_fields = ("extracted_text", "reasoning")

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        self.cutoff = int_option(config, "fuzzy_match_score_cutoff", 50, where)
        self.exact = bool(config.get("use_exact_matching") or False)
        self.trust = bool(config.get("trust_model_output") or False)
        if not self.prompts:
            raise ScoreConfigError(f"{where}: needs a system_message or a user_message")

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        completion = await self.call_model(run, record, self.render_messages(state))
        state["extracted_text"] = ground_extraction(
            completion.text or "", str(state.get("text") or ""), self.cutoff, self.exact, self.trust
        )
