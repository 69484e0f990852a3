"""The project's side of the Nix evaluation kit (`../shared/nix/eval`, see its README.md).

The kit evaluates every flake output with Nix 2.26 and the real uv2nix, pyproject.nix,
build-system-pkgs, nixpkgs lib and dockerTools (the rest of nixpkgs stood in). This module
runs it once per test session and turns what it made into data the tests can assert on:

- `run_evaluation`: `evaluate.sh` on the checkout, its OK/FAIL line per attribute parsed;
- `Derivations`: `nix derivation show -r` of what evaluated, with the lookups the tests need
  (who produces a store path, a derivation's closure, the dockerTools images in it);
- `nix_eval_json`: `nix eval --json` on a flake with the kit's inputs, for what only the
  evaluator can see (an app's program and the derivation behind it);
- `run_stream_test`: `stream-test.sh`, nixpkgs' real stream_layered_image.py over a fake
  store, then `plexus.tooling.image_contract` on the two archives it wrote.

Where the kit is absent (a user's clone) the tests skip: there `nix flake check` on a
machine with Nix >= 2.18 is the real check. `./test` (.ci/setup.sh) sets PLEXUS_REQUIRE_NIXEVAL=1, which
turns that skip into a failure.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
KIT = REPO.parent / "shared" / "nix" / "eval"

ABSENT = (
    f"the Nix evaluation kit is not beside this checkout ({KIT}): here the real check of the "
    "flake is `nix flake check` on a machine with Nix >= 2.18"
)

# The store paths in a string: /nix/store/<32 chars of nix32>-<name>.
STORE_PATH = re.compile(r"/nix/store/[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+._?=-]+")

# evaluate.sh passes these with --override-input (its TREE table): nixpkgs is the stand-in
# flake it assembles in the work directory, the others are the real trees it unpacks there.
INPUT_TREES = {
    "nixpkgs": "nixpkgs-standin",
    "pyproject-nix": "trees/pyproject.nix",
    "uv2nix": "trees/uv2nix",
    "pyproject-build-systems": "trees/build-system-pkgs",
}


def require_kit() -> Path:
    """The kit's directory, or a skip (a failure where PLEXUS_REQUIRE_NIXEVAL=1, as in CI)."""
    if (KIT / "evaluate.sh").is_file():
        return KIT
    if os.environ.get("PLEXUS_REQUIRE_NIXEVAL") == "1":
        pytest.fail(f"PLEXUS_REQUIRE_NIXEVAL=1 but {ABSENT}")
    pytest.skip(ABSENT)


def work_dir() -> Path:
    """The kit's writable state: NIXEVAL_WORK if set, else the kit's own default (common.sh)."""
    if os.environ.get("NIXEVAL_WORK"):
        return Path(os.environ["NIXEVAL_WORK"])
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "plexus-nixeval"


def kit_env(work: Path) -> dict[str, str]:
    return {**os.environ, "NIXEVAL_WORK": str(work)}


@contextmanager
def work_lock(work: Path) -> Iterator[None]:
    """Hold the lock evaluate.sh holds while it rewrites the work directory's copies."""
    with open(work / "run.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- evaluate.sh ----------------------------------------------------------------------


@dataclass
class Outcome:
    """One attribute as evaluate.sh reports it."""

    attr: str
    ok: bool
    value: str = ""  # OK: the drvPath (an app: its program)
    error: str = ""  # FAIL: Nix's innermost error and where it is
    details: list[str] = field(default_factory=list)  # FAIL: Nix's error output


@dataclass
class Evaluation:
    kit: Path
    work: Path
    returncode: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)
    seconds: float
    outcomes: dict[str, Outcome] = field(repr=False)
    notes: list[str]
    total: int | None  # "nixeval: N attributes, ..."

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes.values() if not o.ok]

    def drv_paths(self) -> dict[str, str]:
        """attr -> drvPath for every derivation that evaluated (apps give programs instead)."""
        return {
            o.attr: o.value for o in self.outcomes.values() if o.ok and o.value.endswith(".drv")
        }

    def systems(self, kind: str) -> set[str]:
        return {a.split(".")[1] for a in self.outcomes if a.startswith(kind + ".")}

    def names(self, kind: str, system: str) -> set[str]:
        prefix = f"{kind}.{system}."
        return {a[len(prefix) :] for a in self.outcomes if a.startswith(prefix)}

    def summary(self) -> str:
        """One line: how many attributes failed, and the first with Nix's message."""
        if self.failures:
            first = self.failures[0]
            more = f" (and {len(self.failures) - 1} more)" if len(self.failures) > 1 else ""
            return (
                f"{len(self.failures)} of {len(self.outcomes)} flake attributes do not evaluate: "
                f"{first.attr}: {first.error}{more}"
            )
        if self.returncode != 0:
            return f"the kit's evaluate.sh failed (exit {self.returncode})"
        return f"all {len(self.outcomes)} flake attributes evaluate ({self.seconds:.1f} s)"

    def report(self) -> str:
        """What a failing test shows: every FAIL with Nix's message, and the kit's own errors."""
        lines = [self.summary()]
        for o in self.failures:
            lines.append(f"{o.attr}: {o.error}")
            lines += ["    " + d for d in o.details[:40]]
        stderr = [line for line in self.stderr.splitlines() if "error" in line.lower()]
        if self.returncode != 0 and not self.failures:
            lines.append(f"evaluate.sh exited {self.returncode} without a FAIL line")
            lines += stderr[-20:] or self.stderr.splitlines()[-20:]
        return "\n".join(lines)


