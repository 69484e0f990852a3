"""The process boundary around scoring: a pool of worker processes, one job at a time each.

Python cannot stop a thread, and a regex in C or a template loop never yields to the event
loop, so a job's scoring (plexus/worker/scoring.py) runs in a process of its own, which is
killed when the job outlives its time limit. The job fails naming the limit and the node it
was in; the other jobs run in other processes and go on.

Designed for Lambda, where /dev/shm is absent, so multiprocessing's Pool, Queue and Lock
(POSIX semaphores) fail with OSError errno 38: this uses only `Process` (fork) and a
socketpair, with frames of JSON (4-byte length, UTF-8). No secret crosses it and none is on
a command line: a worker is a fork of this process and already holds the settings; JSON,
not pickle, so nothing a score does in its process can run code in this one.

Workers are forked on the first job (the empty poll never starts one), kept across jobs and
invocations of a warm container, and at most one per job running at once: the processor's
concurrency bounds them. Each is a process the kernel schedules on any vCPU, so scoring uses
every core Lambda gives (os.sched_getaffinity is the bound on parallel scoring CPU; I/O
waits, such as model calls, take no core).
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import os
import socket
import struct
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from plexus.core.cost import Cost
from plexus.core.errors import JobFailure
from plexus.core.settings import SettingsError
from plexus.worker.scoring import ConfigCache, Scored, ScoreHost, ScoreRequest, run_score

if TYPE_CHECKING:
    from plexus.scores.run import ScoringSettings

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
# A frame larger than this is a broken or hostile worker, not an answer.
MAX_FRAME = 256 * 1024 * 1024
# What a worker may ask of this process (ScoreHost's methods), and nothing else.
HOST_CALLS = frozenset(
    {"attached_files", "score_id_by_name", "newest_prediction", "fetch", "store_get", "store_put"}
)


class ScoreTimeout(JobFailure):
    """The job's scoring outlived its time limit; its worker process was killed."""


def overran(limit_seconds: float, node: str | None) -> ScoreTimeout:
    """A score past PLEXUS_SCORE_TIMEOUT_SECONDS, in the words the job and the CLI give."""
    where = f" (in node {node!r})" if node else ""
    return ScoreTimeout(
        f"the score did not finish within PLEXUS_SCORE_TIMEOUT_SECONDS={limit_seconds:g}s"
        f"{where}; its worker process was stopped"
    )


class OutOfTime(JobFailure):
    """The invocation ends before the job's scoring could finish."""


class WorkerDied(JobFailure):
    """The worker process ended in the middle of a job (killed, out of memory, crashed)."""


