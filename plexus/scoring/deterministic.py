"""Classifiers that need no model: keywords and regular expressions."""

from __future__ import annotations

import re

from plexus.scoring.config import KeywordConfig, RegexConfig
from plexus.scoring.result import Classification


def classify_keywords(config: KeywordConfig, text: str) -> Classification:
    haystack = text.casefold() if config.ignore_case else text
    for index, rule in enumerate(config.rules):
        for keyword in rule.keywords:
            needle = keyword.casefold() if config.ignore_case else keyword
            if needle in haystack:
                return Classification(
                    value=rule.value,
                    explanation=f"found keyword {keyword!r} (rule {index + 1})",
                    confidence=1.0,
                    trace={"classifier": "KeywordClassifier", "rule": index, "keyword": keyword},
                )
    return Classification(
        value=config.default,
        explanation="no rule's keyword occurs in the text; default",
        confidence=1.0,
        trace={"classifier": "KeywordClassifier", "rule": None},
    )


def classify_regex(config: RegexConfig, text: str) -> Classification:
    flags = re.IGNORECASE if config.ignore_case else 0
    for index, rule in enumerate(config.rules):
        match = re.search(rule.pattern, text, flags)
        if match:
            return Classification(
                value=rule.value,
                explanation=f"pattern {rule.pattern!r} matched {match.group(0)!r} (rule {index + 1})",
                confidence=1.0,
                trace={"classifier": "RegexClassifier", "rule": index, "match": match.span()},
            )
    return Classification(
        value=config.default,
        explanation="no rule's pattern matches the text; default",
        confidence=1.0,
        trace={"classifier": "RegexClassifier", "rule": None},
    )
