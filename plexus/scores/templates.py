"""Jinja2 prompts, as Plexus renders them (LangChain's jinja2 template format).

Variables are the graph's state: `text`, `metadata`, `results["Score"].value`, and every
field earlier nodes set (`classification`, `explanation`, output aliases, `node_name.value`).
A missing variable renders empty (Plexus uses ChainableUndefined so an item without some
metadata still scores). Templates run in Jinja2's sandbox. A template that does not compile,
or fails while rendering, is an error naming the node, the message and the line.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from typing import Any

from plexus.core.errors import JobError, ScoreConfigError

# `'x' * n` and `n ** m` are evaluated only at render time, and bounded: Jinja2 would
# otherwise fold a constant such as `'x' * 300000000` while compiling, writing the whole
# value into generated Python source. The rendered prompt's own bound is
# PLEXUS_MAX_PROMPT_CHARS (plexus/scores/providers.py), checked before any model call.
MAX_REPEAT = 1 << 29
MAX_EXPONENT = 10_000


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import ChainableUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment

    class BoundedSandbox(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*":
                for seq, count in ((left, right), (right, left)):
                    sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                    if sized and len(seq) * count > MAX_REPEAT:
                        raise SecurityError(
                            f"a repetition of {len(seq) * count:,} items, more than {MAX_REPEAT:,}"
                        )
            elif operator == "**" and isinstance(right, int) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"an exponent of {right:,}, more than {MAX_EXPONENT:,}")
            return super().call_binop(context, operator, left, right)

    return BoundedSandbox(undefined=ChainableUndefined)


class Prompt:
    """One compiled message template of one node."""

    def __init__(self, source: str, where: str) -> None:
        from jinja2 import TemplateSyntaxError

        self.where = where
        self.source = source
        try:
            self._template = _environment().from_string(source)
        except TemplateSyntaxError as exc:
            raise ScoreConfigError(
                f"{where}: template error at line {exc.lineno}: {exc.message}"
            ) from None

    def render(self, variables: dict[str, Any]) -> str:
        try:
            return str(self._template.render(**variables))
        except Exception as exc:
            line = _template_line(exc)
            at = f" at line {line}" if line else ""
            raise JobError(
                f"{self.where}: template error{at}: {type(exc).__name__}: {str(exc)[:300]}"
            ) from None


def _template_line(exc: BaseException) -> int | None:
    """The template line a rendering error happened on: Jinja2 rewrites the traceback so
    the template's frames carry the template's own line numbers."""
    line = None
    tb = exc.__traceback__ or sys.exc_info()[2]
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