class RemoteFailure(JobFailure):
    """An error raised behind the boundary, under its own class's name, with what its model
    calls cost before it (a failed TactusScore procedure's), if anything."""

    def __init__(self, type_name: str, message: str, cost: Cost | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name
        self.cost = cost


def cores() -> int:
    """vCPUs this process may run on (Lambda: 1 per 1,769 MB, up to 6)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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
        raise WorkerDied(f"a score worker sent a frame of {length:,} bytes")
    return int(length)


# --- the worker process --------------------------------------------------------------------


def _recv_blocking(sock: socket.socket) -> dict[str, Any] | None:
    def exactly(n: int) -> bytes | None:
        chunks, got = [], 0
        while got < n:
            try:
                chunk = sock.recv(min(n - got, 1 << 20))
            except ConnectionError:  # the parent went away mid-frame
                return None
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    header = exactly(_HEADER.size)
    if header is None:
        return None
    body = exactly(_decode_length(header))
    return None if body is None else json.loads(body)


class _PipeHost:
    """ScoreHost in the worker: each call a request to the pool's process, then its answer."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def _call(self, name: str, *args: Any) -> Any:
        self._sock.sendall(_encode({"call": name, "args": list(args)}))
        answer = _recv_blocking(self._sock)
        if answer is None:
            raise SystemExit(0)  # the worker's parent is gone
        if "raise" in answer:
            raise RemoteFailure(answer["raise"]["type"], answer["raise"]["message"])
        return answer["reply"]

    # One job at a time, so a blocking call holds nothing else up.
    async def attached_files(self, item: dict[str, Any]) -> list[str]:
        return self._call("attached_files", item)  # type: ignore[no-any-return]

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None:
        return self._call("score_id_by_name", scorecard_id, name)  # type: ignore[no-any-return]

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None:
        return self._call("newest_prediction", item_id, score_id)  # type: ignore[no-any-return]

    async def fetch(self, item: dict[str, Any]) -> str:
        return self._call("fetch", item)  # type: ignore[no-any-return]

    async def store_get(self, version_id: str, key: str) -> dict[str, Any] | None:
        return self._call("store_get", version_id, key)  # type: ignore[no-any-return]

    async def store_put(self, version_id: str, key: str, output: dict[str, Any]) -> None:
        self._call("store_put", version_id, key, output)


def _serve(sock: socket.socket, inherited: list[socket.socket], scoring: ScoringSettings) -> None:
    """The worker's life: score each request it receives until its parent closes the pipe."""
    from plexus.scores.providers import Models

    for other in inherited:  # the other workers' pipes, so that their EOF still means EOF
        other.close()
    # A fork of a process inside a running event loop: that loop is not this process's.
    asyncio.events._set_running_loop(None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    models = Models(scoring)
    configs = ConfigCache()
    host = _PipeHost(sock)

    def progress(line: str) -> None:
        if line.startswith("node "):
            sock.sendall(_encode({"progress": line}))

    while True:
        message = _recv_blocking(sock)
        if message is None:
            return
        request = ScoreRequest.from_json(message["score"])
        try:
            scored = loop.run_until_complete(
                run_score(request, host, scoring, models, configs, progress)
            )
            answer: dict[str, Any] = {"done": scored.to_json()}
        except (JobFailure, SettingsError) as exc:
            name = getattr(exc, "type_name", type(exc).__name__)
            answer = {"error": {"type": name, "message": str(exc), "expected": True}}
            cost = getattr(exc, "cost", None)
            if isinstance(cost, Cost):
                answer["error"]["cost"] = cost.to_json()
        except Exception as exc:
            log.exception("job %s: unexpected error while scoring", request.job_id)
            answer = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        try:
            sock.sendall(_encode(answer))
        except ConnectionError:
            return


# --- the pool, in the worker's own process ----------------------------------------------------

# The engine, imported here once before the first fork so that every worker starts with it
# (the first job imported it in-process before; the job's time limit then counts scoring
# only). The model clients (openai, boto3) stay lazy: a keyword job never needs them.
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


# A score that names one of these is likely to call a model through these clients. Imported
# in this process before a fork, they are shared by every worker forked after (64 workers
# each importing openai for themselves cost 64 times its CPU and memory). The names are a
# hint read off the YAML's text, never parsed here: a wrong guess only costs an import.
MODEL_CLIENTS = {
    "LangGraphScore": ("openai",),
    "LLMClassifier": ("openai",),
    "BedrockChat": ("boto3",),
}


def _import_engine() -> None:
    import importlib

    for name in ENGINE_MODULES:
        importlib.import_module(name)


def _import_model_clients(configuration: str | None) -> None:
    import importlib
    import sys

    for hint, modules in MODEL_CLIENTS.items():
        if configuration and hint in configuration:
            for name in modules:
                if name not in sys.modules:
                    importlib.import_module(name)


@dataclass
class _Worker:
    process: Any  # multiprocessing.Process
    sock: socket.socket

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    async def send(self, message: dict[str, Any]) -> None:
        await asyncio.get_running_loop().sock_sendall(self.sock, _encode(message))

    async def recv(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()

        async def exactly(n: int) -> bytes:
            buffer = bytearray(n)
            view, got = memoryview(buffer), 0
            while got < n:
                count = await loop.sock_recv_into(self.sock, view[got:])
                if count == 0:
                    raise EOFError
                got += count
            return bytes(buffer)

        header = await exactly(_HEADER.size)
        return json.loads(await exactly(_decode_length(header)))  # type: ignore[no-any-return]

    def kill(self) -> None:
        self.sock.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(2)

    def exit_description(self) -> str:
        self.process.join(1)
        code = self.process.exitcode
        if code is None:
            return "still running"
        return f"killed by signal {-code}" if code < 0 else f"exit status {code}"


class ScorePool:
    """Worker processes, forked on demand and reused; one is killed when its job overruns."""

    def __init__(self, scoring: ScoringSettings, *, limit_seconds: float, keep: int) -> None:
        self.scoring = scoring
        self.limit_seconds = limit_seconds
        # Idle workers kept for the next jobs (the processor's concurrency).
        self.keep = keep
        self._idle: list[_Worker] = []
        self._all: dict[int, _Worker] = {}
        self._owner = os.getpid()

    def pids(self) -> list[int]:
        return list(self._all)

    def _start(self) -> _Worker:
        if not self._all:
            _import_engine()
        ours, theirs = socket.socketpair()
        context = multiprocessing.get_context("fork")
        inherited = [w.sock for w in self._all.values()] + [ours]
        process = context.Process(
            target=_serve, args=(theirs, inherited, self.scoring), daemon=True, name="score"
        )
        process.start()
        theirs.close()
        ours.setblocking(False)
        worker = _Worker(process, ours)
        self._all[worker.pid] = worker
        return worker

    def _acquire(self) -> _Worker:
        if os.getpid() != self._owner:
            raise RuntimeError("a score pool belongs to the process that made it")
        while self._idle:
            worker = self._idle.pop()
            if worker.process.is_alive():
                return worker
            self._discard(worker)
        return self._start()

    def _release(self, worker: _Worker) -> None:
        if len(self._idle) < self.keep:
            self._idle.append(worker)
        else:
            self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        self._all.pop(worker.pid, None)
        worker.kill()

    def close(self) -> None:
        for worker in list(self._all.values()):
            self._discard(worker)
        self._idle.clear()

    async def score(
        self, request: ScoreRequest, host: ScoreHost, *, ends_at: float | None = None
    ) -> Scored:
        """Score in a worker within the time limit; `ends_at` (time.monotonic()) is the
        invocation's own deadline, which makes the job OutOfTime rather than too slow."""
        # The clock starts with a worker in hand: the engine's import before the first fork
        # is the worker's cost, not the score's.
        if ends_at is not None and ends_at <= time.monotonic():
            raise OutOfTime("the invocation ends before the score could start")
        if not self._idle:  # a fork is coming: let it inherit what this score will need
            _import_model_clients(request.configuration)
        worker = self._acquire()
        started = time.monotonic()
        deadline = started + self.limit_seconds
        invocation_first = ends_at is not None and ends_at < deadline
        if invocation_first:
            assert ends_at is not None
            deadline = ends_at
        node: list[str] = []
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                scored = await self._converse(worker, request, host, node)
        except TimeoutError:
            self._discard(worker)
            where = f" (in node {node[-1]!r})" if node else ""
            if invocation_first:
                raise OutOfTime(
                    f"the invocation ends before the score could finish{where}: "
                    f"{time.monotonic() - started:.1f}s in"
                ) from None
            raise overran(self.limit_seconds, node[-1] if node else None) from None
        except EOFError:
            self._discard(worker)
            raise WorkerDied(
                f"the score's worker process ended while scoring ({worker.exit_description()})"
                + (f" in node {node[-1]!r}" if node else "")
            ) from None
        except BaseException:
            # Cancelled, or this side failed mid-conversation: the worker's state is unknown.
            self._discard(worker)
            raise
        self._release(worker)
        return scored

    async def _converse(
        self, worker: _Worker, request: ScoreRequest, host: ScoreHost, node: list[str]
    ) -> Scored:
        await worker.send({"score": request.to_json()})
        host_error: BaseException | None = None
        while True:
            message = await worker.recv()
            if "progress" in message:
                if (started := node_started(str(message["progress"]))) is not None:
                    node.append(started)
                continue
            if "call" in message:
                name = str(message["call"])
                if name not in HOST_CALLS:
                    raise WorkerDied(f"a score worker asked for {name[:50]!r}")
                try:
                    reply = await getattr(host, name)(*message.get("args", []))
                except Exception as exc:
                    host_error = exc
                    text = str(exc)
                    await worker.send({"raise": {"type": type(exc).__name__, "message": text}})
                else:
                    await worker.send({"reply": reply})
                continue
            if "done" in message:
                return Scored.from_json(message["done"])
            error = message.get("error") or {}
            if host_error is not None:
                raise host_error  # this process's own error, as it was raised here
            if error.get("expected"):
                cost = Cost.from_json(error["cost"]) if error.get("cost") else None
                raise RemoteFailure(str(error.get("type")), str(error.get("message")), cost)
            raise RemoteFailure(
                str(error.get("type")),
                f"internal error: {error.get('type')}: {error.get('message')}",
            )


_shared: ScorePool | None = None


def shared_pool(scoring: ScoringSettings, *, limit_seconds: float, keep: int) -> ScorePool:
    """The container's pool: kept across invocations while the settings stay the same."""
    global _shared
    pool = _shared
    if pool is None or pool.scoring != scoring or pool._owner != os.getpid():
        if pool is not None and pool._owner == os.getpid():
            pool.close()
        pool = _shared = ScorePool(scoring, limit_seconds=limit_seconds, keep=keep)
    pool.limit_seconds, pool.keep = limit_seconds, max(pool.keep, keep)
    return pool
