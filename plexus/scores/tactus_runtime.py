"""The `tactus` runtime for TactusScore: loaded once a process, on the first Tactus job.

Nothing here is imported on any other job's path: tactus brings dspy, litellm and numpy
(seconds of imports). Loading it prepares what a Lambda needs and tactus does not do:

- litellm's price table comes from the package (`LITELLM_LOCAL_MODEL_COST_MAP`), never
  from GitHub at import (a VPC without a NAT gateway would wait on it every cold start);
- dspy's disk cache lives under the temporary directory (`/tmp` on Lambda, the only
  writable place), not `~/.dspy_cache`; dspy's process-wide history of calls (every
  prompt, up to 10,000) keeps only the newest entry.

And it gives each agent its own model. tactus configures dspy's process-wide LM the
first time any agent runs and never again (`get_current_lm() is None`), so every later
score in the process ran on the first score's model; and dspy lets only the thread and
asyncio task that configured it first change it. Here dspy is never configured: each
agent turn runs under `dspy.context(lm=...)` with an LM made from that agent's own model
and parameters, exactly as tactus's `configure_lm` would have made it, and tactus's
`get_current_lm` answers what is in effect in the calling context. Context overrides are
a contextvar, so concurrent procedures (threads, asyncio tasks) each see their own.

A procedure runs in a worker thread with its own event loop (`run_procedure`): tactus
calls models synchronously, which would otherwise stop every other job of the invocation
while one model answers.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from plexus.core.errors import JobError

# The tactus this module was written against (its agent's turn and LM configuration).
TACTUS_VERSION = "0.49.0"

_lock = threading.Lock()
_loaded = threading.Event()


@dataclass(frozen=True)
class Credentials:
    """Settings passed to each model call by provider prefix (`openai/...`), so the
    worker's settings apply rather than whatever the process environment holds."""

    # Keys among them: never in a repr (a log line, a traceback's locals).
    by_provider: Mapping[str, Mapping[str, str]] = field(default_factory=dict, repr=False)
    # The client's wait for one reply and its retries (litellm's `timeout` and dspy's
    # `num_retries`, default 3 as this worker's PLEXUS_MODEL_MAX_RETRIES); neither is
    # part of the request.
    timeout_seconds: float | None = None
    max_retries: int | None = None

    def for_model(self, model: str) -> dict[str, Any]:
        provider = model.split("/", 1)[0] if "/" in model else "openai"
        found: dict[str, Any] = dict(self.by_provider.get(provider, {}))
        if self.timeout_seconds is not None:
            found["timeout"] = self.timeout_seconds
        if self.max_retries is not None:
            found["num_retries"] = self.max_retries
        return found


# The credentials of the procedure running in this context (set by run_procedure).
_credentials: contextvars.ContextVar[Credentials | None] = contextvars.ContextVar(
    "tactus_credentials", default=None
)


def prepare_environment() -> None:
    """Settings that must be in place before litellm or dspy is imported."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    os.environ.setdefault("DSPY_CACHEDIR", os.path.join(tempfile.gettempdir(), "dspy_cache"))


def load() -> None:
    """Import tactus (once) and give its agents a model each; idempotent, thread-safe."""
    if _loaded.is_set():
        return
    with _lock:
        if _loaded.is_set():
            return
        prepare_environment()
        import dspy
        import dspy.clients.base_lm as base_lm
        import tactus
        import tactus.dspy as tactus_dspy
        import tactus.dspy.config as tactus_config
        from tactus.dspy.agent import DSPyAgentHandle

        if tactus.__version__ != TACTUS_VERSION:
            raise JobError(
                f"TactusScore needs tactus {TACTUS_VERSION}; this image has {tactus.__version__}"
            )
        # Only the newest call is read (for its cost); the rest would hold every prompt.
        base_lm.MAX_HISTORY_SIZE = 1

        def current_lm() -> Any:
            return dspy.settings.lm

        tactus_config.get_current_lm = current_lm
        tactus_dspy.get_current_lm = current_lm
        _give_agents_their_own_lm(DSPyAgentHandle)
        _loaded.set()


def _give_agents_their_own_lm(handle: Any) -> None:
    import dspy
    from dspy.adapters.chat_adapter import ChatAdapter
    from tactus.dspy.agent import _normalize_model_for_litellm
    from tactus.dspy.config import create_lm

    original = handle._execute_turn

    def execute_turn(self: Any, opts: dict[str, Any]) -> Any:
        if not self.model:
            return original(self, opts)
        lm = getattr(self, "_plexus_lm", None)
        if lm is None:
            model = _normalize_model_for_litellm(self.model, self.provider)
            # The parameters tactus's _execute_turn hands configure_lm, no more.
            kwargs: dict[str, Any] = {}
            for name in (
                "temperature",
                "max_tokens",
                "model_type",
                "reasoning_effort",
                "verbosity",
            ):
                if getattr(self, name, None) is not None:
                    kwargs[name] = getattr(self, name)
            if self.tool_choice is not None and (self.tools or self.toolsets):
                kwargs["tool_choice"] = self.tool_choice
            credentials = _credentials.get() or Credentials()
            lm = create_lm(model, **credentials.for_model(model), **kwargs)
            self._plexus_lm = lm
        try:
            adapter = ChatAdapter(use_native_function_calling=True)
        except TypeError:  # as configure_lm: older adapters take no such argument
            adapter = ChatAdapter()
        with dspy.context(lm=lm, adapter=adapter):
            return original(self, opts)

    handle._execute_turn = execute_turn


@dataclass
class ProcedureRun:
    """What one execution gave: tactus's result dict and every model call's cost event
    (collected as the calls happen, so a procedure that fails later still has them)."""

    result: dict[str, Any]
    cost_events: list[Any]


def run_procedure(
    code: str, context: dict[str, Any], procedure_id: str, credentials: Credentials
) -> ProcedureRun:
    """Run `code` on a fresh runtime (tactus's runtime keeps state between executions),
    in this thread, in an event loop of its own."""
    load()
    from tactus.adapters.cost_collector_log import CostCollectorLogHandler
    from tactus.adapters.memory import MemoryStorage
    from tactus.core.runtime import TactusRuntime

    costs = CostCollectorLogHandler()
    runtime = TactusRuntime(
        procedure_id=procedure_id,
        storage_backend=MemoryStorage(),
        # Keys reach each model call through `credentials`; tactus would copy this one
        # into the process environment.
        openai_api_key=None,
        log_handler=costs,
    )
    token = _credentials.set(credentials)
    try:
        result = asyncio.run(runtime.execute(code, context=context, format="lua"))
    finally:
        _credentials.reset(token)
    return ProcedureRun(result=result, cost_events=list(costs.cost_events))


async def run_procedure_in_thread(
    code: str, context: dict[str, Any], procedure_id: str, credentials: Credentials
) -> ProcedureRun:
    """run_procedure in a worker thread, so the caller's event loop keeps serving others.
    The thread counts as its job's while it runs (plexus/core/job_threads.py): a cancelled
    job whose procedure still runs (a Lua loop) makes its score process stop."""
    from plexus.core import job_threads

    def in_thread() -> ProcedureRun:
        with job_threads.running():
            return run_procedure(code, context, procedure_id, credentials)

    return await asyncio.to_thread(in_thread)
