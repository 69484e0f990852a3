"""The process boundary around scoring: a few score processes, many jobs in each.

Python cannot stop a thread, and a regex in C or a template loop never yields to the event
loop, so a job's scoring (plexus/worker/scoring.py) runs in a score process, which can be
killed. A process per job in flight cost 90 MiB (LangGraph) to 260 MiB (Tactus) each, so
here a few processes (about one per vCPU: plexus/core/sizing.py) each run many jobs'
scoring at once on their own event loop, as the worker's own process runs many jobs'
API calls. They are forked from this process after it imported the engine and, when the
drain holds such jobs, the model clients and the Tactus runtime, so those pages are
shared and imported once per container.

The watchdog (`ScorePool._watch`) keeps the time limit's promise without a process per job:
- each score process beats a heartbeat from its event loop into a page shared with this
  process (an anonymous shared mapping made before the fork: no /dev/shm), with the job
  whose code the loop is running at the moment;
- a job past its limit in a process whose loop still beats is cancelled there (it is
  waiting, on a model say); it FAILS naming the limit and node; if a thread of it still
  runs (a Tactus procedure's Lua loop) the process is stopped as below;
- a loop that stops beating is stuck in one job's code: no new job goes to it, the jobs
  sent after it stuck (never begun) go to another process at once, and after
  EVICT_AFTER_SECONDS the jobs it had begun are run again in another process (never
  failed, never lost; at most MAX_RERUNS times, then given back to PENDING for another
  claim); at the stuck job's limit the process is killed and that job FAILS naming the
  limit and node.
What a runaway costs its neighbours in the same process: EVICT_AFTER_SECONDS of waiting plus
their scoring again from the start (model calls paid twice, unless the PostgreSQL store kept
their outputs); jobs in the other processes, nothing.

Designed for Lambda, where /dev/shm is absent, so multiprocessing's Pool, Queue and Lock
(POSIX semaphores) fail with OSError errno 38: this uses only `Process` (fork), a socketpair
with frames of JSON (4-byte length, UTF-8) tagged by job, and an anonymous mmap. No secret
crosses it and none is on a command line: a score process is a fork of this one and already
holds the settings; JSON, not pickle, so nothing a score does in its process can run code in
this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import mmap
import multiprocessing
import os
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from plexus.core import sizing
from plexus.core.cost import Cost
from plexus.core.errors import JobFailure
from plexus.core.settings import SettingsError
from plexus.worker.scoring import ConfigCache, Scored, ScoreHost, ScoreRequest, run_score

if TYPE_CHECKING:
    from plexus.scores.run import ScoringSettings

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
# A frame larger than this is a broken or hostile process, not an answer.
MAX_FRAME = 256 * 1024 * 1024
# What a score process may ask of this process (ScoreHost's methods), and nothing else.
HOST_CALLS = frozenset(
    {"attached_files", "score_id_by_name", "newest_prediction", "fetch", "store_get", "store_put"}
)
# The shared page: the loop's last beat (time.monotonic, the same clock in every process),
# the tag of the job whose code the loop runs (-1: none), and since when.
_STATE = struct.Struct("=dqd")
BEAT_SECONDS = 0.1
# A loop silent this long is stuck in code that does not yield.
STUCK_AFTER_SECONDS = 1.0
# A loop stuck this long in one job's code gives its other jobs to another process.
EVICT_AFTER_SECONDS = 3.0
# How long a process has to answer a job's cancellation before it is stopped.
CANCEL_GRACE_SECONDS = 2.0
# Runs of one job in processes stopped for another's fault, before it is given back.
MAX_RERUNS = 2
WATCH_SECONDS = 0.1


class ScoreTimeout(JobFailure):
    """The job's scoring outlived its time limit; it was stopped."""


