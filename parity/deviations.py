"""Where this engine answers differently from the real Plexus on purpose, case by case.

Each entry names the compared fields that may differ, what this engine must give on them,
and the README row (Scores, "Where this worker differs from Plexus") that says why. Every
other compared field must equal the golden file's, and a declared field must still differ
(a deviation that no longer differs is removed). Only two kinds are kept: a graph Plexus
cannot run (its answer is ERROR) and token counts where this engine's are the true count
of what the model was sent.
"""

from __future__ import annotations

from typing import Any

CRASH_ROW = "a graph Plexus cannot run"
TOKENS_ROW = "token counts when a LogicalNode comes first"
TACTUS_TOKENS_ROW = "the token total of a TactusScore"
EXPLANATION_MODEL_ROW = "tokens of an explanation_model call"

ALL_RESULT_FIELDS = (
    "failed",
    "value",
    "explanation",
    "path",
    "requests",
    "calls",
    "tokens",
    "cost",
)

DEVIATIONS: dict[str, dict[str, Any]] = {
    "input_mapping": {
        "fields": ALL_RESULT_FIELDS,
        "ours": {"failed": False, "value": "No", "path": ["first", "second"], "calls": 2},
        "row": CRASH_ROW,
    },
    "input_mapping_text": {
        "fields": ALL_RESULT_FIELDS,
        "ours": {"failed": False, "value": "Yes", "path": ["judge"], "calls": 1},
        "row": CRASH_ROW,
    },
    "multiclass_no_system": {
        "fields": ALL_RESULT_FIELDS,
        "ours": {"failed": False, "value": "Cancel", "path": ["mc"], "calls": 1},
        "row": CRASH_ROW,
    },
    "classifier_empty_valid_classes": {
        "fields": ("requests", "calls"),
        "ours": {"failed": True, "calls": 0},
        "row": CRASH_ROW,
    },
    "multiclass_empty_valid_classes": {
        "fields": ("requests", "calls"),
        "ours": {"failed": True, "calls": 0},
        "row": CRASH_ROW,
    },
    "logicalnode_metadata_none_then_classifier": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 100, "completion": 10, "total": 110}},
        "row": TOKENS_ROW,
    },
    "history_from_logical_node_classifier": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 100, "completion": 10, "total": 110}},
        "row": TOKENS_ROW,
    },
    "history_from_logical_node_generator": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 100, "completion": 10, "total": 110}},
        "row": TOKENS_ROW,
    },
    "logical_first_then_classifier": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 100, "completion": 10, "total": 110}},
        "row": TOKENS_ROW,
    },
    "logicalnode_raises": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 100, "completion": 10, "total": 110}},
        "row": TOKENS_ROW,
    },
    "condition_after_retry": {
        "fields": ALL_RESULT_FIELDS,
        "ours": {"failed": False, "value": "Greeted", "path": ["first"], "calls": 2},
        "row": CRASH_ROW,
    },
    "explanation_model_yesorno": {
        "fields": ("tokens", "cost"),
        "ours": {"tokens": {"prompt": 200, "completion": 20, "total": 220}},
        "row": EXPLANATION_MODEL_ROW,
    },
    "explanation_model_multiclass": {
        "fields": ("tokens", "cost"),
        "ours": {"tokens": {"prompt": 200, "completion": 20, "total": 220}},
        "row": EXPLANATION_MODEL_ROW,
    },
    "docstring_tactusscore": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 100, "completion": 10, "total": 110}},
        "row": TACTUS_TOKENS_ROW,
    },
    "tactus_classify_yes": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 100, "completion": 10, "total": 110}},
        "row": TACTUS_TOKENS_ROW,
    },
    "tactus_classify_retry": {
        "fields": ("tokens",),
        "ours": {"tokens": {"prompt": 200, "completion": 20, "total": 220}},
        "row": TACTUS_TOKENS_ROW,
    },
}
