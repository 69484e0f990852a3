"""The flake evaluated for real by the kit in ../shared/nix/eval (Nix 2.26; real uv2nix,
pyproject.nix, build-system-pkgs, nixpkgs lib and dockerTools; the rest of nixpkgs stood
in), then what the README promises read back from the derivations it made.

Every output the flake has is evaluated on both systems; nothing here lists its attributes,
so a new image, app or check is covered as it lands. Without the kit (a user's clone) these
tests skip: there `nix flake check` is the real check. What a pass does not prove: that
anything builds, or that the stood-in nixpkgs packages behave like nixpkgs' (the kit's
README lists them).
"""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import Marker

from plexus.tooling import naming
from tests.nix import nixeval
from tests.nix.nixeval import Derivations, Evaluation, Flake, Image

SYSTEMS = {"x86_64-linux", "aarch64-linux"}  # Lambda's x86_64 and arm64 (flake.nix)
KINDS = ("packages", "apps", "devShells", "checks", "formatter")
# dockerTools' default `created`, which the README promises is never "now".
FIXED_EPOCH = "1970-01-01T00:00:01Z"
UNCHECKED_HASH = "UNCHECKED_HASH"
# The environment the images' Python evaluates uv.lock's markers in (nix/python.nix).
PYTHON_311_LINUX = {
    "python_version": "3.11",
    "python_full_version": "3.11.13",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@pytest.mark.slow
def test_every_flake_output_evaluates(flake_eval: Evaluation) -> None:
    if flake_eval.returncode != 0 or flake_eval.failures:
        pytest.fail(flake_eval.report(), pytrace=False)
    print(flake_eval.summary())  # shown with -rP: the count and the time it took
    # The kit reports outputs it did not evaluate (another kind, another system): none.
    assert not flake_eval.notes, flake_eval.notes
    assert flake_eval.total == len(flake_eval.outcomes) > 0
    for kind in KINDS:
        assert flake_eval.systems(kind) == SYSTEMS, kind
        names = {system: flake_eval.names(kind, system) for system in SYSTEMS}
        assert len({frozenset(n) for n in names.values()}) == 1, (kind, names)


# --- the images -----------------------------------------------------------------------


def images(flake: Flake, system: str) -> dict[str, Image]:
    found = {i.name: i for i in flake.drvs.images if i.system == system}
    # One image per function folder, and the base, named as the push tool names them.
    expected = {naming.repository_name(naming.BASE_IMAGE)} | {
        naming.repository_name(naming.image_name(f)) for f in naming.function_folders(nixeval.REPO)
    }
    assert expected <= set(found), (system, sorted(found))
    return found


def base_and_functions(flake: Flake, system: str) -> tuple[Image, list[Image]]:
    found = images(flake, system)
    base = found[naming.repository_name(naming.BASE_IMAGE)]
    functions = [i for i in found.values() if i.from_image]
    assert not base.from_image and functions
    return base, functions


def interpreter_name(drvs: Derivations, venv: str) -> str:
    """The venv's own interpreter file. pyproject.nix's make_venv.py runs Python's venv with
    symlinks, then replaces each symlink that points into the Python it was made from with a
    compiled wrapper (`wrap_python`): that is bin/<basename of the hook's interpreter>,
    python3.11; bin/python and bin/python3 stay relative symlinks to it."""
    hook = next(d for d in drvs.inputs(venv) if drvs.drvs[d]["name"] == "pyproject-make-venv-hook")
    pythons = [d for d in drvs.inputs(hook) if drvs.env(d).get("pname", "").startswith("python")]
    assert len(pythons) == 1, pythons
    major, minor = drvs.env(pythons[0])["version"].split(".")[:2]
    return f"python{major}.{minor}"


def runtime_closure() -> set[str]:
    """The `plexus` distribution (plexus/) and what it needs, as uv.lock resolves it: what an
    image's environment may hold. Markers are ignored, and a name locked at several versions
    (forks for other Pythons) counts with all of them, so this is an upper bound."""
    lock: dict[str, list[dict[str, Any]]] = {}
    for p in tomllib.loads((nixeval.REPO / "uv.lock").read_text())["package"]:
        lock.setdefault(p["name"], []).append(p)
    seen: set[str] = set()
    todo = ["plexus"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for package in lock[name]:
            for dep in package.get("dependencies", []):
                todo.append(dep["name"])
                for extra in dep.get("extra", []):
                    todo += [
                        d["name"] for d in package.get("optional-dependencies", {}).get(extra, [])
                    ]
                    todo += [
                        d["name"]
                        for version in lock[dep["name"]]
                        for d in version.get("optional-dependencies", {}).get(extra, [])
                    ]
    return seen


# Distributions only a developer runs: the tooling, the local API and the test stack.
NOT_IN_IMAGES = {
    "plexus-lambda",
    "plexus-local-api",
    "moto",
    "pytest",
    "hypothesis",
    "cyclonedx-python-lib",
    "import-linter",
    "ruff",
}


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_image_environment_holds_only_the_runtime(flake: Flake, system: str) -> None:
    """Every image's Python environment is the `plexus` distribution's closure in uv.lock:
    no tooling, local API, moto or test package."""
    drvs = flake.drvs
    assert not NOT_IN_IMAGES & runtime_closure(), NOT_IN_IMAGES & runtime_closure()
    for image in images(flake, system).values():
        venv = drvs.of(image.config["Entrypoint"][0])
        assert venv, image.name
        deps = [d for p in drvs.env(venv)["NIX_PYPROJECT_DEPS"].split(":") if (d := drvs.of(p))]
        installed = {drvs.env(d).get("pname") for d in deps}
        print(system, image.name, len(installed), "distributions:", " ".join(sorted(installed)))
        assert installed <= runtime_closure(), (image.name, installed - runtime_closure())
        assert not installed & NOT_IN_IMAGES, (image.name, installed & NOT_IN_IMAGES)


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_entrypoint_is_the_environments_interpreter(flake: Flake, system: str) -> None:
    drvs = flake.drvs
    for image in images(flake, system).values():
        entrypoint = image.config["Entrypoint"]
        assert entrypoint[1:] == ["-m", "awslambdaric"], image.name
        venv = drvs.of(entrypoint[0])
        assert venv, f"{image.name}: {entrypoint[0]} is no derivation's output"
        env = drvs.env(venv)
        # A pyproject.nix virtualenv that holds awslambdaric and plexus.
        installed = {
            drvs.env(d).get("pname")
            for p in env["NIX_PYPROJECT_DEPS"].split(":")
            if (d := drvs.of(p))
        }
        assert {"awslambdaric", "plexus"} <= installed, (image.name, venv)
        assert installed <= runtime_closure(), (image.name, installed - runtime_closure())
        expected = f"{nixeval.store_path(entrypoint[0])}/bin/{interpreter_name(drvs, venv)}"
        assert entrypoint[0] == expected, image.name
        assert (image.config["Cmd"], image.config["WorkingDir"]) == (
            ["handler.handler"],
            "/var/task",
        )


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_function_images_add_no_store_path_of_the_base(flake: Flake, system: str) -> None:
    """fromImage copies the base's layers but does not drop what they hold: whatever a
    function image's closure roots (its base.json and customisation layer) refer to comes
    again in layers of its own. The base's paths, as its config, `contents` and
    `extraCommands` name them, must not even be inputs of those roots' derivations.

    Paths that are only build inputs of both (Python compiles the handler; the builders'
    tools) cannot be told from run-time references before a build; the image-contract check
    (`nix flake check`) counts a built function image's layers."""
    drvs = flake.drvs
    base, functions = base_and_functions(flake, system)
    base_paths = drvs.named_paths(base.base_json, "text")
    for root in base.closure_roots:
        producer = drvs.of(root)
        assert producer, root
        if producer != base.base_json:  # the customisation layer: contents and extraCommands
            assert "paths" in drvs.env(producer), "dockerTools' customisation layer changed"
            base_paths |= drvs.named_paths(producer, "paths", "extraCommands", "fakeRootCommands")
    assert nixeval.store_path(base.config["Entrypoint"][0]) in base_paths

    for image in functions:
        assert drvs.image_of(image.from_image) == base, image.name
        assert image.config == base.config, image.name
        for root in image.closure_roots:
            producer = drvs.of(root)
            assert producer, root
            shared = drvs.reachable_paths(producer) & base_paths
            assert not shared, f"{image.name}: {root} takes in the base's {sorted(shared)}"


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_images_are_created_at_the_fixed_epoch(flake: Flake, system: str) -> None:
    for image in images(flake, system).values():
        assert image.created == FIXED_EPOCH, image.name
        assert flake.drvs.env(image.conf)["mtime"] == FIXED_EPOCH, image.name


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_function_task_roots_ship_unchecked_hash_bytecode(flake: Flake, system: str) -> None:
    drvs = flake.drvs
    _, functions = base_and_functions(flake, system)
    for image in functions:
        name = image.name.removeprefix(naming.REPOSITORY_PREFIX)
        layer = next(r for r in image.closure_roots if drvs.of(r) != image.base_json)
        tasks = [
            d
            for d in drvs.inputs(drvs.of(layer) or "")
            if drvs.drvs[d]["name"] == f"{name}-task-root"
        ]
        assert len(tasks) == 1, image.name
        script = drvs.env(tasks[0])["buildCommand"]
        assert "PycInvalidationMode.UNCHECKED_HASH" in script, image.name
        assert 'dfile="/var/task/handler.py"' in script, image.name


# --- the Python closure -----------------------------------------------------------------


def lock() -> dict[str, Any]:
    return tomllib.loads((nixeval.REPO / "uv.lock").read_text())


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_pycurl_is_built_from_its_sdist_against_nix_curl_and_openssl(
    flake: Flake, system: str
) -> None:
    drvs = flake.drvs
    pycurls = [d for d in drvs.with_pname("pycurl") if drvs.drvs[d]["system"] == system]
    assert pycurls, system
    for drv in pycurls:
        env = drvs.env(drv)
        assert env["PYCURL_SSL_LIBRARY"] == "openssl", drv
        (curl,) = [d for d in drvs.inputs(drv) if drvs.env(d).get("pname") == "curl"]
        dev = drvs.drvs[curl]["outputs"]["dev"]["path"]
        assert env["PYCURL_CURL_CONFIG"] == f"{dev}/bin/curl-config", drv
        (openssl,) = [d for d in drvs.inputs(drv) if drvs.env(d).get("pname") == "openssl"]
        inputs = env["buildInputs"].split()
        assert dev in inputs and set(inputs) & drvs.outputs(openssl), drv
        # sourcePreference "sdist" (nix/overrides.nix): not the wheel that bundles its libcurl.
        assert env["src"].endswith(".tar.gz"), env["src"]


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_psycopg_loads_nix_libpq(flake: Flake, system: str) -> None:
    drvs = flake.drvs
    psycopgs = [d for d in drvs.with_pname("psycopg") if drvs.drvs[d]["system"] == system]
    assert psycopgs, system
    for drv in psycopgs:
        (libpq,) = [d for d in drvs.inputs(drv) if drvs.env(d).get("pname") == "libpq"]
        post_install = drvs.env(drv)["postInstall"]
        assert f"{drvs.drvs[libpq]['outputs']['out']['path']}/lib/libpq.so" in post_install, drv
        assert "psycopg_libpq.py" in post_install, drv


def test_every_locked_package_has_unchecked_hash_bytecode(flake: Flake) -> None:
    drvs = flake.drvs
    packages = lock()["package"]
    locked = {(p["name"], p["version"]) for p in packages}
    found: dict[tuple[str, str], list[str]] = {}
    for drv in drvs.drvs:
        env = drvs.env(drv)
        key = (env.get("pname", ""), env.get("version", ""))
        if key in locked:
            found.setdefault(key, []).append(drv)
    wrong = {
        drv: drvs.env(drv).get("PYC_INVALIDATION_MODE")
        for drv_list in found.values()
        for drv in drv_list
        if drvs.env(drv).get("PYC_INVALIDATION_MODE") != UNCHECKED_HASH
    }
    assert not wrong, wrong

    # Every locked package is built, unless uv.lock only ever wants it under a marker
    # (Windows, emscripten, another Python) that uv2nix evaluates to false here, or locks
    # that version only for another Python's resolution (a fork: tactus's dspy and litellm
    # apply below Python 3.14/3.15 only, so newer Pythons resolve other versions), or only
    # such packages want it.
    conditional_only = set()
    for p in packages:
        forks = p.get("resolution-markers")
        if forks and not any(Marker(m).evaluate(PYTHON_311_LINUX) for m in forks):
            conditional_only.add((p["name"], p["version"]))
    grew = True
    while grew:
        grew = False
        for name, version in locked - set(found) - conditional_only:
            edges = [
                dep
                for p in packages
                if (p["name"], p["version"]) not in conditional_only
                for group in [
                    p.get("dependencies", []),
                    *p.get("optional-dependencies", {}).values(),
                    *p.get("dev-dependencies", {}).values(),
                ]
                for dep in group
                if dep["name"] == name and dep.get("version", version) == version
            ]
            if all("marker" in dep for dep in edges):
                conditional_only.add((name, version))
                grew = True
    assert locked - set(found) == conditional_only, sorted(locked - set(found) - conditional_only)

    # What the images ship: every package in the entrypoint's environment is a locked one.
    for system in SYSTEMS:
        base, _ = base_and_functions(flake, system)
        venv = drvs.of(base.config["Entrypoint"][0]) or ""
        for path in drvs.env(venv)["NIX_PYPROJECT_DEPS"].split(":"):
            env = drvs.env(drvs.of(path) or "")
            assert (env["pname"], env["version"]) in found, path


# TactusScore's runtime, which the image must hold ...
TACTUS_RUNTIME = {"tactus", "dspy", "litellm", "lupa", "biblicus"}
# ... without what tactus 0.49.0's biblicus[reinforcement-memory] would bring (6 GB).
GPU_STACK = re.compile(r"^(torch|torchvision|torchaudio|triton|nvidia-.*|.*cuda.*|.*cudnn.*)$")


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_image_closure_holds_tactus_and_no_torch_triton_or_cuda(flake: Flake, system: str) -> None:
    drvs = flake.drvs
    base, _ = base_and_functions(flake, system)
    venv = drvs.of(base.config["Entrypoint"][0]) or ""
    python_packages = {
        drvs.env(drvs.of(path) or "")["pname"]
        for path in drvs.env(venv)["NIX_PYPROJECT_DEPS"].split(":")
    }
    assert python_packages >= TACTUS_RUNTIME, sorted(TACTUS_RUNTIME - python_packages)
    # Nothing anywhere in the image's derivations either, Python package or not.
    everything = {drvs.env(d).get("pname") or drvs.drvs[d]["name"] for d in drvs.closure(base.conf)}
    gpu = sorted(n for n in everything if GPU_STACK.match(n.lower()))
    assert not gpu, gpu
    # The lock agrees: biblicus without its extra, so no lock entry for the GPU stack.
    locked = {p["name"] for p in lock()["package"]}
    assert not sorted(n for n in locked if GPU_STACK.match(n)), "uv.lock resolves the GPU stack"


@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_linkage_check_imports_the_tactus_runtime_offline(flake: Flake, system: str) -> None:
    drvs = flake.drvs
    [linkage] = [
        d
        for d in drvs.drvs
        if drvs.drvs[d]["name"] == "plexus-env-linkage" and drvs.drvs[d]["system"] == system
    ]
    env = drvs.env(linkage)
    for module in ("tactus.core.runtime", "plexus.scores.TactusScore", "lupa.lua55"):
        assert f"--import {module} " in env["buildCommand"], module
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"
    assert 'DSPY_CACHEDIR="$TMPDIR/' in env["buildCommand"]
    # Every image is built only from the environment that passed it.
    base, _ = base_and_functions(flake, system)
    assert linkage in drvs.closure(base.conf)


# --- the apps ---------------------------------------------------------------------------


def script(drvs: Derivations, app: dict[str, Any]) -> str:
    """The app's script as writeShellApplication writes it (its derivation's `text`)."""
    assert app["type"] == "app"
    (drv,) = app["drvs"]
    assert (
        app["program"] == f"{drvs.drvs[drv]['outputs']['out']['path']}/bin/{drvs.drvs[drv]['name']}"
    )
    return drvs.env(drv)["text"]


def exec_line(text: str, command: str) -> list[str]:
    """The words of the script's `exec COMMAND …` (continuation lines joined)."""
    joined = text.replace("\\\n", " ")
    lines = [line for line in joined.splitlines() if line.strip().startswith(f"exec {command}")]
    assert len(lines) == 1, text
    return shlex.split(lines[0])[1:]


def check_apps(drvs: Derivations, apps: dict[str, dict[str, Any]], folders: list[str]) -> None:
    """`push` pushes the base and every function image; `<name>-local` runs each function's
    entrypoint and task root under the RIE."""
    names = [naming.image_name(f) for f in folders]
    assert {"push", *(f"{n}-local" for n in names)} <= set(apps), sorted(apps)
    words = exec_line(script(drvs, apps["push"]), "")
    assert words[1:2] == ["push"] and words[-1] == "$@", words
    # NAME=PATH: what the push tool is given for each image (its archive, or what the
    # flake makes of it: the image is the one whose derivations PATH's closure holds).
    pushed = dict(
        w.split("=", 1) for w in words[2:-1] if re.fullmatch(r"[a-z0-9-]+=/nix/store/\S+", w)
    )
    assert next(iter(pushed)) == naming.BASE_IMAGE, pushed
    assert sorted(pushed) == sorted([naming.BASE_IMAGE, *names]), pushed
    for name, path in pushed.items():
        assert drvs.image_of(path).name == naming.repository_name(name), (name, path)
    for name in names:
        image = drvs.image_of(pushed[name])
        text = script(drvs, apps[f"{name}-local"])
        rie = exec_line(text, "aws-lambda-rie")
        assert rie[:2] == ["aws-lambda-rie", "--runtime-interface-emulator-address"], rie
        assert rie[3:] == image.config["Entrypoint"] + image.config["Cmd"], rie
        # Its task root is the one the function image copies into /var/task.
        layer = next(r for r in image.closure_roots if drvs.of(r) != image.base_json)
        (task,) = drvs.named_paths(drvs.of(layer) or "", "extraCommands")
        assert task.endswith(f"-{name}-task-root"), task
        assert f"LAMBDA_TASK_ROOT={task}" in text, text


def test_apps_push_every_image_and_run_each_function(flake: Flake) -> None:
    assert set(flake.apps) == SYSTEMS
    for system, apps in flake.apps.items():
        check_apps(flake.drvs, apps, naming.function_folders(nixeval.REPO))
        assert set(apps) == flake.evaluation.names("apps", system)


def test_images_and_apps_follow_the_folder(flake: Flake, tmp_path: Path) -> None:
    """A copy of the checkout with two more function folders (and a folder that is not
    one), evaluated by the kit's Nix: each gets its image, its -local app and a place in
    the push."""
    evaluation = flake.evaluation
    copy = tmp_path / "checkout"
    with nixeval.work_lock(evaluation.work):
        shutil.copytree(evaluation.work / "project", copy, symlinks=True)
    for folder in ("nightly_report", "batch_v2"):
        (copy / "lambda_functions" / folder).mkdir()
        (copy / "lambda_functions" / folder / "handler.py").write_text(
            "def handler(event, context):\n    return event\n"
        )
    (copy / "lambda_functions" / "drafts").mkdir()
    (copy / "lambda_functions" / "drafts" / "notes.md").write_text("not a function\n")
    folders = naming.function_folders(copy)
    assert {"nightly_report", "batch_v2"} < set(folders) and "drafts" not in folders

    system = "x86_64-linux"
    packages = f"builtins.mapAttrs (_: p: p.drvPath) o.packages.{system}"
    expr = f"o: {{ packages = {packages}; apps = ({nixeval.APPS_EXPR}) o; }}"
    result = nixeval.nix_eval_json(evaluation.kit, evaluation.work, copy, expr)
    apps = result["apps"][system]
    drv_paths = [*result["packages"].values(), *(d for a in apps.values() for d in a["drvs"])]
    drvs = Derivations.show(evaluation.kit, evaluation.work, drv_paths)
    for folder in folders:
        name = naming.image_name(folder)
        assert name in result["packages"], name
        image = drvs.image_of(drvs.drvs[result["packages"][name]]["outputs"]["out"]["path"])
        assert image.name == naming.repository_name(name)
    check_apps(drvs, apps, folders)
