"""`plexus-lambda work` processes for the reliability tests, each with its output in files."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    stdout: Path  # one JSON line per job it touched
    stderr: Path  # its log

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def outcomes(self) -> list[dict[str, Any]]:
        lines = self.stdout.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def did_work(self) -> bool:
        """True when it finished a job (COMPLETED or FAILED), not just looked at some."""
        return any(o["status"] != "SKIPPED" for o in self.outcomes())

    def texts(self) -> list[str]:
        return [self.stdout.read_text(errors="replace"), self.stderr.read_text(errors="replace")]


def start_worker(name: str, env: dict[str, str], directory: Path) -> WorkerProcess:
    """`python -m plexus.tooling.cli work`: drain PLEXUS_ACCOUNT_KEY's claimable jobs once."""
    stdout, stderr = directory / f"{name}.jsonl", directory / f"{name}.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "plexus.tooling.cli", "work"],
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    return WorkerProcess(name, process, stdout, stderr)
