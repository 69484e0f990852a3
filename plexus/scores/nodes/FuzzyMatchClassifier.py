"""`FuzzyMatchClassifier`: values from the state matched against targets with rapidfuzz; no model.

`data_paths` pick values (`text`, `metadata.field`, `metadata.schools[].school_id`,
`metadata.schools[0].name`); `targets` is one target `{target, threshold, scorer,
preprocess}` or a group `{operator: and|or, items: [...]}`; the best-scoring match's target,
through `classification_mapping`, is the classification, else `default_classification`.
Also sets `match_found` and `matches`, as Plexus's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from plexus.core.errors import ScoreConfigError
from plexus.scores.nodes.BaseNode import BaseNode, NodeRecord

if TYPE_CHECKING:
    from plexus.scores.graph_state import GraphState
    from plexus.scores.run import Run

SCORERS = ("ratio", "partial_ratio", "token_sort_ratio", "token_set_ratio", "WRatio", "QRatio")


def check_targets(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ScoreConfigError(f"{where}: targets must be a target or a group, got {item!r}")
    if "items" in item or "operator" in item:
        if item.get("operator") not in ("and", "or"):
            raise ScoreConfigError(f"{where}: a target group's operator must be 'and' or 'or'")
        items = item.get("items")
        if not isinstance(items, list) or not items:
            raise ScoreConfigError(f"{where}: a target group's items must be a non-empty list")
        return {"operator": item["operator"], "items": [check_targets(i, where) for i in items]}
    if not isinstance(item.get("target"), str):
        raise ScoreConfigError(f"{where}: each target needs a target string")
    threshold = item.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int) or not 0 <= threshold <= 100:
        raise ScoreConfigError(f"{where}: target {item['target']!r}: threshold must be 0-100")
    scorer = item.get("scorer", "ratio")
    if scorer not in SCORERS:
        raise ScoreConfigError(
            f"{where}: target {item['target']!r}: scorer must be one of {SCORERS}"
        )
    return {**item, "scorer": scorer, "preprocess": bool(item.get("preprocess", False))}


def extract_values(state: dict[str, Any], path: str) -> list[str]:
    current: Any = state
    parts = path.split(".")
    for i, part in enumerate(parts):
        if not part:
            continue
        if part.endswith("[]"):
            items = current.get(part[:-2]) if isinstance(current, dict) else None
            if not isinstance(items, list):
                return []
            rest = parts[i + 1 :]
            if not rest:
                return [str(x) for x in items]
            found = []
            for entry in items:
                for key in rest:
                    entry = entry.get(key) if isinstance(entry, dict) else None
                if entry is not None:
                    found.append(str(entry))
            return found
        if "[" in part and part.endswith("]"):
            key, _, index = part[:-1].partition("[")
            items = current.get(key) if isinstance(current, dict) else None
            try:
                current = items[int(index)] if isinstance(items, list) else None
            except (ValueError, IndexError):
                return []
            if current is None:
                return []
            continue
        if not isinstance(current, dict) or part not in current:
            return []
        current = current[part]
    if isinstance(current, list):
        return [str(x) for x in current]
    return [] if current is None else [str(current)]


def evaluate(item: dict[str, Any], values: list[str]) -> tuple[bool, list[dict[str, Any]]]:
    from rapidfuzz import fuzz, process, utils

    if "operator" in item:
        collected: list[dict[str, Any]] = []
        if item["operator"] == "or":
            for sub in item["items"]:
                ok, found = evaluate(sub, values)
                collected += found
                if ok:
                    return True, collected
            return False, collected
        for sub in item["items"]:
            ok, found = evaluate(sub, values)
            if not ok:
                return False, []
            collected += found
        return True, collected
    scorer = getattr(fuzz, item["scorer"])
    processor = utils.default_process if item["preprocess"] else None
    best = None
    for value in values:
        if not value:
            continue
        hit = process.extractOne(
            item["target"],
            [value],
            scorer=scorer,
            processor=processor,
            score_cutoff=item["threshold"],
        )
        if hit and (best is None or hit[1] > best[1]):
            best = hit
    if best is None:
        return False, []
    return True, [
        {
            "target": item["target"],
            "threshold": item["threshold"],
            "score": best[1],
            "matched_text": best[0],
            "matched_indices": None,
        }
    ]


class FuzzyMatchClassifier(BaseNode):
    kind = "FuzzyMatchClassifier"
    state_fields = ("match_found", "matches")
    calls_model = False

    def __init__(self, config: dict[str, Any], defaults: dict[str, Any], where: str) -> None:
        super().__init__(config, defaults, where)
        paths = config.get("data_paths")
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise ScoreConfigError(f"{where}: data_paths must be a non-empty list of paths")
        self.paths = paths
        self.targets = check_targets(config.get("targets"), where)
        mapping = config.get("classification_mapping") or {}
        if not isinstance(mapping, dict):
            raise ScoreConfigError(f"{where}: classification_mapping must be a mapping")
        self.mapping = {str(k): v for k, v in mapping.items()}
        self.default = config.get("default_classification")

    async def execute(self, state: GraphState, run: Run, record: NodeRecord) -> None:
        values = [v for path in self.paths for v in extract_values(state, path)]
        ok, matches = evaluate(self.targets, values) if values else (False, [])
        if matches:
            best = max(matches, key=lambda m: m["score"])
            classification = self.mapping.get(best["target"], best["target"])
            explanation = (
                f"Found fuzzy matches for: {', '.join(m['target'] for m in matches)}. "
                f"Best match: {best['target']} (score: {best['score']:.1f})"
            )
        else:
            classification = self.default
            explanation = (
                "No fuzzy matches found for any configured targets"
                if values
                else "No values found to match against"
            )
        state.update(
            classification=classification, explanation=explanation, match_found=ok, matches=matches
        )
