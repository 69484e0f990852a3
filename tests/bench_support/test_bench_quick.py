"""Every benchmark still runs: the ones that drain jobs in `--quick` mode (a few jobs each,
so a stale import or a renamed function fails here, not on the day someone measures), the
others imported, with every module the cold-start benchmark imports eagerly still there."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys

import pytest

from tests.bench_support.conftest import BENCH


@pytest.mark.slow
@pytest.mark.parametrize(
    "script",
    ["worker_cpu.py", "throughput.py", "round_trips.py", "job_memory.py", "concurrency.py"],
)
def test_benchmark_runs_in_quick_mode(script):
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=BENCH.parent,
        env={**os.environ, "PYTHONPATH": str(BENCH)},
    )
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "module",
    ["cold_start", "push_cost", "throughput", "worker_cpu", "job_memory", "concurrency"],
)
def test_benchmark_module_imports(module):
    importlib.import_module(module)


def test_cold_start_eager_imports_exist():
    import cold_start

    missing = [m for m in cold_start.EAGER_IMPORTS if importlib.util.find_spec(m) is None]
    assert not missing


@pytest.mark.slow
def test_network_faults_benchmark_runs_in_quick_mode():
    test_benchmark_runs_in_quick_mode("network_faults.py")


def test_network_faults_benchmark_imports():
    importlib.import_module("network_faults")
