"""A Tactus job as Lambda runs it: nothing reaches beyond 127.0.0.1, nothing is written
outside the temporary directory (Lambda's /tmp), with HOME and the working directory
elsewhere. Python's audit hooks see every connect, open for writing, mkdir and SQLite
database of the process (tactus, dspy and litellm included), from before their import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import OPENAI_KEY

pytestmark = pytest.mark.slow

PROBE = r"""
import json, os, sys
events = []

def hook(event, args):
    if event == "socket.connect":
        events.append(("connect", repr(args[1])))
    elif event == "open" and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1], args[2]
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if writing:
            events.append(("write", os.fsdecode(args[0])))
    elif event in ("os.mkdir", "os.rename", "os.remove", "shutil.rmtree"):
        events.append(("write", os.fsdecode(args[0])))
    elif event == "sqlite3.connect":
        events.append(("write", os.fsdecode(args[0])))

sys.addaudithook(hook)

import asyncio
from plexus.scores import parse_score_config, score_item
from plexus.scores.Score import Score
from plexus.scores.run import Run, ScoringSettings

CODE = '''class: TactusScore
code: |-
  default_model "openai/gpt-4o-mini"
  ClassifyProcedure {
    classes = {"Yes", "No"},
    system_message = [[You review calls.]],
    user_message = [[{{ text }}]]
  }
'''

async def main():
    run = Run.create(ScoringSettings.from_env())
    result = await score_item(parse_score_config(CODE), Score.Input(text="hello"), run)
    await run.models.close()
    return result.value

value = asyncio.run(main())
print(json.dumps({"value": value, "events": events}))
"""


def test_tactus_job_reaches_no_network_and_writes_only_under_tmp(openai, tmp_path):
    home, cwd, tmp = (tmp_path / name for name in ("home", "cwd", "tmp"))
    for d in (home, cwd, tmp):
        d.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LITELLM", "DSPY", "OPENAI", "AZURE", "XDG", "HF_", "TIKTOKEN"))
    }
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp),
        OPENAI_API_KEY=OPENAI_KEY,
        OPENAI_BASE_URL=openai.base_url,
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    openai.reply("Said hello.\nYes")
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["value"] == "Yes"
    connects = [target for kind, target in report["events"] if kind == "connect"]
    assert connects and all("127.0.0.1" in c for c in connects), connects
    writes = sorted({target for kind, target in report["events"] if kind == "write"})
    outside = [
        w for w in writes if not (Path(cwd, w).resolve().is_relative_to(tmp) or w == "/dev/null")
    ]
    assert not outside, outside
    # dspy's cache is where it was told to be, and HOME and the working directory stay empty.
    assert any(Path(w).is_relative_to(tmp / "dspy_cache") for w in writes), writes
    assert not any(home.iterdir()) and not any(cwd.iterdir())
