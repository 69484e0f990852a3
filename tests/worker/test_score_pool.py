"""The score pool: few processes, many jobs in each, and a watchdog that keeps the limit.

Real forked processes, no services: the host answers from memory (`fetch` gives the item's
text, after a delay for the jobs that wait on it, as a job waits on a model). The limits
are shortened so each case takes a few seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import pytest

from plexus.scores.run import ScoringSettings
from plexus.worker import score_pool
from plexus.worker.score_pool import GivenBack, ScorePool, ScoreTimeout
from plexus.worker.scoring import ScoreRequest

KEYWORD = 'class: KeywordClassifier\nrules: [{value: "Yes", keywords: [hello]}]\ndefault: "No"\n'
SPIN = """
class: LangGraphScore
graph:
  - name: spin
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          while True:
              pass
"""


class Host:
    """The item's content (`body`), after the item's `wait` seconds."""

    async def attached_files(self, item: dict[str, Any]) -> list[str]:
        return []

    async def score_id_by_name(self, scorecard_id: str, name: str) -> str | None:
        return None

    async def newest_prediction(self, item_id: str, score_id: str) -> dict[str, Any] | None:
        return None

    async def fetch(self, item: dict[str, Any]) -> str:
        await asyncio.sleep(float(item.get("wait", 0)))
        return str(item["body"])

    async def store_get(self, version_id: str, key: str) -> dict[str, Any] | None:
        return None

    async def store_put(self, version_id: str, key: str, output: dict[str, Any]) -> None:
        return None


def request(n: int, configuration: str = KEYWORD, wait: float = 0.0) -> ScoreRequest:
    # No `text`: the scoring step asks the host to fetch the content.
    item = {"id": f"item-{n}", "body": "hello", "wait": wait}
    return ScoreRequest(f"job-{n}", "v-1", configuration, f"score {n}", item, {"id": f"job-{n}"})


async def run_all(pool: ScorePool, requests: list[ScoreRequest]) -> list[Any]:
    async def one(r: ScoreRequest) -> Any:
        started = time.monotonic()
        try:
            scored = await pool.score(r, Host())
            return scored.classification["value"], time.monotonic() - started
        except Exception as exc:
            return exc, time.monotonic() - started

    try:
        return await asyncio.gather(*(one(r) for r in requests))
    finally:
        pool.close()


@pytest.fixture
def quick_watchdog(monkeypatch):
    monkeypatch.setattr(score_pool, "EVICT_AFTER_SECONDS", 1.0)


def test_many_jobs_share_one_process():
    pool = ScorePool(ScoringSettings(), limit_seconds=30, keep=32, processes=1)
    pids: list[list[int]] = []

    async def go() -> list[Any]:
        async def watch() -> None:
            await asyncio.sleep(0.5)
            pids.append(pool.pids())

        results, _ = await asyncio.gather(
            run_all(pool, [request(n, wait=1.0) for n in range(32)]), watch()
        )
        return results

    results = asyncio.run(go())
    assert [value for value, _ in results] == ["Yes"] * 32
    assert len(pids[0]) == 1  # 32 jobs waiting at once in one process
    assert max(seconds for _, seconds in results) < 10


def test_what_the_worker_needs_is_made_before_the_first_fork_off_the_loop():
    """`before_fork` (the attachments' boto3 client): run once, in the thread of the
    engine's imports, before the first process is forked, so the forks share it and none is
    forked while a thread imports."""
    import threading

    pool = ScorePool(ScoringSettings(), limit_seconds=30, keep=4, processes=2)
    calls: list[tuple[int, bool]] = []

    def prepare() -> None:
        calls.append((len(pool.pids()), threading.current_thread() is threading.main_thread()))

    pool.before_fork("attachments", prepare)
    results = asyncio.run(run_all(pool, [request(n, wait=0.3) for n in range(8)]))
    assert [value for value, _ in results] == ["Yes"] * 8
    assert calls == [(0, False)]  # once, before any process, not on the event loop's thread

    # Begun ahead (`prepare_soon`, on a container's first claim): done before the first
    # fork, which waits for it rather than running it again.
    calls.clear()
    pool = ScorePool(ScoringSettings(), limit_seconds=30, keep=4, processes=2)

    async def ahead() -> list[Any]:
        pool.before_fork("attachments", prepare)
        pool.prepare_soon()
        return await run_all(pool, [request(n) for n in range(4)])

    assert [value for value, _ in asyncio.run(ahead())] == ["Yes"] * 4
    assert calls == [(0, False)]


def test_a_runaway_fails_alone_and_its_neighbours_run_again(quick_watchdog):
    pool = ScorePool(ScoringSettings(), limit_seconds=3, keep=8, processes=1)
    # The runaway first: the others are sent to the same process while it spins.
    requests = [request(0, SPIN), *(request(n, wait=0.2) for n in range(1, 4))]

    results = asyncio.run(run_all(pool, requests))

    error, seconds = results[0]
    assert isinstance(error, ScoreTimeout), error
    assert "PLEXUS_SCORE_TIMEOUT_SECONDS=3s" in str(error) and "in node 'spin'" in str(error)
    # The limit, plus the first fork's imports (openai, for a LangGraphScore) on a shared
    # machine: the clock starts when the job reaches its process.
    assert 3 <= seconds < 3 + 20
    for value, took in results[1:]:
        assert value == "Yes"
        # The neighbours' cost: EVICT_AFTER_SECONDS of waiting, then their scoring again,
        # before the runaway's limit.
        assert took < seconds
    assert pool.reruns == 3


def test_a_waiting_job_past_its_limit_leaves_its_process_to_the_others():
    pool = ScorePool(ScoringSettings(), limit_seconds=2, keep=8, processes=1)
    seen: list[list[int]] = []

    async def go() -> list[Any]:
        async def late_neighbours() -> list[Any]:
            await asyncio.sleep(1.0)  # sent to the same process, each under its own limit
            seen.append(pool.pids())
            return await asyncio.gather(*(pool.score(request(n, wait=1.5), Host()) for n in (1, 2)))

        slow = asyncio.create_task(pool.score(request(0, wait=60.0), Host()))
        neighbours = await late_neighbours()
        with pytest.raises(ScoreTimeout):
            await slow
        seen.append(pool.pids())
        pool.close()
        return neighbours

    neighbours = asyncio.run(go())
    assert [s.classification["value"] for s in neighbours] == ["Yes", "Yes"]
    assert seen[0] == seen[1] and len(seen[0]) == 1  # the same process throughout
    assert pool.reruns == 0


def test_a_killed_process_gives_its_jobs_to_another():
    pool = ScorePool(ScoringSettings(), limit_seconds=30, keep=8, processes=1)

    async def go() -> list[Any]:
        async def kill() -> None:
            await asyncio.sleep(1.0)
            os.kill(pool.pids()[0], signal.SIGKILL)

        results, _ = await asyncio.gather(
            run_all(pool, [request(n, wait=2.0) for n in range(4)]), kill()
        )
        return results

    results = asyncio.run(go())
    assert [value for value, _ in results] == ["Yes"] * 4
    assert pool.reruns == 4


def test_a_job_in_processes_stopped_again_and_again_is_given_back(monkeypatch, quick_watchdog):
    monkeypatch.setattr(score_pool, "MAX_RERUNS", 0)
    pool = ScorePool(ScoringSettings(), limit_seconds=3, keep=8, processes=1)

    results = asyncio.run(run_all(pool, [request(0, SPIN), request(1, wait=0.2)]))

    assert isinstance(results[0][0], ScoreTimeout)
    error = results[1][0]
    assert isinstance(error, GivenBack) and "claimed again" in str(error), error


LUA_LOOP = """
class: TactusScore
valid_classes: ['Yes', 'No']
code: |-
  Procedure {
    output = { value = field.string{required = true} },
    function(input)
      while true do end
    end
  }
"""


@pytest.mark.slow
def test_a_lua_loop_in_a_tactus_procedure_is_stopped_at_the_limit():
    """The procedure runs in a thread of its score process, which cancelling its job cannot
    stop: the process is, once its neighbours are out of it or run elsewhere."""
    pool = ScorePool(ScoringSettings(), limit_seconds=10, keep=8, processes=1)
    spinning: list[int] = []

    async def go() -> tuple[BaseException, str]:
        neighbour = asyncio.create_task(pool.score(request(1, wait=0.5), Host()))
        try:
            await pool.score(request(0, LUA_LOOP), Host())
        except ScoreTimeout as exc:
            spinning.extend(pool.pids())  # what is left once the runaway's job failed
            scored = await neighbour
            pool.close()
            return exc, scored.classification["value"]
        raise AssertionError("the Lua loop finished")

    error, neighbour = asyncio.run(go())

    assert "PLEXUS_SCORE_TIMEOUT_SECONDS=10s" in str(error)
    assert neighbour == "Yes"
    assert spinning == []  # the process running the loop was stopped


BUSY = """
class: LangGraphScore
graph:
  - name: busy
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          import time
          end = time.monotonic() + 2.5
          while time.monotonic() < end:
              pass
          return Score.Result(parameters=parameters, value="Yes")
"""
# A job whose code leaves a mark each time it begins (a model call's stand-in: work done in
# the score process itself, which the pool cannot take back).
MARK = """
class: LangGraphScore
graph:
  - name: mark
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          with open({path!r}, "a") as marks:
              marks.write("begun\\n")
          return Score.Result(parameters=parameters, value="Yes")
"""


@pytest.mark.slow
def test_a_job_sent_to_a_process_that_then_stuck_is_begun_once(tmp_path):
    """A job sent to a process whose loop another job's code holds (for less than its limit)
    goes to another process; when the held loop turns again it must not begin the job as
    well: its model would be paid twice."""
    pool = ScorePool(ScoringSettings(), limit_seconds=30, keep=8, processes=2)
    marks = tmp_path / "marks"
    marked = ScoreRequest(
        "job-m",
        "v-1",
        MARK.format(path=str(marks)),
        "score m",
        {"id": "item-m", "text": "hello"},
        {"id": "job-m"},
    )

    async def held_loop() -> None:
        """Until a process's loop has been in a job's code for a moment (the busy one)."""
        while not any(
            tag >= 0 and time.monotonic() - since > 0.2
            for _beat, tag, since in (p.shared.read() for p in pool._procs)
        ):
            await asyncio.sleep(0.05)

    async def go() -> list[Any]:
        async def marked_job() -> Any:
            await held_loop()
            # Both processes hold one job: the first, whose loop is held, is picked.
            return (await pool.score(marked, Host())).classification["value"]

        try:
            return await asyncio.gather(
                run_one(pool, request(0, BUSY)),
                run_one(pool, request(1, wait=4.0)),
                marked_job(),
            )
        finally:
            await asyncio.sleep(3.0)  # the held loop turns again and reads what it was sent
            pool.close()

    assert asyncio.run(go()) == ["Yes", "Yes", "Yes"]
    assert marks.read_text().splitlines() == ["begun"]


async def run_one(pool: ScorePool, r: ScoreRequest) -> Any:
    return (await pool.score(r, Host())).classification["value"]