def overran(limit_seconds: float, node: str | None) -> ScoreTimeout:
    """A score past PLEXUS_SCORE_TIMEOUT_SECONDS, in the words the job and the CLI give."""
    where = f" (in node {node!r})" if node else ""
    return ScoreTimeout(
        f"the score did not finish within PLEXUS_SCORE_TIMEOUT_SECONDS={limit_seconds:g}s"
        f"{where}; its worker process was stopped"
    )


class OutOfTime(JobFailure):
    """The invocation ends before the job's scoring could finish (the job is given back)."""


class GivenBack(OutOfTime):
    """The job's score process was stopped for other jobs' faults more often than it may be
    run again; it goes back to PENDING for another claim (never FAILED for it)."""


class WorkerDied(JobFailure):
    """The worker process ended in the middle of a job (killed, out of memory, crashed)."""


class RemoteFailure(JobFailure):
    """An error raised behind the boundary, under its own class's name, with what its model
    calls cost before it (a failed TactusScore procedure's), if anything."""

    def __init__(self, type_name: str, message: str, cost: Cost | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.cost = cost


class _Evicted(Exception):
    """The job's process was stopped for another job's fault, or died: run it again."""


class _Unstarted(_Evicted):
    """The job was sent to a process already stuck in another job's code: it never began
    there, so sending it elsewhere costs nothing and counts as no run."""


def node_started(line: str) -> str | None:
    """The node a progress line starts ("node NAME (Kind)"; "node NAME: ..." ends one)."""
    if line.startswith("node ") and line.endswith(")") and ": " not in line:
        return line[5 : line.rfind(" (")]
    return None


def _encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, default=str).encode()
    return _HEADER.pack(len(body)) + body


def _decode_length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise WorkerDied(f"a score process sent a frame of {length:,} bytes")
    return int(length)


class _Shared:
    """The page a score process and the pool share (MAP_SHARED | MAP_ANONYMOUS, before fork)."""

    def __init__(self) -> None:
        self._page = mmap.mmap(-1, mmap.PAGESIZE)
        self.beat()

    def beat(self) -> None:
        _, tag, since = _STATE.unpack_from(self._page)
        _STATE.pack_into(self._page, 0, time.monotonic(), tag, since)

    def enter(self, tag: int) -> None:
        now = time.monotonic()
        _STATE.pack_into(self._page, 0, now, tag, now)

    def leave(self) -> None:
        _STATE.pack_into(self._page, 0, time.monotonic(), -1, 0.0)

    def read(self) -> tuple[float, int, float]:
        beat, tag, since = _STATE.unpack_from(self._page)
        return float(beat), int(tag), float(since)

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):
            self._page.close()


# --- the score process ---------------------------------------------------------------------


class _Tracked(Coroutine[Any, Any, None]):
    """A job's coroutine that marks the shared page with its tag while its code runs, so the
    pool knows whose code a stuck loop is in."""

    def __init__(self, inner: Coroutine[Any, Any, None], tag: int, shared: _Shared) -> None:
        self._inner, self._tag, self._shared = inner, tag, shared

    def send(self, value: Any) -> Any:
        self._shared.enter(self._tag)
        try:
            return self._inner.send(value)
        finally:
            self._shared.leave()

    def throw(self, *args: Any) -> Any:
        self._shared.enter(self._tag)
        try:
            return self._inner.throw(*args)
        finally:
            self._shared.leave()

    def close(self) -> None:
        self._inner.close()

    def __await__(self) -> Generator[Any, None, None]:
        return self._inner.__await__()


