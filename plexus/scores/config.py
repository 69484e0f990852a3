"""A score's configuration: the YAML of its champion ScoreVersion, parsed and checked.

YAML 1.2, as Plexus reads it (ruamel.yaml): `- Yes` / `- No` stay strings. A document that
does not parse names its line; a score whose class this worker cannot run names the class
and lists what it supports. Keys Plexus ignores are kept (and ignored) here too.

`class:` selects the score:
- `LangGraphScore` (plexus/scores/LangGraphScore.py): Plexus's graph of nodes;
- `TactusScore` (plexus/scores/TactusScore.py): Lua run by the real `tactus` package;
- `LLMClassifier`, `KeywordClassifier`, `RegexClassifier`: this project's own simple
  classifiers (plexus/scores/LLMClassifier.py, KeywordClassifier.py, RegexClassifier.py);
  `KeywordClassifier` also takes the real Plexus format (`keywords:`).
"""

from __future__ import annotations

from typing import Any

from plexus.core.errors import ScoreConfigError

SUPPORTED_SCORES = (
    "LangGraphScore",
    "TactusScore",
    "LLMClassifier",
    "KeywordClassifier",
    "RegexClassifier",
)
# Real Plexus score classes this worker refuses, and why.
REFUSED_SCORES: dict[str, str] = {}


# Values a configuration may hold once its aliases are expanded: real scores have hundreds;
# nine nested aliases of nine ("billion laughs") have 9**9, which code that walks the data
# (validation, traces) would expand into gigabytes.
MAX_YAML_VALUES = 100_000


class _AliasBomb(Exception):
    pass


def _expanded_values(node: Any, sizes: dict[int, int], limit: int) -> int:
    """How many values the node stands for with every alias expanded (each node once)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a recursive alias counts once
    total = 1
    value = node.value
    if isinstance(value, list):
        for child in value:
            for part in child if isinstance(child, tuple) else (child,):
                total += _expanded_values(part, sizes, limit)
                if total > limit:
                    raise _AliasBomb
    sizes[id(node)] = total
    return total


def _bounded_constructor() -> type:
    from ruamel.yaml.constructor import SafeConstructor

    class BoundedConstructor(SafeConstructor):
        def get_single_data(self) -> Any:
            node = self.composer.get_single_node()
            if node is None:
                return None
            _expanded_values(node, {}, MAX_YAML_VALUES)
            return self.construct_document(node)

    return BoundedConstructor


def load_yaml(text: str, source: str) -> Any:
    """YAML 1.2 (ruamel.yaml's safe loader), or ScoreConfigError naming the line."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="safe", pure=True)
    yaml.Constructor = _bounded_constructor()
    try:
        return yaml.load(text)
    except _AliasBomb:
        raise ScoreConfigError(
            f"{source}: invalid YAML: its aliases expand to more than {MAX_YAML_VALUES:,} "
            "values (an alias bomb?)"
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "syntax error"
        raise ScoreConfigError(f"{source}: invalid YAML{where}: {problem}") from None
    except YAMLError as exc:
        raise ScoreConfigError(f"{source}: invalid YAML: {str(exc)[:200]}") from None
    except RecursionError:
        raise ScoreConfigError(f"{source}: invalid YAML: nested too deeply") from None
    except (ValueError, LookupError, TypeError, AttributeError, OverflowError) as exc:
        # Some values make Python's own constructors fail: a date such as 2023-02-29, an
        # integer past Python's 4300-digit limit, a tag on a value it cannot build.
        raise ScoreConfigError(
            f"{source}: invalid YAML value ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None


def parse_score_config(text: str | None, source: str = "score configuration") -> Any:
    """The score the YAML describes, checked: a LangGraphScore or one of the simple classes."""
    if text is None or not str(text).strip():
        raise ScoreConfigError(f"{source}: configuration is empty")
    data = load_yaml(str(text), source)
    return score_from_mapping(data, source)


def score_from_mapping(data: Any, source: str) -> Any:
    score = _score_of_class(data, source)
    if data.get("class") != "LangGraphScore":
        # Plexus honours depends_on whatever the class; LangGraphScore reads its own.
        from plexus.scores.dependencies import parse_depends_on

        score.depends_on = parse_depends_on(data.get("depends_on"), source)
    if score.name is not None and score.name in score.depends_on:
        raise ScoreConfigError(f"{source}: depends_on has a cycle: {score.name} -> {score.name}")
    return score


def _score_of_class(data: Any, source: str) -> Any:
    if not isinstance(data, dict):
        raise ScoreConfigError(
            f"{source}: configuration must be a YAML mapping, not {type(data).__name__}"
        )
    kind = data.get("class")
    if kind is not None and not isinstance(kind, str):
        raise ScoreConfigError(
            f"{source}: class must be a score class's name, not {type(kind).__name__}; "
            f"this worker runs {', '.join(SUPPORTED_SCORES)}"
        )
    if kind in REFUSED_SCORES:
        raise ScoreConfigError(f"{source}: class {kind} is not supported: {REFUSED_SCORES[kind]}")
    if kind == "LangGraphScore":
        from plexus.scores.LangGraphScore import LangGraphScore

        try:
            return LangGraphScore.from_config(data, source)
        except (TypeError, AttributeError, KeyError) as exc:
            # A value of a shape no check above foresaw (a list where a name belongs...).
            raise ScoreConfigError(
                f"{source}: invalid configuration value ({type(exc).__name__}: {str(exc)[:200]})"
            ) from None
    if kind == "TactusScore":
        from plexus.scores.TactusScore import TactusScore

        return TactusScore.from_config(data, source)
    if kind == "LLMClassifier":
        from plexus.scores.LLMClassifier import LLMClassifier

        return LLMClassifier.from_config(data, source)
    if kind == "KeywordClassifier":
        from plexus.scores.KeywordClassifier import KeywordClassifier

        return KeywordClassifier.from_config(data, source)
    if kind == "RegexClassifier":
        from plexus.scores.RegexClassifier import RegexClassifier

        return RegexClassifier.from_config(data, source)
    shown = repr(kind) if kind is not None else "missing"
    raise ScoreConfigError(
        f"{source}: score class {shown[:100]} is not supported; "
        f"this worker runs {', '.join(SUPPORTED_SCORES)}"
    )
