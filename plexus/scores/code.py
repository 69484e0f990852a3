"""Python `code:` of LogicalClassifier and LogicalNode, compiled and run as Plexus does.

The code comes from the score's own configuration, which its authors control in Plexus
(Plexus `exec`s it too); it is not sandboxed. What it prints goes to the job's log. A
syntax error names the node and the line at parse time; an exception while it runs names
the node, the line in `code:` and the error, and fails the job.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any, cast

from plexus.core.errors import JobError, ScoreConfigError

log = logging.getLogger("plexus.scores.code")


def compile_function(code: Any, function_name: str, where: str, node: str) -> Callable[..., Any]:
    if code is None:
        # Plexus's pydantic parameters say "code\n  Field required".
        raise ScoreConfigError(
            f"{where}: code: Field required (Python source defining {function_name}())"
        )
    if not isinstance(code, str) or not code.strip():
        raise ScoreConfigError(f"{where}: code must be Python source defining {function_name}()")
    from plexus.scores.Score import Score

    filename = f"<code of node {node}>"
    try:
        compiled = compile(code, filename, "exec")
    except SyntaxError as exc:
        raise ScoreConfigError(
            f"{where}: code has a syntax error at line {exc.lineno}: {exc.msg}"
        ) from None

    def say(*args: Any, sep: str = " ", **_: Any) -> None:
        log.info("[%s] %s", node, sep.join(str(a) for a in args))

    namespace: dict[str, Any] = {
        "Score": Score,
        "print": say,
        "log": say,
        "log_info": say,
        "log_debug": lambda m: log.debug("[%s] %s", node, m),
        "log_warning": lambda m: log.warning("[%s] %s", node, m),
        "log_error": lambda m: log.error("[%s] %s", node, m),
        "logging": logging,
    }
    try:
        exec(compiled, namespace)
    except Exception as exc:
        raise ScoreConfigError(
            f"{where}: code failed to load{_line(exc, filename)}: {exc}"
        ) from None
    function = namespace.get(function_name)
    if not callable(function):
        raise ScoreConfigError(f"{where}: Code must define a '{function_name}' function")
    function.__plexus_filename__ = filename
    return cast("Callable[..., Any]", function)


def call(function: Callable[..., Any], where: str, *args: Any) -> Any:
    try:
        return function(*args)
    except Exception as exc:
        line = _line(exc, getattr(function, "__plexus_filename__", ""))
        raise JobError(
            f"{where}: code raised {type(exc).__name__}{line}: {str(exc)[:300]}"
        ) from None


def _line(exc: BaseException, filename: str) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return f" at line {lines[-1]}" if lines else ""