class _ChildHost:
    """ScoreHost in a score process: each call a request to the pool's process, tagged with
    the job, then its answer."""

    def __init__(self, child: _Child, tag: int) -> None:
        self._child, self._tag = child, tag

    async def attached_files(self, item: dict[str, Any]) -> list[str]:
        return await self._child.call(self._tag, "attached_files", item)  # type: ignore[no-any-return]

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None:
        return await self._child.call(self._tag, "score_id_by_name", scorecard_id, name)  # type: ignore[no-any-return]

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None:
        return await self._child.call(self._tag, "newest_prediction", item_id, score_id)  # type: ignore[no-any-return]

    async def fetch(self, item: dict[str, Any]) -> str:
        return await self._child.call(self._tag, "fetch", item)  # type: ignore[no-any-return]

    async def store_get(self, version_id: str, key: str) -> dict[str, Any] | None:
        return await self._child.call(self._tag, "store_get", version_id, key)  # type: ignore[no-any-return]

    async def store_put(self, version_id: str, key: str, output: dict[str, Any]) -> None:
        await self._child.call(self._tag, "store_put", version_id, key, output)


class _Child:
    """A score process's life: run each job it is sent as a task of its event loop."""

    def __init__(self, sock: socket.socket, scoring: ScoringSettings, shared: _Shared) -> None:
        from plexus.scores.providers import Models

        self.sock, self.scoring, self.shared = sock, scoring, shared
        self.models = Models(scoring)
        self.configs = ConfigCache()
        self.jobs: dict[int, asyncio.Task[None]] = {}
        self.calls: dict[int, asyncio.Future[Any]] = {}
        self.next_call = 0
        self.writer: asyncio.StreamWriter | None = None

    def send(self, message: dict[str, Any]) -> None:
        assert self.writer is not None
        self.writer.write(_encode(message))

    async def call(self, tag: int, name: str, *args: Any) -> Any:
        self.next_call += 1
        call_id = self.next_call
        future = asyncio.get_running_loop().create_future()
        self.calls[call_id] = future
        try:
            self.send({"tag": tag, "call": name, "id": call_id, "args": list(args)})
            answer = await future
        finally:
            self.calls.pop(call_id, None)
        if "raise" in answer:
            raise RemoteFailure(answer["raise"]["type"], answer["raise"]["message"])
        return answer["reply"]

    async def main(self) -> None:
        reader, self.writer = await asyncio.open_unix_connection(sock=self.sock)
        beating = asyncio.create_task(self._beat())
        try:
            while True:
                try:
                    header = await reader.readexactly(_HEADER.size)
                    message = json.loads(await reader.readexactly(_decode_length(header)))
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the pool's process went away
                self._dispatch(message)
        finally:
            beating.cancel()

    def _dispatch(self, message: dict[str, Any]) -> None:
        tag = int(message.get("tag", -1))
        if "score" in message:
            request = ScoreRequest.from_json(message["score"])
            self.jobs[tag] = asyncio.get_running_loop().create_task(
                _Tracked(self._job(tag, request), tag, self.shared)
            )
        elif "id" in message:
            future = self.calls.get(int(message["id"]))
            if future is not None and not future.done():
                future.set_result(message)
        elif "cancel" in message:
            # Popped here too: a job cancelled before its first step never runs its own
            # cleanup (the pool sends that for jobs it moved to another process).
            running = self.jobs.pop(tag, None)
            if running is not None:
                running.cancel()

    async def _beat(self) -> None:
        while True:
            self.shared.beat()
            await asyncio.sleep(BEAT_SECONDS)

    async def _job(self, tag: int, request: ScoreRequest) -> None:
        from plexus.core import job_threads

        threads = job_threads.watch()

        def progress(line: str) -> None:
            if line.startswith("node "):
                self.send({"tag": tag, "progress": line})

        answer: dict[str, Any]
        try:
            scored = await run_score(
                request, _ChildHost(self, tag), self.scoring, self.models, self.configs, progress
            )
            answer = {"done": scored.to_json()}
        except asyncio.CancelledError:
            # Stopped by the pool (its time limit): is a thread of it still running?
            for _ in range(10):
                if not threads:
                    break
                await asyncio.sleep(0.1)
            answer = {"cancelled": True, "stuck": bool(threads)}
        except (JobFailure, SettingsError) as exc:
            name = getattr(exc, "type_name", type(exc).__name__)
            answer = {"error": {"type": name, "message": str(exc), "expected": True}}
            cost = getattr(exc, "cost", None)
            if isinstance(cost, Cost):
                answer["error"]["cost"] = cost.to_json()
        except Exception as exc:
            log.exception("job %s: unexpected error while scoring", request.job_id)
            answer = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        finally:
            self.jobs.pop(tag, None)
        self.send({"tag": tag, **answer})


