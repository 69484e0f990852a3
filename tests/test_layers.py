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
    probe = REPO / "plexus" / "scores" / "_layer_probe.py"
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


def import_cycles(package: str) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), TYPE_CHECKING imports included."""
    import grimp

    graph = grimp.build_graph(package, include_external_packages=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    assert import_cycles("plexus") == []


def test_the_cycle_check_finds_a_cycle(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "cycleprobe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cycleprobe import b\n")
    (package / "b.py").write_text(
        "import typing\nif typing.TYPE_CHECKING:\n    import cycleprobe.a\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cycleprobe") == [["cycleprobe.a", "cycleprobe.b"]]
