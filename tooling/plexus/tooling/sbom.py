"""A CycloneDX SBOM for one image, made at build time from its Nix closure.

`python -m plexus.tooling.sbom --layout DIR --closure-info DIR --uv-lock uv.lock
 --name plexus/lambda-base -o sbom.cdx.json`

- `--closure-info` is nixpkgs' `closureInfo { rootPaths = …; }` of the image's roots: its
  `registration` gives every store path with its NAR hash, size and references;
- `--layout` is the image (plexus.tooling.image_layout): its manifest digest is the SBOM's
  subject, and its layers are read to check the closure against what the image holds (a
  store path in the image that the closure lacks fails the build) and to find the Python
  distributions (`*.dist-info`) and the files of /var/task;
- `--uv-lock` gives each Python distribution's locked version: one the image holds at
  another version, or that uv.lock lacks, fails the build.

Components: each store path of the closure that is in the image (name and version as Nix
splits them, purl `pkg:nix/…`, SHA-256 of its NAR, its references as dependencies), each
Python distribution (`pkg:pypi/<name>@<version>`), each file of /var/task (SHA-256). The
image is `metadata.component` (`pkg:oci/…@sha256:…`). Serial number and timestamp are
derived from the digest and SOURCE_DATE_EPOCH, so a rebuild gives the same bytes.
The output is validated against the CycloneDX 1.6 JSON schema before it is written.

Reading an SBOM's subject (`subject_digest`) needs only the standard library: the push tool
runs without cyclonedx-python-lib.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import json
import os
import re
import sys
import tarfile
import tomllib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from plexus.tooling.image_layout import Layout, LayoutError, read_layout

STORE = "nix/store/"
TASK_ROOT = "var/task/"
NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"
DIST_INFO = re.compile(r"^(?P<name>[^/]+?)-(?P<version>[^-/]+)\.dist-info$")
SUBJECT_PROPERTY = "plexus:image:digest"


class SbomError(Exception):
    """The SBOM cannot be made truthfully (or read), and why."""


@dataclass(frozen=True)
class StorePath:
    path: str  # /nix/store/<hash>-<name>
    nar_hash: str = ""  # as closureInfo writes it
    nar_size: int = 0
    references: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def name_version(self) -> tuple[str, str]:
        return parse_drv_name(self.base.split("-", 1)[1] if "-" in self.base else self.base)


@dataclass
class ImageContents:
    store_paths: set[str] = field(default_factory=set)
    # (normalized name, version) -> store path holding the dist-info
    distributions: dict[tuple[str, str], str] = field(default_factory=dict)
    task_files: dict[str, str] = field(default_factory=dict)  # /var/task/x -> sha256 hex


def parse_drv_name(name: str) -> tuple[str, str]:
    """As builtins.parseDrvName: the version starts at the first dash followed by a non-letter."""
    for i, char in enumerate(name):
        if char == "-" and i + 1 < len(name) and not name[i + 1].isalpha():
            return name[:i], name[i + 1 :]
    return name, ""


def normalize(name: str) -> str:
    """PEP 503 name normalization (as uv.lock writes names)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def nix32_decode(text: str) -> bytes:
    """Nix's base-32 (as in store hashes and `sha256:…` NAR hashes) to bytes."""
    size = len(text) * 5 // 8
    out = bytearray(size)
    for n in range(len(text)):
        char = text[len(text) - n - 1]
        digit = NIX32.find(char)
        if digit < 0:
            raise ValueError(f"{char!r} is not a Nix base-32 digit")
        b = n * 5
        i, j = b // 8, b % 8
        out[i] |= (digit << j) & 0xFF
        if i < size - 1:
            out[i + 1] |= digit >> (8 - j)
    return bytes(out)


def nar_sha256_hex(nar_hash: str) -> str | None:
    """`sha256:<nix32>`, `sha256:<hex>` or SRI `sha256-<base64>` as 64 hex digits."""
    if nar_hash.startswith("sha256-"):
        return base64.b64decode(nar_hash[7:]).hex()
    if nar_hash.startswith("sha256:"):
        value = nar_hash[7:]
        if re.fullmatch(r"[0-9a-f]{64}", value):
            return value
        if len(value) == 52:
            return nix32_decode(value).hex()
    return None


