"""Check built images against what AWS Lambda accepts and what the flake promises.

`python -m plexus.tooling.image_contract --base BASE [NAME=FUNCTION ...]`, each image a
docker-archive (.tar, .tar.gz) or a push-ready `dir:` layout (plexus.tooling.image_layout;
the flake's `image-contract` check runs it over every layout it builds). A layout's blobs
must hash to their names and have the manifest's sizes, its layers must be gzip with
nothing of the build machine in the header (no file name, mtime 0), and a function image's
first layers must be the base's very blobs (so a push mounts them). Each image must
hold one image for one architecture whose layers match the config's diff ids; no layer may
hold a hardlink or a file whose parent directory has no entry in that layer; the config
must run the environment's Python (an absolute path, a regular file in the image, not a
symlink) with `-m awslambdaric`, `Cmd ["handler.handler"]`, `WorkingDir /var/task` and the
environment Lambda needs, with nothing secret-looking in it. A function image must be the
base image's layers, same diff ids in the same order, plus at most two small layers that
bring its handler.

Exit status: 0 all good, 1 some image breaks the contract (one line per problem on
stderr), 2 bad arguments or an unreadable archive.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, cast

from plexus.tooling.docker_archive import ArchiveError, stream_archive
from plexus.tooling.lambda_manifest import GZIP_LAYER

TASK_ROOT = "/var/task"
RUNTIME_CLIENT = ["-m", "awslambdaric"]
HANDLER_CMD = ["handler.handler"]
REQUIRED_ENV = ("LAMBDA_TASK_ROOT", "PYTHONPATH", "MPLCONFIGDIR", "HOME", "SSL_CERT_FILE")
ARCHITECTURES = ("amd64", "arm64")
# Lambda's limit on the container settings (entrypoint, command, environment, working dir).
MAX_CONFIG_BYTES = 16 * 1024
MAX_EXTRA_LAYERS = 2
MAX_EXTRA_BYTES = 8 * 1024 * 1024
MAX_SYMLINK_HOPS = 40

# Per layer, so a systematically broken layer does not bury the other problems.
MAX_ENTRY_PROBLEMS = 5

SECRET_NAME = re.compile(
    r"(^|_)(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)(_|$)", re.I
)
SECRET_VALUE = re.compile(
    r"AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|sk-[A-Za-z0-9_-]{20,}"  # OpenAI-style key
    r"|da2-[a-z0-9]{26}"  # AppSync API key
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|://[^/\s:@]+:[^/\s@]+@"  # URL with a password
)


@dataclass(frozen=True)
class Entry:
    """One member of a layer tar, by normalized path ("var/task/handler.py")."""

    path: str
    kind: str  # file, dir, symlink, hardlink, other
    mode: int
    size: int
    target: str = ""


@dataclass
class Layer:
    name: str  # as in manifest.json
    digest: str  # sha256:<hex> of the uncompressed tar: its diff id
    size: int
    entries: list[Entry] = field(default_factory=list)
    blob: str = ""  # a layout's compressed blob digest (empty for an archive's layer)
    problems: list[str] = field(default_factory=list)  # about the blob itself


@dataclass
class Image:
    path: Path
    manifest: list[Any]
    config: dict[str, Any]
    layers: list[Layer]  # in manifest order
    problems: list[str] = field(default_factory=list)  # a layout's config blob

    @property
    def diff_ids(self) -> list[str]:
        return list(self.config.get("rootfs", {}).get("diff_ids") or [])

    @property
    def settings(self) -> dict[str, Any]:
        return self.config.get("config") or {}

    @property
    def env(self) -> dict[str, str]:
        pairs = (item.partition("=") for item in self.settings.get("Env") or [])
        return {key: value for key, _, value in pairs}


def normalize(name: str) -> str:
    """Tar member names as paths relative to the image root: "./a/b/" and "/a/b" give "a/b"."""
    parts = [part for part in PurePosixPath(name).parts if part not in ("/", ".")]
    return "/".join(parts)


def _kind(member: tarfile.TarInfo) -> str:
    if member.islnk():
        return "hardlink"
    if member.issym():
        return "symlink"
    if member.isdir():
        return "dir"
    if member.isfile():
        return "file"
    return "other"


class _Hashing:
    """A read-through file wrapper that hashes and counts what passes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data


