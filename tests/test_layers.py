"""The direction of imports ([tool.importlinter] in pyproject.toml) and no import cycles in
the code the images and the tooling run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """The contracts see the namespace package's portions: a worker import in the engine breaks one."""
    config = (REPO / "pyproject.toml").read_text()
    probe = REPO / "runtime" / "plexus" / "scores" / "_layer_probe.py"
    probe.write_text("import plexus.worker.processor\n")
    try:
        (tmp_path / "pyproject.toml").write_text(config)
        lint = Path(sys.executable).with_name("lint-imports")
        done = subprocess.run(
            [str(lint), "--config", str(tmp_path / "pyproject.toml"), "--no-cache"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        probe.unlink()
    assert done.returncode == 1, done.stdout
    assert "plexus.scores._layer_probe -> plexus.worker.processor" in done.stdout, done.stdout