def read_closure_info(folder: Path) -> dict[str, StorePath]:
    """closureInfo's `registration` (path, NAR hash, NAR size, deriver, n, n references per
    path), or only its `store-paths` when there is no registration."""
    registration = folder / "registration"
    paths: dict[str, StorePath] = {}
    if registration.exists():
        lines = registration.read_text().split("\n")
        i = 0
        while i < len(lines):
            if not lines[i]:
                i += 1
                continue
            try:
                path, nar_hash, size, _deriver, count = lines[i : i + 5]
                refs = tuple(lines[i + 5 : i + 5 + int(count)])
                paths[path] = StorePath(path, nar_hash, int(size), refs)
                i += 5 + int(count)
            except ValueError as e:
                raise SbomError(
                    f"{registration}: not closureInfo's format near line {i + 1}"
                ) from e
        return paths
    try:
        listed = (folder / "store-paths").read_text().split()
    except FileNotFoundError as e:
        raise SbomError(f"{folder}: no registration or store-paths (not a closureInfo)") from e
    return {path: StorePath(path) for path in listed}


def read_uv_lock(path: Path) -> dict[str, str]:
    """Normalized package name -> locked version."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise SbomError(f"{path}: cannot read uv.lock ({e})") from e
    return {
        normalize(p["name"]): str(p["version"])
        for p in data.get("package", [])
        if "name" in p and "version" in p
    }


def scan_image(layout: Layout) -> ImageContents:
    """What the image's layers hold: store paths, Python distributions, /var/task files."""
    contents = ImageContents()
    for layer in layout.layers:
        with (
            layout.blob_path(layer.digest).open("rb") as raw,
            gzip.GzipFile(fileobj=raw) as plain,
            tarfile.open(fileobj=plain, mode="r|") as tar,
        ):
            for member in tar:
                name = "/".join(p for p in PurePosixPath(member.name).parts if p not in ("/", "."))
                if name.startswith(STORE):
                    parts = name[len(STORE) :].split("/")
                    top = "/" + STORE + parts[0]
                    contents.store_paths.add(top)
                    match = DIST_INFO.match(parts[-1]) if member.isdir() else None
                    if match and "site-packages" in parts:
                        key = (normalize(match["name"]), match["version"])
                        contents.distributions.setdefault(key, top)
                elif name.startswith(TASK_ROOT) and member.isfile():
                    data = tar.extractfile(member)
                    if data is not None:
                        contents.task_files["/" + name] = hashlib.sha256(data.read()).hexdigest()
    return contents


def _cdx() -> Any:
    try:
        import cyclonedx  # noqa: F401
    except ImportError as e:
        raise SbomError(
            "cyclonedx-python-lib is not installed (uv sync, or the flake's sbom environment)"
        ) from e
    from cyclonedx import model
    from cyclonedx.model import bom, component, dependency

    return model, bom, component, dependency


