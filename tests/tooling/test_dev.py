"""`plexus-lambda dev`, the README's run command, end to end in a subprocess: its own moto
server and local Plexus API, the real handler under awslambdaric, no network."""

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_dev_command_scores_the_seeded_jobs():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PLEXUS_", "OPENAI_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "plexus.tooling.cli", "dev"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    jobs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [j["status"] for j in jobs] == ["COMPLETED"] * 4 + ["FAILED"]
    assert [j.get("value") for j in jobs[:4]] == ["Yes", "No", "Yes", "No"]
    assert all(len(j["attachments"]) == 2 for j in jobs[:4])
    assert "invalid YAML at line 3" in jobs[4]["error"]
    assert "invocation answered in" in proc.stderr


def test_readme_warns_of_the_failed_job_before_its_output():
    """A newcomer sees one FAILED job; the README says so beside the command, with its error."""
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    command = readme.index("uv run plexus-lambda dev ")
    warning = readme.index("1 FAILED on purpose", command)
    assert warning - command < 200  # in the command's own comment
    assert '"error": "score \'Broken score\' version …: invalid YAML at' in readme
