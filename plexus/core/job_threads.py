"""The threads a job's scoring runs code in (a TactusScore procedure runs in one).

Cancelling a job's task cannot stop a thread it started; the score process needs to know
whether such a thread is still running (a Lua loop, say) before it calls the job stopped.
A job's set of running threads is a context variable, which `asyncio.to_thread` copies into
the thread: the code there wraps its work in `running()`.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_threads: contextvars.ContextVar[set[int] | None] = contextvars.ContextVar(
    "plexus_job_threads", default=None
)


def watch() -> set[int]:
    """A new set of this job's running threads, for this context and the threads it starts."""
    threads: set[int] = set()
    _threads.set(threads)
    return threads


@contextmanager
def running() -> Iterator[None]:
    """Count this thread among its job's running threads while the block runs."""
    threads = _threads.get()
    ident = threading.get_ident()
    if threads is not None:
        threads.add(ident)
    try:
        yield
    finally:
        if threads is not None:
            threads.discard(ident)
