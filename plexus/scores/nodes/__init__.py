"""The node classes of a LangGraphScore graph, one module each, named as Plexus names them."""

from __future__ import annotations

import importlib
from typing import Any

SUPPORTED_NODES = (
    "Classifier",
    "YesOrNoClassifier",
    "MultiClassClassifier",
    "Extractor",
    "Generator",
    "FuzzyMatchClassifier",
    "LogicalClassifier",
    "LogicalNode",
    "BeforeAfterSlicer",
)
# Real Plexus node classes this worker does not run, and why.
REFUSED_NODES = {
    "ContextExtractor": "not implemented by this worker yet",
    "FuzzyMatchExtractor": "not implemented by this worker yet",
    "NumericClassifier": "not implemented by this worker yet",
    "AgenticExtractor": "it runs a LangChain agent, which this worker does not ship",
}


def node_class(name: str) -> Any:
    """The class for a node's `class:`, imported on first use."""
    module = importlib.import_module(f"plexus.scores.nodes.{name}")
    return getattr(module, name)