def _read_layer(name: str, raw: IO[bytes]) -> Layer:
    reader = _Hashing(raw)
    entries = []
    try:
        with tarfile.open(fileobj=cast(IO[bytes], reader), mode="r|") as tar:
            for member in tar:
                entries.append(
                    Entry(
                        normalize(member.name),
                        _kind(member),
                        member.mode,
                        member.size,
                        member.linkname,
                    )
                )
    except tarfile.TarError as e:
        raise ArchiveError(f"layer {name} is not a tar ({e})") from e
    while reader.read(1024 * 1024):  # tar padding after the end-of-archive blocks
        pass
    return Layer(name, "sha256:" + reader.sha.hexdigest(), reader.size, entries)


def load_layout(path: Path) -> Image:
    """Read a dir: layout: manifest, config, each gzip blob checked and read."""
    try:
        raw = (path / "manifest.json").read_bytes()
        manifest = json.loads(raw)
        config_ref = manifest["config"]
        config_file = path / str(config_ref["digest"]).removeprefix("sha256:")
        config_raw = config_file.read_bytes()
        config = json.loads(config_raw)
        refs = list(manifest["layers"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArchiveError(f"{path}: not a readable dir: layout ({e})") from e
    if not isinstance(config, dict):
        raise ArchiveError(f"{path}: the image config is not a JSON object")
    problems = []
    if "sha256:" + hashlib.sha256(config_raw).hexdigest() != config_ref.get("digest"):
        problems.append(f"config blob {config_file.name} does not hash to its name")
    if len(config_raw) != config_ref.get("size"):
        problems.append("config blob size differs from the manifest's")
    layers = []
    for ref in refs:
        layers.append(_read_layout_layer(path, ref))
    entry = {"Config": config_file.name, "Layers": [r["digest"] for r in refs]}
    return Image(path, [entry], config, layers, problems)


def _read_layout_layer(path: Path, ref: dict[str, Any]) -> Layer:
    digest = str(ref.get("digest"))
    file = path / digest.removeprefix("sha256:")
    problems = []
    if ref.get("mediaType") != GZIP_LAYER:
        problems.append(f"its media type is {ref.get('mediaType')}, not gzip")
    try:
        with file.open("rb") as raw:
            header = raw.read(10)
            raw.seek(0)
            blob_sha = _Hashing(raw)
            with gzip.GzipFile(fileobj=cast(IO[bytes], blob_sha)) as plain:
                layer = _read_layer(digest, cast(IO[bytes], plain))
            while blob_sha.read(1024 * 1024):
                pass
    except FileNotFoundError as e:
        raise ArchiveError(f"{path}: blob {digest} is missing") from e
    except (OSError, EOFError) as e:
        raise ArchiveError(f"{path}: blob {digest} is not gzip ({e})") from e
    if "sha256:" + blob_sha.sha.hexdigest() != digest:
        problems.append("the blob does not hash to its name")
    if blob_sha.size != ref.get("size"):
        problems.append(
            f"the blob holds {blob_sha.size} bytes, the manifest says {ref.get('size')}"
        )
    if len(header) == 10 and (header[3] & 0x08 or header[4:8] != b"\0\0\0\0"):
        problems.append("its gzip header carries a file name or a time (not reproducible)")
    layer.blob = digest
    layer.problems = problems
    return layer


def load_image(path: Path) -> Image:
    """Read a dir: layout, or a docker-archive (plain or gzip) layer by layer in one pass."""
    if path.is_dir():
        return load_layout(path)
    blobs, layers = stream_archive(path, _read_layer, normalize)

    def parse(name: str) -> Any:
        if name not in blobs:
            raise ArchiveError(f"{path}: {name} is missing")
        try:
            return json.loads(blobs[name])
        except ValueError as e:
            raise ArchiveError(f"{path}: {name} is not JSON ({e})") from e

    manifest = parse("manifest.json")
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise ArchiveError(f"{path}: manifest.json lists no image")
    config = parse(normalize(str(manifest[0].get("Config", ""))))
    if not isinstance(config, dict):
        raise ArchiveError(f"{path}: the image config is not a JSON object")
    ordered = []
    for layer_name in manifest[0].get("Layers") or []:
        key = normalize(str(layer_name))
        if key not in layers:
            raise ArchiveError(f"{path}: layer {layer_name} listed in manifest.json is missing")
        ordered.append(layers[key])
    return Image(path, manifest, config, ordered)


def image_problems(image: Image) -> list[str]:
    """Everything about one image that Lambda or the flake's promises would reject."""
    problems = []
    if len(image.manifest) != 1:
        problems.append(f"manifest.json lists {len(image.manifest)} images, Lambda takes one")
    if image.config.get("os") != "linux" or image.config.get("architecture") not in ARCHITECTURES:
        problems.append(
            f"config names os {image.config.get('os')!r} and architecture "
            f"{image.config.get('architecture')!r}; Lambda runs linux on {' or '.join(ARCHITECTURES)}"
        )
    if not image.layers:
        problems.append("the image has no layers")
    if [layer.digest for layer in image.layers] != image.diff_ids:
        problems.append("the layers' sha256 sums are not the config's rootfs.diff_ids, in order")
    problems += image.problems
    for layer in image.layers:
        problems += [f"layer {layer.blob}: {problem}" for problem in layer.problems]
        problems += layer_problems(layer)
    problems += settings_problems(image)
    return problems


def layer_problems(layer: Layer) -> list[str]:
    problems = []
    directories = {entry.path for entry in layer.entries if entry.kind == "dir"}
    for entry in layer.entries:
        if entry.kind == "hardlink":
            problems.append(f"{entry.path} is a hardlink (Lambda rejects them)")
        parent = str(PurePosixPath(entry.path).parent)
        if entry.path and parent != "." and parent not in directories:
            problems.append(f"{entry.path} has no entry for its directory {parent}")
    shown = [f"layer {layer.name}: {problem}" for problem in problems[:MAX_ENTRY_PROBLEMS]]
    if len(problems) > MAX_ENTRY_PROBLEMS:
        shown.append(f"layer {layer.name}: {len(problems) - MAX_ENTRY_PROBLEMS} more such entries")
    return shown


def filesystem(image: Image) -> dict[str, Entry]:
    """The merged file system: each path's entry from the topmost layer that has it."""
    merged: dict[str, Entry] = {}
    for layer in image.layers:
        for entry in layer.entries:
            merged[entry.path] = entry
    return merged


def resolve(files: dict[str, Entry], path: str) -> tuple[Entry | None, bool]:
    """The entry an absolute path reaches, following symlinks; and whether it took any."""
    parts = [part for part in PurePosixPath(path).parts if part != "/"]
    done: list[str] = []
    followed = False
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            done = done[:-1]
            continue
        current = "/".join([*done, part])
        entry = files.get(current)
        if entry is None:
            return None, followed
        if entry.kind == "symlink":
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                return None, True
            followed = True
            target = PurePosixPath(entry.target)
            done = [] if target.is_absolute() else done
            parts = [p for p in target.parts if p not in ("/", ".")] + parts
            continue
        done.append(part)
    return files.get("/".join(done)), followed


def settings_problems(image: Image) -> list[str]:
    problems = []
    settings = image.settings
    size = len(json.dumps(settings, separators=(",", ":")).encode())
    if size > MAX_CONFIG_BYTES:
        problems.append(
            f"the container settings take {size} bytes, Lambda allows {MAX_CONFIG_BYTES}"
        )
    files = filesystem(image)
    entrypoint = settings.get("Entrypoint")
    if not isinstance(entrypoint, list) or not entrypoint or entrypoint[1:] != RUNTIME_CLIENT:
        problems.append(f"Entrypoint is {entrypoint!r}, not [<python>, '-m', 'awslambdaric']")
    elif not str(entrypoint[0]).startswith("/"):
        problems.append(f"Entrypoint {entrypoint[0]!r} is not an absolute path")
    else:
        target, followed = resolve(files, entrypoint[0])
        if target is None or target.kind != "file":
            problems.append(f"Entrypoint {entrypoint[0]} is not a file in the image")
        elif followed:
            problems.append(f"Entrypoint {entrypoint[0]} goes through a symlink")
        elif not target.mode & 0o111:
            problems.append(f"Entrypoint {entrypoint[0]} is not executable")
    if settings.get("Cmd") != HANDLER_CMD:
        problems.append(f"Cmd is {settings.get('Cmd')!r}, not {HANDLER_CMD!r}")
    if settings.get("WorkingDir") != TASK_ROOT:
        problems.append(f"WorkingDir is {settings.get('WorkingDir')!r}, not {TASK_ROOT}")

    env = image.env
    missing = [key for key in REQUIRED_ENV if not env.get(key)]
    if missing:
        problems.append(f"Env lacks {', '.join(missing)}")
    if env.get("LAMBDA_TASK_ROOT", TASK_ROOT) != TASK_ROOT:
        problems.append(f"LAMBDA_TASK_ROOT is {env['LAMBDA_TASK_ROOT']!r}, not {TASK_ROOT}")
    if TASK_ROOT not in env.get("PYTHONPATH", TASK_ROOT).split(":"):
        problems.append(f"PYTHONPATH does not include {TASK_ROOT}")
    for key in ("HOME", "MPLCONFIGDIR"):
        if key in env and not (env[key] + "/").startswith("/tmp/"):
            problems.append(f"{key} is {env[key]!r}, outside /tmp (the only writable place)")
    if env.get("SSL_CERT_FILE"):
        bundle, _ = resolve(files, env["SSL_CERT_FILE"])
        if bundle is None or bundle.kind != "file":
            problems.append(f"SSL_CERT_FILE {env['SSL_CERT_FILE']} is not a file in the image")
    # Name the variable, never the value.
    labels = settings.get("Labels") or {}
    for key, value in [*env.items(), *labels.items()]:
        if value and (SECRET_NAME.search(key) or SECRET_VALUE.search(str(value))):
            problems.append(f"{key} looks like it holds a secret; images must not carry one")

    tmp = files.get("tmp")
    if tmp is None or tmp.kind != "dir" or tmp.mode & 0o7777 != 0o1777:
        problems.append("/tmp is not a directory with mode 1777")
    task = files.get(TASK_ROOT.lstrip("/"))
    if task is None or task.kind != "dir":
        problems.append(f"{TASK_ROOT} is not a directory in the image")
    return problems


def function_problems(base: Image, function: Image, max_extra: int = MAX_EXTRA_LAYERS) -> list[str]:
    """A function image must be exactly the base's layers plus a few small ones with its handler."""
    problems = []
    base_ids, ids = base.diff_ids, function.diff_ids
    extra = len(ids) - len(base_ids)
    if ids[: len(base_ids)] != base_ids:
        problems.append("its first layers are not the base image's layers in the base's order")
    elif [la.blob for la in function.layers[: len(base_ids)]] != [la.blob for la in base.layers]:
        problems.append("its first layers are the base's but not the base's blobs (no mount)")
    elif not 1 <= extra <= max_extra:
        problems.append(
            f"it adds {extra} layers to the base's {len(base_ids)}; expected 1 to {max_extra}"
        )
    else:
        added = function.layers[len(base_ids) :]
        size = sum(layer.size for layer in added)
        if size > MAX_EXTRA_BYTES:
            problems.append(f"its own layers hold {size} bytes, more than a handler needs")
        stored = sorted(
            {e.path for layer in added for e in layer.entries if e.path.startswith("nix/store/")}
        )
        if stored:
            problems.append(f"its own layers repeat store paths, e.g. {stored[0]}")
    handler, _ = resolve(filesystem(function), f"{TASK_ROOT}/handler.py")
    if handler is None or handler.kind != "file":
        problems.append(f"{TASK_ROOT}/handler.py is not a file in the image")
    for key in ("Entrypoint", "Cmd", "WorkingDir"):
        if function.settings.get(key) != base.settings.get(key):
            problems.append(f"its {key} differs from the base image's")
    lost = sorted(key for key, value in base.env.items() if function.env.get(key) != value)
    if lost:
        problems.append(f"it does not carry the base image's {', '.join(lost)}")
    return problems


def check(base: Image, functions: dict[str, Image]) -> Iterator[str]:
    """Every problem, prefixed with the image's name."""
    for problem in image_problems(base):
        yield f"base: {problem}"
    for name, image in functions.items():
        for problem in [*image_problems(image), *function_problems(base, image)]:
            yield f"{name}: {problem}"
        if image.config.get("architecture") != base.config.get("architecture"):
            yield f"{name}: its architecture differs from the base image's"


def _named_archive(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=ARCHIVE")
    return name, Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m plexus.tooling.image_contract", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--base", required=True, type=Path, help="the lambda-base archive")
    parser.add_argument(
        "functions", nargs="*", type=_named_archive, metavar="NAME=ARCHIVE", help="function images"
    )
    args = parser.parse_args(argv)
    try:
        base = load_image(args.base)
        functions = {name: load_image(path) for name, path in args.functions}
    except ArchiveError as e:
        print(f"image contract: {e}", file=sys.stderr)
        return 2
    problems = list(check(base, functions))
    for problem in problems:
        print(problem, file=sys.stderr)
    for name, image in {"base": base, **functions}.items():
        print(
            f"{name}: {len(image.layers)} layers, {image.config.get('architecture')}, {image.path}"
        )
    if problems:
        print(f"image contract: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("image contract: all images pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
