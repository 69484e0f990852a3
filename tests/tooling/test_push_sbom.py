"""plexus.tooling.sbom over a synthetic image: a closure listed as closureInfo lists it, a
uv.lock, the layout; the SBOM validates against CycloneDX 1.6 and covers all of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from plexus.tooling import sbom
from plexus.tooling.image_layout import convert
from tests.support.docker_archive import make_layer, write_docker_archive

S = "/nix/store/"
PYTHON = S + "0c3a2ydhz2j8cd7jzbplzy6mw0ab2nq6-python3-3.11.14"
BOTO3 = S + "1k5lqdnk6h7y1gk4f2dvsfnklc6ppi60-boto3-1.35.0"
ENV = S + "2jd7h4wmzn2nvqf9ig0x3w4wnpq8d0yy-plexus-env"
CACERT = S + "3b9b3ll4ijw4cq1jqmhsg8mbn1y1xyrj-nss-cacert-3.115"
CONFIG_JSON = S + "4x8v3q4hmkxlaxy7s3d0kj9m2dcl9b6z-lambda-image-config.json"
SITE = "lib/python3.11/site-packages"
# As closureInfo writes it: path, NAR hash, NAR size, deriver, n, n references.
NAR = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s"
UV_LOCK = """version = 1
[[package]]
name = "boto3"
version = "1.35.0"
[[package]]
name = "plexus"
version = "0.1.0"
source = { editable = "." }
"""


def _registration(paths: dict[str, list[str]]) -> str:
    lines = []
    for path, refs in paths.items():
        lines += [path, NAR, "1024", "", str(len(refs)), *refs]
    return "\n".join(lines) + "\n"


@pytest.fixture
def image(tmp_path: Path) -> dict[str, Path]:
    store = {
        f"{PYTHON[1:]}/bin/python3.11": b"#!",
        f"{BOTO3[1:]}/{SITE}/boto3/__init__.py": b"",
        f"{BOTO3[1:]}/{SITE}/boto3-1.35.0.dist-info": None,
        f"{BOTO3[1:]}/{SITE}/boto3-1.35.0.dist-info/METADATA": b"Name: boto3\n",
        f"{ENV[1:]}/{SITE}/plexus-0.1.0.dist-info": None,
        f"{ENV[1:]}/{SITE}/plexus-0.1.0.dist-info/METADATA": b"Name: plexus\n",
        f"{CACERT[1:]}/etc/ssl/certs/ca-bundle.crt": b"CERT",
    }
    layers = [
        make_layer({k: v for k, v in store.items() if k.startswith(PYTHON[1:])}),
        make_layer({k: v for k, v in store.items() if not k.startswith(PYTHON[1:])}),
        make_layer({"var/task/handler.py": b"def handler(e, c):\n    return 1\n"}),
    ]
    archive = write_docker_archive(tmp_path / "fn.tar", layers, {}, "lambda-fn:1")
    layout = convert(archive, tmp_path / "layout")
    closure = tmp_path / "closure-info"
    closure.mkdir()
    graph = {
        PYTHON: [PYTHON],
        BOTO3: [PYTHON],
        ENV: [BOTO3, PYTHON],
        CACERT: [],
        CONFIG_JSON: [ENV, CACERT],  # a closure root that is not in the image
    }
    (closure / "registration").write_text(_registration(graph))
    (closure / "store-paths").write_text("\n".join(sorted(graph)) + "\n")
    lock = tmp_path / "uv.lock"
    lock.write_text(UV_LOCK)
    return {"layout": layout.path, "closure": closure, "lock": lock, "out": tmp_path / "s.json"}


def _run(image: dict[str, Path]) -> int:
    return sbom.main(
        [
            "--layout",
            str(image["layout"]),
            "--closure-info",
            str(image["closure"]),
            "--uv-lock",
            str(image["lock"]),
            "--name",
            "plexus/lambda-fn",
            "-o",
            str(image["out"]),
        ]
    )


def test_sbom_validates_and_covers_the_closure(image, capsys):
    assert _run(image) == 0, capsys.readouterr().err
    text = image["out"].read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc = json.loads(text)
    from plexus.tooling.image_layout import read_layout

    digest = read_layout(image["layout"]).digest
    subject = doc["metadata"]["component"]
    assert subject["type"] == "container" and subject["version"] == digest
    assert subject["purl"] == f"pkg:oci/lambda-fn@{digest}?arch=amd64"
    assert sbom.subject_digest(image["out"]) == digest
    by_ref = {c["bom-ref"]: c for c in doc["components"]}
    # Every store path the image holds, with Nix's name and version and its NAR hash.
    for path, name, version in [
        (PYTHON, "python3", "3.11.14"),
        (BOTO3, "boto3", "1.35.0"),
        (ENV, "plexus-env", None),
        (CACERT, "nss-cacert", "3.115"),
    ]:
        component = by_ref[path]
        assert component["name"] == name
        assert component.get("version") == version
        assert component["hashes"] == [{"alg": "SHA-256", "content": sbom.nar_sha256_hex(NAR)}]
    assert CONFIG_JSON not in by_ref  # in the closure, not in the image
    # Every Python distribution, with its purl and uv.lock's version.
    assert by_ref["pkg:pypi/boto3@1.35.0"]["version"] == "1.35.0"
    assert by_ref["pkg:pypi/plexus@0.1.0"]["purl"] == "pkg:pypi/plexus@0.1.0"
    assert by_ref["file:/var/task/handler.py"]["type"] == "file"
    deps = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert deps[ENV] == {BOTO3, PYTHON}
    assert ENV in deps[subject["bom-ref"]]  # the image's roots hang off the subject


def test_the_same_inputs_give_the_same_bytes(image):
    assert _run(image) == 0
    first = image["out"].read_bytes()
    assert _run(image) == 0
    assert image["out"].read_bytes() == first


def test_a_store_path_the_closure_lacks_fails(image, capsys):
    registration = (image["closure"] / "registration").read_text()
    kept = registration.split("\n")
    start = kept.index(CACERT)
    del kept[start : start + 5]
    (image["closure"] / "registration").write_text("\n".join(kept))
    assert _run(image) == 1
    err = capsys.readouterr().err
    assert f"store path(s) the closure does not list, e.g. {CACERT}" in err
    assert not image["out"].exists()


def test_a_python_package_at_another_version_than_uv_lock_fails(image, capsys):
    image["lock"].write_text(UV_LOCK.replace('version = "1.35.0"', 'version = "1.36.0"'))
    assert _run(image) == 1
    assert "boto3 is 1.35.0 in the image" in capsys.readouterr().err


def test_nix32_matches_nix():
    # Both pairs from Nix 2.26's `nix hash convert --hash-algo sha256 --to base16|nix32`.
    assert sbom.nix32_decode("0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73").hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert sbom.nar_sha256_hex("sha256:094qif9n4cq4fdg459qzbhg1c6wywawwaaivx0k0x8xhbyx4vwic") == (
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )
    assert sbom.parse_drv_name("python3-3.11.14") == ("python3", "3.11.14")
    assert sbom.parse_drv_name("plexus-env") == ("plexus-env", "")
    assert sbom.parse_drv_name("nss-cacert-3.115") == ("nss-cacert", "3.115")


def test_push_prints_the_sbom_and_refuses_another_images(push, images, tmp_path, image):
    archive = images.write("base")
    layout = convert(archive, tmp_path / "base-layout")
    theirs = image["out"]
    assert _run(image) == 0
    refused = push(f"base={layout.path}", "--sbom", f"base={theirs}")
    assert refused.code == 1
    assert "describes sha256:" in refused.err and f"not this image ({layout.digest})" in refused.err
    assert refused.skopeo_calls == []

    ours = tmp_path / "ours.cdx.json"
    doc = json.loads(theirs.read_text())
    for prop in doc["metadata"]["component"]["properties"]:
        if prop["name"] == sbom.SUBJECT_PROPERTY:
            prop["value"] = layout.digest
    ours.write_text(json.dumps(doc))
    result = push(f"base={layout.path}", "--sbom", f"base={ours}")
    assert result.code == 0, result.err
    assert result.images[0]["sbom"] == str(ours)
    assert result.images[0]["digest"] == layout.digest