def parse_evaluation(stdout: str) -> tuple[dict[str, Outcome], list[str], int | None]:
    outcomes: dict[str, Outcome] = {}
    notes: list[str] = []
    total = None
    current: Outcome | None = None
    for line in stdout.splitlines():
        if line.startswith("OK    "):
            attr, _, value = line[6:].partition("  ")
            current = outcomes[attr] = Outcome(attr.strip(), True, value.strip())
        elif line.startswith("FAIL  "):
            attr, _, error = line[6:].partition(": ")
            current = outcomes[attr] = Outcome(attr.strip(), False, error=error.strip())
        elif line.startswith("      ") and current is not None and not current.ok:
            current.details.append(line[6:])
        elif line.startswith("note: "):
            notes.append(line[6:])
        elif m := re.match(r"nixeval: (\d+) attributes,", line):
            total = int(m.group(1))
    return outcomes, notes, total


def run_evaluation(kit: Path, work: Path, project: Path = REPO) -> Evaluation:
    """`evaluate.sh PROJECT`: installs the kit's Nix on first use (a download), then ~5-9 s."""
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    proc = subprocess.run(
        ["bash", str(kit / "evaluate.sh"), str(project)],
        env=kit_env(work),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.monotonic() - started
    outcomes, notes, total = parse_evaluation(proc.stdout)
    return Evaluation(
        kit, work, proc.returncode, proc.stdout, proc.stderr, seconds, outcomes, notes, total
    )


# --- bin/nix --------------------------------------------------------------------------


def nix(kit: Path, work: Path, *args: str, timeout: float = 300) -> str:
    """The kit's Nix 2.26 over its private store; a failure shows Nix's error."""
    proc = subprocess.run(
        [str(kit / "bin" / "nix"), *args],
        env=kit_env(work),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        error = (
            proc.stderr[proc.stderr.find("error:") :] if "error:" in proc.stderr else proc.stderr
        )
        raise AssertionError(f"nix {' '.join(args[:3])} … failed:\n{error.strip()}")
    return proc.stdout


def nix_eval_json(kit: Path, work: Path, flake: Path, apply: str) -> Any:
    """`nix eval --json path:FLAKE#. --apply APPLY` with the kit's four inputs, as evaluate.sh."""
    overrides = []
    for name, tree in INPUT_TREES.items():
        overrides += ["--override-input", name, f"path:{work / tree}"]
    out = nix(
        kit,
        work,
        "eval",
        "--no-write-lock-file",
        "--no-eval-cache",
        *overrides,
        "--json",
        f"path:{flake}#.",
        "--apply",
        apply,
    )
    return json.loads(out)


# Each app's type, program, and the derivations its program's string context names.
APPS_EXPR = """o: builtins.mapAttrs (_: builtins.mapAttrs (_: a: {
  inherit (a) type program;
  drvs = builtins.attrNames (builtins.getContext a.program);
})) (o.apps or { })"""


# --- derivations ----------------------------------------------------------------------


def store_path(path: str) -> str:
    """/nix/store/<hash>-<name>/bin/x -> /nix/store/<hash>-<name>."""
    return "/".join(path.split("/")[:4])


def _abs(path: str) -> str:
    # Newer Nix prints store paths in `derivation show` without /nix/store/.
    return path if path.startswith("/") else f"/nix/store/{path}"


@dataclass
class Image:
    """A dockerTools image as its derivations describe it (streamLayeredImage's `conf`)."""

    conf: str  # the conf.json derivation
    name: str  # imageName, the repository
    system: str
    config: dict[str, Any]  # the image config (Entrypoint, Cmd, Env, ...) from base.json
    base_json: str  # the base.json derivation (a closure root)
    created: str
    from_image: str  # the fromImage store path, "" for none
    closure_roots: list[str]  # store paths whose closure the image's own layers hold


class Derivations:
    """`nix derivation show -r` output, indexed."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.drvs: dict[str, dict[str, Any]] = {_abs(k): v for k, v in data.items()}
        self.producer: dict[str, str] = {}
        for drv, d in self.drvs.items():
            for out in d["outputs"].values():
                if out.get("path"):
                    self.producer[_abs(out["path"])] = drv
        self._closures: dict[str, set[str]] = {}

    @classmethod
    def show(cls, kit: Path, work: Path, drv_paths: list[str]) -> Derivations:
        if not drv_paths:
            return cls({})
        return cls(json.loads(nix(kit, work, "derivation", "show", "-r", *sorted(drv_paths))))

    def env(self, drv: str) -> dict[str, Any]:
        """The derivation's attributes (structured attrs parsed from __json)."""
        env = self.drvs[drv]["env"]
        if "__json" in env:
            return {**env, **json.loads(env["__json"])}
        return env

    def inputs(self, drv: str) -> list[str]:
        return [_abs(i) for i in self.drvs[drv]["inputDrvs"]]

    def outputs(self, drv: str) -> set[str]:
        return {_abs(o["path"]) for o in self.drvs[drv]["outputs"].values() if o.get("path")}

    def of(self, path: str) -> str | None:
        """The derivation that produces the store path `path` lies in."""
        return self.producer.get(store_path(path))

    def closure(self, drv: str) -> set[str]:
        if drv not in self._closures:
            seen, todo = set(), [drv]
            while todo:
                d = todo.pop()
                if d not in seen:
                    seen.add(d)
                    todo += self.inputs(d)
            self._closures[drv] = seen
        return self._closures[drv]

    def reachable_paths(self, drv: str) -> set[str]:
        """Every store path `drv`'s build can see: outputs and sources of its closure. What
        its output can refer to at run time is a subset (Nix scans only for these)."""
        paths: set[str] = set()
        for d in self.closure(drv):
            paths |= self.outputs(d)
            paths |= {_abs(s) for s in self.drvs[d]["inputSrcs"]}
        return paths

    def named_paths(self, drv: str, *attrs: str) -> set[str]:
        env = self.env(drv)
        return {p for a in attrs for p in STORE_PATH.findall(json.dumps(env.get(a, "")))}

    def with_pname(self, pname: str) -> list[str]:
        return [d for d in self.drvs if self.env(d).get("pname") == pname]

    @cached_property
    def images(self) -> list[Image]:
        """Every image streamLayeredImage made in these derivations (its conf.json, with
        `layersJsonFile` and `imageName`), read back from the derivations it is made of."""
        images = []
        for drv in self.drvs:
            env = self.env(drv)
            if "layersJsonFile" not in env or "imageName" not in env:
                continue
            base_json = next(
                i for i in self.inputs(drv) if '"config"' in self.env(i).get("text", "")
            )
            layers = self.env(self.producer[env["layersJsonFile"]])
            images.append(
                Image(
                    conf=drv,
                    name=env["imageName"],
                    system=self.drvs[drv]["system"],
                    config=json.loads(self.env(base_json)["text"])["config"],
                    base_json=base_json,
                    created=env["created"],
                    from_image=env.get("fromImage") or "",
                    closure_roots=list(layers["exportReferencesGraph"]["graph"]),
                )
            )
        return sorted(images, key=lambda i: (i.system, i.name))

    def image_of(self, path: str) -> Image:
        """The image whose archive is (or whose derivations make) the store path `path`."""
        drv = self.of(path)
        assert drv, f"{path} is no output of the evaluated derivations"
        closure = self.closure(drv)
        candidates = [i for i in self.images if i.conf in closure]
        # A function image's closure holds its base's conf too, behind its fromImage.
        behind: set[str] = set()
        for image in candidates:
            if image.from_image and (base := self.of(image.from_image)):
                behind |= self.closure(base)
        own = [i for i in candidates if i.conf not in behind]
        assert len(own) == 1, f"{path}: which image? {[i.name for i in candidates]}"
        return own[0]


@dataclass
class Flake:
    """The checkout's flake as the kit evaluated it: evaluate.sh's outcomes, each app as
    `nix eval` sees it ({system: {name: {type, program, drvs}}}), and the derivations of
    everything that evaluated, apps included."""

    evaluation: Evaluation
    apps: dict[str, dict[str, dict[str, Any]]]
    drvs: Derivations


def load_flake(evaluation: Evaluation) -> Flake:
    kit, work = evaluation.kit, evaluation.work
    with work_lock(work):  # evaluate.sh's copy of the checkout, kept until its next run
        apps = nix_eval_json(kit, work, work / "project", APPS_EXPR)
    app_drvs = [d for per in apps.values() for app in per.values() for d in app["drvs"]]
    drvs = Derivations.show(kit, work, [*evaluation.drv_paths().values(), *app_drvs])
    return Flake(evaluation, apps, drvs)


# --- stream-test.sh -------------------------------------------------------------------


@dataclass
class StreamTest:
    returncode: int
    output: str
    # The archives nixpkgs' real stream_layered_image.py wrote, copied out of the work dir:
    # {"base": ..., "score-processing": ...} (image name -> docker-archive .tar.gz).
    archives: dict[str, Path]


def run_stream_test(kit: Path, work: Path, into: Path) -> StreamTest:
    proc = subprocess.run(
        ["bash", str(kit / "stream-test.sh"), str(REPO)],
        # The checker runs with the project's Python, as the flake's image-contract check does.
        env={**kit_env(work), "NIXEVAL_PYTHON": sys.executable},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    archives = {}
    for archive in sorted((work / "stream").glob("lambda-*.tar.gz")):
        name = archive.name.removeprefix("lambda-").removesuffix(".tar.gz")
        archives[name] = Path(shutil.copy2(archive, into / archive.name))
    return StreamTest(proc.returncode, proc.stdout, archives)
