"""How many jobs and score processes fit the function: from its memory and its vCPUs.

Lambda sets AWS_LAMBDA_FUNCTION_MEMORY_SIZE and gives 1 vCPU per 1,769 MB (up to 6 at
10,240 MB). Score processes (plexus/worker/score_pool.py) follow the vCPUs: scoring's CPU
cannot use more cores than there are, and each process costs memory. Jobs in flight follow
the memory left once the worker and its processes are in: a job in flight costs its state
(a Tactus runtime and its thread, a LangGraph's messages), not an interpreter.

The figures are peak PSS measured by bench/concurrency.py (the worker's process tree, the
Tactus runtime loaded, which is the heavier case), rounded up; the budget keeps a quarter
of the function's memory free for what a figure does not see (an item's large text, the
allocator's fragmentation, a model reply's size).
"""

from __future__ import annotations

import math
import os

MB_PER_VCPU = 1769
MAX_VCPUS = 6
# Share of the function's memory the worker plans to use.
BUDGET = 0.75
# The worker's own process with the engine, the model clients and the Tactus runtime (MiB).
WORKER_MIB = 400
# A score process forked from it: what it does not share with the worker once it ran jobs.
PROCESS_MIB = 150
# A job in flight: the heavier of a Tactus and a LangGraph job's state.
JOB_MIB = 8


def vcpus(memory_mb: int) -> int:
    """vCPUs Lambda gives a function of this much memory."""
    return max(1, min(MAX_VCPUS, math.ceil(memory_mb / MB_PER_VCPU)))


def cores() -> int:
    """vCPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def score_processes(memory_mb: int | None, requested: int | None = None) -> int:
    """Score processes: as asked, else one per vCPU of the function (at most the cores)."""
    if requested is not None:
        return requested
    if memory_mb is None:
        return cores()
    return max(1, min(vcpus(memory_mb), cores()))


def jobs_that_fit(memory_mb: int, processes: int) -> int:
    """Jobs in flight that fit `memory_mb` beside the worker and `processes` score processes."""
    free = memory_mb * BUDGET - WORKER_MIB - processes * PROCESS_MIB
    return max(1, int(free // JOB_MIB))