def _serve(
    sock: socket.socket,
    inherited: list[socket.socket],
    scoring: ScoringSettings,
    shared: _Shared,
    threads: int,
) -> None:
    for other in inherited:  # the other processes' pipes, so that their EOF still means EOF
        other.close()
    # A fork of a process inside a running event loop: that loop is not this process's.
    asyncio.events._set_running_loop(None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    # Tactus procedures run in threads: one for each job this process may hold at once.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=threads, thread_name_prefix="score"))
    try:
        loop.run_until_complete(_Child(sock, scoring, shared).main())
    finally:
        os._exit(0)  # nothing of the parent's (atexit, its threads) runs here


# --- the pool, in the worker's own process ----------------------------------------------------

# The engine, imported here once before the first fork so that every process starts with it
# (the job's time limit then counts scoring only). The model clients (openai, boto3) and
# the Tactus runtime stay lazy: a keyword job never needs them.
ENGINE_MODULES = (
    "plexus.scores.config",
    "plexus.scores.KeywordClassifier",
    "plexus.scores.RegexClassifier",
    "plexus.scores.LLMClassifier",
    "plexus.scores.LangGraphScore",
    "plexus.scores.providers",
    "plexus.worker.score_input",
    "ruamel.yaml",
    "jinja2.sandbox",
)


# A score that names one of these is likely to need these modules. Imported in this process
# before a fork, they are shared by every score process forked after. The names are a hint
# read off the YAML's text, never parsed here: a wrong guess only costs an import.
# openai imports most of itself on a client's first request (its resources and types, the
# HTTP stack under httpx, aiohttp here): 340 modules, seconds of a cold process, once here.
_OPENAI = (
    "openai",
    "openai.resources.chat.completions",
    "openai.types.chat",
    "httpx_aiohttp",
    "aiohttp",
    "plexus.scores.run",
)
MODEL_CLIENTS = {
    "LangGraphScore": (
        *_OPENAI,
        "plexus.scores.code",
        *(f"plexus.scores.nodes.{name}" for name in ("Classifier", "LogicalClassifier")),
    ),
    "LLMClassifier": _OPENAI,
    "BedrockChat": ("boto3",),
    # What a first procedure imports beyond tactus_runtime.load(): its runtime, and the
    # model path under litellm (openai's SDK, rapidfuzz): 355 modules.
    "TactusScore": (
        *_OPENAI,
        "plexus.scores.TactusScore",
        "plexus.core.job_threads",
        "tactus.core.runtime",
        "tactus.stdlib.loader",
        "tactus.adapters.memory",
        "tactus.adapters.cost_collector_log",
        "rapidfuzz.fuzz",
        "rapidfuzz.process",
    ),
}


def _import_engine() -> None:
    import importlib

    for name in ENGINE_MODULES:
        importlib.import_module(name)


def _prepare(configuration: str | None, engine: bool, needs: dict[str, Callable[[], None]]) -> None:
    if engine:
        _import_engine()
    _import_model_clients(configuration)
    for name, need in needs.items():
        try:
            need()
        except Exception as exc:  # what needed it meets the error again, and reports it
            log.warning("preparing %s before a fork failed: %s", name, exc)


def _import_model_clients(configuration: str | None) -> None:
    import importlib
    import sys

    for hint, modules in MODEL_CLIENTS.items():
        if configuration and hint in configuration:
            if hint == "TactusScore":
                from plexus.scores import tactus_runtime

                # First: it sets what litellm reads at import (no price table from GitHub).
                tactus_runtime.load()
            for name in modules:
                if name not in sys.modules:
                    importlib.import_module(name)


@dataclass(eq=False)
class _Flight:
    """One job's scoring in a score process."""

    tag: int
    request: ScoreRequest
    host: ScoreHost
    limit_at: float  # its time limit
    ends_at: float | None  # the invocation's end, when that comes first
    future: asyncio.Future[Scored]
    nodes: list[str] = field(default_factory=list)
    host_error: BaseException | None = None
    cancel_sent: float | None = None
    sent_at: float = field(default_factory=time.monotonic)

    @property
    def deadline(self) -> float:
        return self.limit_at if self.ends_at is None else min(self.limit_at, self.ends_at)

    def settle(self, outcome: Scored | BaseException) -> None:
        if self.future.done():
            return
        if isinstance(outcome, BaseException):
            self.future.set_exception(outcome)
        else:
            self.future.set_result(outcome)


class _Process:
    """A score process and its jobs in flight, seen from the pool."""

    def __init__(self, process: Any, sock: socket.socket, shared: _Shared) -> None:
        self.process, self.sock, self.shared = process, sock, shared
        self.flights: dict[int, _Flight] = {}
        self.retiring = False  # takes no new job; stopped once its jobs are out
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._reader: asyncio.Task[None] | None = None
        self._buffer = bytearray()

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def bind(self, pool: ScorePool) -> None:
        """Read this process's frames on the running loop (a warm container's next
        invocation runs a new loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._reader is None or self._reader.done():
            self._loop, self._lock = loop, asyncio.Lock()
            self._reader = loop.create_task(pool._read(self))

    async def send(self, message: dict[str, Any]) -> None:
        assert self._loop is not None and self._lock is not None
        async with self._lock:  # frames whole, one after another
            await self._loop.sock_sendall(self.sock, _encode(message))

    async def frames(self) -> Any:
        """Frames as they come; the buffer outlives a reader cancelled with its loop."""
        assert self._loop is not None
        while True:
            while len(self._buffer) >= _HEADER.size:
                length = _decode_length(bytes(self._buffer[: _HEADER.size]))
                if len(self._buffer) < _HEADER.size + length:
                    break
                body = bytes(self._buffer[_HEADER.size : _HEADER.size + length])
                del self._buffer[: _HEADER.size + length]
                yield json.loads(body)
            data = await self._loop.sock_recv(self.sock, 1 << 16)
            if not data:
                raise EOFError
            self._buffer += data

    def kill(self) -> None:
        if self._reader is not None and not self._reader.done():
            with contextlib.suppress(RuntimeError):  # its loop is closed
                self._reader.cancel()
        self.sock.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2)
        self.shared.close()

    def exit_description(self) -> str:
        self.process.join(1)
        code = self.process.exitcode
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


class ScorePool:
    """A few score processes, each scoring many jobs at once, under a watchdog."""

    def __init__(
        self,
        scoring: ScoringSettings,
        *,
        limit_seconds: float,
        keep: int,
        processes: int | None = None,
    ) -> None:
        self.scoring = scoring
        self.limit_seconds = limit_seconds
        # Jobs at once across the pool (the processor's concurrency): each process's threads.
        self.keep = keep
        self.processes = processes or sizing.cores()
        self._procs: list[_Process] = []
        self._owner = os.getpid()
        self._next_tag = 0
        self._watchdog: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._forking: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._parent_needs: dict[str, Callable[[], None]] = {}
        self.reruns = 0  # jobs run again after their process was stopped for another's fault

    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def _start(self) -> _Process:
        ours, theirs = socket.socketpair()
        shared = _Shared()
        context = multiprocessing.get_context("fork")
        inherited = [p.sock for p in self._procs] + [ours]
        process = context.Process(
            target=_serve,
            args=(theirs, inherited, self.scoring, shared, max(8, self.keep + 4)),
            daemon=True,
            name="score",
        )
        # What is alive here now (the modules imported for the processes, mostly) is
        # frozen: neither this process's collector nor the child's walks it again, and a
        # walk writes to every object's header, which would copy each shared page into the
        # child (measured: 58 MiB less PSS for a Tactus drain's tree). A cycle among a job's
        # objects alive at a fork is never collected in this process; forks are few.
        gc.freeze()
        process.start()
        theirs.close()
        ours.setblocking(False)
        proc = _Process(process, ours, shared)
        self._procs.append(proc)
        return proc

    def _least_busy(self) -> _Process | None:
        """The process for the next job, or None when another should be forked for it."""
        now = time.monotonic()
        for proc in list(self._procs):
            if not proc.process.is_alive():
                self._stop(proc, None, f"ended ({proc.exit_description()})")
        ready = [p for p in self._procs if not p.retiring]
        # A process whose loop does not turn is no place for a new job (while stuck it is
        # still counted: it is retired once its stuck job is out, and a new one takes over).
        turning = [p for p in ready if now - p.shared.read()[0] <= STUCK_AFTER_SECONDS]
        least = min(turning, key=lambda p: len(p.flights), default=None)
        if least is None or (least.flights and len(ready) < self.processes):
            return None
        return least

    def before_fork(self, name: str, prepare: Callable[[], None]) -> None:
        """Run `prepare` (what this process itself will need: the attachments' boto3 client)
        before the first fork, in a thread and under the lock of the engine's imports: the
        forks share what it makes, and none is forked while another thread imports (a child
        would inherit a module lock held by that thread). One pending `prepare` a name;
        `prepare_soon` starts them before a fork is needed."""
        if not self._procs:
            self._parent_needs[name] = prepare

    def prepare_soon(self) -> None:
        """Start the pending `before_fork` work now, in the background (a job was claimed:
        its API round trips hide it), so that the first fork finds it done."""
        if self._parent_needs and not self._procs:
            self._spawn(self._prepare_needs())

    async def _prepare_needs(self) -> None:
        async with self._fork_lock():
            needs, self._parent_needs = self._parent_needs, {}
            if needs:
                await asyncio.to_thread(_prepare, None, False, needs)

    def _fork_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._forking is None or self._forking[0] is not loop:
            self._forking = (loop, asyncio.Lock())
        return self._forking[1]

    async def _pick(self, request: ScoreRequest) -> _Process:
        if os.getpid() != self._owner:
            raise RuntimeError("a score pool belongs to the process that made it")
        least = self._least_busy()
        if least is not None:
            return least
        # One import-and-fork at a time, never a fork while this process imports (a child
        # would inherit a module lock held by the importing thread).
        async with self._fork_lock():
            least = self._least_busy()
            if least is None:
                # What the processes will need, imported before they are forked: in a
                # thread, so that the jobs in flight keep being served meanwhile (the Tactus
                # runtime takes seconds).
                first = not self._procs
                needs, self._parent_needs = self._parent_needs, {}
                await asyncio.to_thread(_prepare, request.configuration, first, needs)
                least = self._start()
        return least

    def close(self) -> None:
        for proc in list(self._procs):
            self._stop(proc, None, "the pool closed")

    async def score(
        self, request: ScoreRequest, host: ScoreHost, *, ends_at: float | None = None
    ) -> Scored:
        """Score in a score process within the time limit; `ends_at` (time.monotonic()) is
        the invocation's own deadline, which makes the job OutOfTime rather than too slow."""
        runs = 0
        while True:
            if ends_at is not None and ends_at <= time.monotonic():
                raise OutOfTime("the invocation ends before the score could start")
            proc = await self._pick(request)
            proc.bind(self)
            self._next_tag += 1
            flight = _Flight(
                self._next_tag,
                request,
                host,
                time.monotonic() + self.limit_seconds,
                ends_at,
                asyncio.get_running_loop().create_future(),
            )
            proc.flights[flight.tag] = flight
            self._ensure_watchdog()
            try:
                await proc.send({"tag": flight.tag, "score": request.to_json()})
                return await flight.future
            except _Unstarted:
                pass
            except _Evicted as exc:
                runs += 1
                self.reruns += 1
                if runs > MAX_RERUNS:
                    raise GivenBack(
                        f"the score's process was stopped {runs} times for other jobs "
                        f"({exc}); the job goes back to be claimed again"
                    ) from None
                log.warning("job %s: %s; scoring it again", request.job_id, exc)
            except OSError as exc:  # the process's socket is gone: it died
                self._stop(proc, None, f"its socket failed ({exc})")
                runs += 1
                if runs > MAX_RERUNS:
                    raise GivenBack("the score's process failed; given back") from None
            except asyncio.CancelledError:
                if flight.tag in proc.flights and proc in self._procs:
                    self._spawn(proc.send({"tag": flight.tag, "cancel": True}))
                raise
            finally:
                proc.flights.pop(flight.tag, None)
                if proc.retiring and not proc.flights and proc in self._procs:
                    self._stop(proc, None, "retired")

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- one process's frames ------------------------------------------------------------

    async def _read(self, proc: _Process) -> None:
        try:
            async for message in proc.frames():
                flight = proc.flights.get(int(message.get("tag", -1)))
                if flight is not None:
                    self._on_message(proc, flight, message)
        except (EOFError, OSError, WorkerDied, ValueError) as exc:
            if proc in self._procs:
                what = exc if isinstance(exc, WorkerDied) else proc.exit_description()
                self._lost(proc, f"the score's process ended ({what})")

    def _on_message(self, proc: _Process, flight: _Flight, message: dict[str, Any]) -> None:
        if "progress" in message:
            if (started := node_started(str(message["progress"]))) is not None:
                flight.nodes.append(started)
        elif "call" in message:
            name = str(message["call"])
            if name not in HOST_CALLS:
                self._stop(proc, None, f"it asked for {name[:50]!r}")
                flight.settle(WorkerDied(f"a score process asked for {name[:50]!r}"))
                return
            self._spawn(self._answer(proc, flight, name, message))
        elif "done" in message:
            flight.settle(Scored.from_json(message["done"]))
        elif "cancelled" in message:
            flight.settle(self._too_late(flight))
            if message.get("stuck"):
                # A thread of the job still runs its code: only stopping the process ends it.
                self._stop(proc, None, "a stopped job's code still ran in it")
        else:
            error = message.get("error") or {}
            if flight.host_error is not None:
                flight.settle(flight.host_error)  # this process's own error, as raised here
            elif error.get("expected"):
                cost = Cost.from_json(error["cost"]) if error.get("cost") else None
                flight.settle(
                    RemoteFailure(str(error.get("type")), str(error.get("message")), cost)
                )
            else:
                flight.settle(
                    RemoteFailure(
                        str(error.get("type")),
                        f"internal error: {error.get('type')}: {error.get('message')}",
                    )
                )

    async def _answer(self, proc: _Process, flight: _Flight, name: str, message: Any) -> None:
        answer: dict[str, Any] = {"tag": flight.tag, "id": message.get("id")}
        try:
            answer["reply"] = await getattr(flight.host, name)(*message.get("args", []))
        except Exception as exc:
            flight.host_error = exc
            answer["raise"] = {"type": type(exc).__name__, "message": str(exc)}
        if flight.tag in proc.flights and proc in self._procs:
            with contextlib.suppress(OSError):
                await proc.send(answer)

    def _too_late(self, flight: _Flight) -> JobFailure:
        node = flight.nodes[-1] if flight.nodes else None
        if flight.ends_at is not None and flight.ends_at < flight.limit_at:
            where = f" (in node {node!r})" if node else ""
            return OutOfTime(f"the invocation ends before the score could finish{where}")
        return overran(self.limit_seconds, node)

    # --- the watchdog --------------------------------------------------------------------

    def _ensure_watchdog(self) -> None:
        loop = asyncio.get_running_loop()
        if self._watchdog is None or self._watchdog.done() or self._watchdog.get_loop() is not loop:
            self._watchdog = loop.create_task(self._watch())

    async def _watch(self) -> None:
        while any(p.flights for p in self._procs):
            await asyncio.sleep(WATCH_SECONDS)
            now = time.monotonic()
            for proc in list(self._procs):
                if proc.flights:
                    self._check(proc, now)

    def _check(self, proc: _Process, now: float) -> None:
        beat, tag, since = proc.shared.read()
        stuck = now - beat > STUCK_AFTER_SECONDS
        culprit = proc.flights.get(tag) if stuck else None
        if culprit is not None:
            # Jobs sent after the loop stuck never began: elsewhere at once. The process is
            # told to drop them too: a loop held for less than the limit turns again, and it
            # would begin them beside their new runs (their models paid twice).
            for flight in list(proc.flights.values()):
                if flight is not culprit and flight.sent_at > since and not flight.future.done():
                    flight.settle(_Unstarted())
                    self._spawn(self._cancel(proc, flight))
            # Its other neighbours wait on a loop that does not turn: they go elsewhere, and
            # are cancelled there for when it turns again.
            if now - since > EVICT_AFTER_SECONDS and len(proc.flights) > 1:
                proc.retiring = True
                for flight in list(proc.flights.values()):
                    if flight is not culprit and not flight.future.done():
                        flight.settle(
                            _Evicted(
                                f"job {culprit.request.job_id}'s code held its score process "
                                f"for {now - since:.0f}s"
                            )
                        )
                        self._spawn(self._cancel(proc, flight))
            if now >= culprit.deadline:
                culprit.settle(self._too_late(culprit))
                self._stop(proc, culprit, "a job outlived its time limit in it")
            return
        for flight in list(proc.flights.values()):
            if now < flight.deadline:
                continue
            if stuck or (
                flight.cancel_sent is not None and now - flight.cancel_sent > CANCEL_GRACE_SECONDS
            ):
                # Stuck outside any one job's code (or deaf to the cancel): stop it.
                flight.settle(self._too_late(flight))
                self._stop(proc, flight, "a job outlived its time limit in it")
                return
            if flight.cancel_sent is None:
                flight.cancel_sent = now
                self._spawn(self._cancel(proc, flight))

    async def _cancel(self, proc: _Process, flight: _Flight) -> None:
        with contextlib.suppress(OSError):
            await proc.send({"tag": flight.tag, "cancel": True})

    def _stop(self, proc: _Process, culprit: _Flight | None, why: str) -> None:
        """Kill the process; its jobs other than `culprit` run again elsewhere."""
        if proc in self._procs:
            self._procs.remove(proc)
        for flight in list(proc.flights.values()):
            if flight is not culprit:
                flight.settle(_Evicted(f"its score process was stopped: {why}"))
        proc.kill()

    def _lost(self, proc: _Process, why: str) -> None:
        """The process ended by itself (killed from outside, out of memory, crashed)."""
        log.warning("score process %d: %s", proc.pid, why)
        self._stop(proc, None, why)


_shared: ScorePool | None = None


def shared_pool(
    scoring: ScoringSettings, *, limit_seconds: float, keep: int, processes: int | None = None
) -> ScorePool:
    """The container's pool: kept across invocations while the settings stay the same."""
    global _shared
    pool = _shared
    if pool is None or pool.scoring != scoring or pool._owner != os.getpid():
        if pool is not None and pool._owner == os.getpid():
            pool.close()
        pool = _shared = ScorePool(
            scoring, limit_seconds=limit_seconds, keep=keep, processes=processes
        )
    pool.limit_seconds, pool.keep = limit_seconds, max(pool.keep, keep)
    if processes is not None:
        pool.processes = processes
    return pool
