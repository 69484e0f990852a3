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


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import ChainableUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=ChainableUndefined)


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
