"""Per-job log capture (the `log.txt` attachment) and secret redaction for every log line.

Jobs run concurrently on one event loop, so the current job is a context variable; a
handler on the `plexus` logger copies each record into that job's buffer.
"""

from __future__ import annotations

import contextvars
import logging
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

_current: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "plexus_job_log", default=None
)
_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


class RedactingFilter(logging.Filter):
    """Replaces every known secret value in a record with ***: its message, and its
    traceback (exception text and chained causes) and stack, which formatters render from
    `exc_info` and `stack_info` after every filter has run."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            clean = self.redact(text)
            if clean != text:
                # The exception object itself holds the secret, and formatters (powertools'
                # among them) render it anew: log its redacted text as part of the message.
                record.msg = f"{record.msg}\n{clean.rstrip()}"
                record.exc_info, record.exc_text = None, None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


class _JobBufferHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer = _current.get()
        if buffer is not None:
            buffer.append(self.format(record))


_handler = _JobBufferHandler(level=logging.DEBUG)
_handler.setFormatter(_FORMAT)


class _Handlers(Protocol):
    """A logging.Logger, or powertools' Logger, which keeps the handlers of one."""

    @property
    def handlers(self) -> list[logging.Handler]: ...

    def addHandler(self, handler: logging.Handler) -> None: ...


def install(logger: _Handlers, secrets: Iterable[str]) -> RedactingFilter:
    """Attach job capture to `logger`, and redaction to each of its handlers.

    Handler filters, unlike logger filters, also see records from child loggers.
    Calling it again replaces the secrets.
    """
    if _handler not in logger.handlers:
        logger.addHandler(_handler)
    return redact_handlers(logger, secrets)


def redact_handlers(logger: _Handlers, secrets: Iterable[str]) -> RedactingFilter:
    """Redaction on each of `logger`'s handlers (the root's: httpx, boto, the SDKs log there)."""
    redactor = RedactingFilter(secrets)
    for handler in logger.handlers:
        for old in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(old)
        handler.addFilter(redactor)
    return redactor


@contextmanager
def capture() -> Iterator[list[str]]:
    """Collect the log lines of the current job (this task and what it awaits)."""
    lines: list[str] = []
    token = _current.set(lines)
    try:
        yield lines
    finally:
        _current.reset(token)
