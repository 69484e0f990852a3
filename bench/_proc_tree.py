"""A worker's process tree from /proc: its processes, CPU and peak PSS (forked score
processes share pages with the worker; PSS divides a shared page among them)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return pids


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_cpu(pid: int) -> float:
    """CPU seconds of the live tree, plus what its reaped children spent (cutime, cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / tick


class PeakPss:
    """Peak PSS of a process tree, sampled in a thread until stopped."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        self.pid, self.every, self.peak = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(pss_kib(p) for p in tree(self.pid)))
            self._stop.wait(self.every)

    def reset(self) -> None:
        self.peak = 0

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


@contextlib.contextmanager
def worker_process(
    script: str, args: list[str], env: dict[str, str], timeout: float
) -> Iterator[subprocess.Popen[str]]:
    """`script --worker ARGS` in a process of its own, spoken to over its stdin and stdout
    (text lines). One that hangs must not hang the benchmark: it is killed after `timeout`
    seconds, and a pending readline() then ends."""
    proc = subprocess.Popen(
        [sys.executable, script, "--worker", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        yield proc
    finally:
        with contextlib.suppress(OSError):  # a worker that died has closed its end
            proc.stdin.close()
        proc.wait(timeout=timeout)
        watchdog.cancel()