def build_bom(
    layout: Layout,
    closure: dict[str, StorePath],
    locked: dict[str, str],
    name: str,
    contents: ImageContents | None = None,
) -> Any:
    """The Bom, after checking that the closure and uv.lock account for the whole image."""
    from packageurl import PackageURL

    model, bom_mod, comp, _ = _cdx()
    contents = contents or scan_image(layout)
    unlisted = sorted(contents.store_paths - closure.keys())
    if unlisted:
        raise SbomError(
            f"the image holds {len(unlisted)} store path(s) the closure does not list, "
            f"e.g. {unlisted[0]}: the SBOM's closure roots are not the image's"
        )
    problems = []
    for (dist, version), holder in sorted(contents.distributions.items()):
        if dist not in locked:
            problems.append(f"{dist} {version} (in {holder}) is not in uv.lock")
        elif locked[dist] != version:
            problems.append(
                f"{dist} is {version} in the image (in {holder}), {locked[dist]} in uv.lock"
            )
    if problems:
        raise SbomError("Python packages that uv.lock does not account for: " + "; ".join(problems))

    sha = model.HashType
    alg = model.HashAlgorithm.SHA_256
    prop = model.Property
    components = []
    in_image = {p: closure[p] for p in sorted(contents.store_paths)}
    refs: dict[str, Any] = {}
    for path, info in in_image.items():
        pname, version = info.name_version
        hashes = []
        hex_digest = nar_sha256_hex(info.nar_hash)
        if hex_digest:
            hashes.append(sha(alg=alg, content=hex_digest))
        properties = [prop(name="nix:store_path", value=path)]
        if info.nar_size:
            properties.append(prop(name="nix:nar_size", value=str(info.nar_size)))
        if info.nar_hash:
            properties.append(prop(name="nix:nar_hash", value=info.nar_hash))
        purl = PackageURL(
            "nix", name=pname, version=version or None, qualifiers={"outputhash": info.base[:32]}
        )
        c = comp.Component(
            name=pname,
            version=version or None,
            type=comp.ComponentType.LIBRARY,
            bom_ref=path,
            purl=purl,
            hashes=hashes,
            properties=properties,
        )
        refs[path] = c
        components.append(c)
    for (dist, version), holder in sorted(contents.distributions.items()):
        purl = PackageURL("pypi", name=dist, version=version)
        components.append(
            comp.Component(
                name=dist,
                version=version,
                type=comp.ComponentType.LIBRARY,
                bom_ref=purl.to_string(),
                purl=purl,
                properties=[
                    prop(name="nix:store_path", value=holder),
                    prop(name="uv:locked_version", value=locked[dist]),
                ],
            )
        )
    for path, hex_digest in sorted(contents.task_files.items()):
        components.append(
            comp.Component(
                name=path,
                type=comp.ComponentType.FILE,
                bom_ref=f"file:{path}",
                hashes=[sha(alg=alg, content=hex_digest)],
            )
        )

    digest = layout.digest
    short = name.rsplit("/", 1)[-1]
    subject_purl = PackageURL(
        "oci", name=short, version=digest, qualifiers={"arch": layout.architecture}
    )
    subject = comp.Component(
        name=name,
        version=digest,
        type=comp.ComponentType.CONTAINER,
        bom_ref=subject_purl.to_string(),
        purl=subject_purl,
        hashes=[sha(alg=alg, content=digest.removeprefix("sha256:"))],
        properties=[
            prop(name=SUBJECT_PROPERTY, value=digest),
            prop(name="plexus:image:config_digest", value=layout.config_digest),
            prop(name="plexus:image:architecture", value=layout.architecture),
        ],
    )
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "1"))
    bom = bom_mod.Bom(
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"plexus-sbom:{name}@{digest}"),
        metadata=bom_mod.BomMetaData(
            component=subject, timestamp=datetime.fromtimestamp(epoch, UTC)
        ),
        components=components,
    )
    referenced = {r for info in in_image.values() for r in info.references if r in refs}
    roots = [refs[p] for p in in_image if p not in referenced]
    bom.register_dependency(subject, roots + [c for c in components if c.bom_ref.value not in refs])
    for path, info in in_image.items():
        depends = [refs[r] for r in info.references if r in refs and r != path]
        bom.register_dependency(refs[path], depends)
    return bom


def render(bom: Any) -> str:
    """CycloneDX 1.6 JSON, validated against the schema."""
    from cyclonedx.output.json import JsonV1Dot6
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = JsonV1Dot6(bom).output_as_string(indent=1)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SbomError(f"the SBOM does not validate against CycloneDX 1.6: {error}")
    return text + "\n"


def subject_digest(path: Path | str) -> str:
    """The image digest an SBOM written here describes (standard library only)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        props = data["metadata"]["component"].get("properties") or []
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise SbomError(f"{path}: not a CycloneDX SBOM with an image subject ({e})") from e
    for p in props:
        if isinstance(p, dict) and p.get("name") == SUBJECT_PROPERTY:
            return str(p.get("value"))
    raise SbomError(f"{path}: its metadata.component names no image digest")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m plexus.tooling.sbom", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--layout", required=True, type=Path, help="the image's dir: layout")
    parser.add_argument("--closure-info", required=True, type=Path, help="closureInfo output")
    parser.add_argument("--uv-lock", required=True, type=Path, help="the project's uv.lock")
    parser.add_argument("--name", required=True, help="the image's name, e.g. plexus/lambda-base")
    parser.add_argument("-o", "--output", required=True, type=Path)
    args = parser.parse_args(argv)
    try:
        layout = read_layout(args.layout)
        bom = build_bom(
            layout, read_closure_info(args.closure_info), read_uv_lock(args.uv_lock), args.name
        )
        text = render(bom)
    except (SbomError, LayoutError) as e:
        print(f"sbom: {e}", file=sys.stderr)
        return 1
    args.output.write_text(text)
    count = len(bom.components)
    print(f"sbom: {args.output}: {count} components, subject {layout.digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
