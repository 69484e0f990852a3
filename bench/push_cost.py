"""Push cost: bytes uploaded to the registry for function images that share a base, pushed
with the real `plexus-lambda push` and skopeo; moto (its own process) answers ECR and
Debian's docker-registry on 127.0.0.1, behind a counting proxy, holds the blobs.

The images are pushed as the flake builds them: dir: layouts whose gzip layers and manifest
are made before the push (plexus.tooling.image_layout, function images with --base). Every
push gets a private skopeo blob-info cache (/var/lib/containers/cache as root), so no figure
depends on what this machine pushed before; most rows use an empty one, as a fresh CI
runner has. Targets, from an empty cache: a re-push of unchanged images uploads 0 blob
bytes; a changed handler uploads only its layer and config; a new function repository
uploads 0 base bytes (mounted from the base's repository; Debian's registry mounts).
    uv run python bench/push_cost.py [--base-mb 8]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from _services import ROOT, machine, table, verdict

from plexus.local.aws import start_moto_process
from plexus.tooling.image_layout import Layout, convert
from tests.support.docker_archive import make_layer, write_docker_archive
from tests.support.registry import LocalRegistry, RegistryProxy

PASSWORD = "123456789012-auth-token"  # what moto's GetAuthorizationToken hands out
ROOT_CACHE = "/var/lib/containers/cache"
FUNCTIONS = ("score-processing", "nightly-report", "batch-export", "audit-export")
# Mount a private directory over root's blob-info cache, in a mount namespace of its own.
BIND_CACHE = 'mkdir -p "$1" && mount --bind "$0" "$1" && shift && exec "$@"'


def cache_isolation() -> str:
    """How each push gets a private blob-info cache: 'namespace' (root), 'xdg' (not root)."""
    if os.geteuid() != 0:
        return "xdg"  # skopeo then keeps its cache under $XDG_DATA_HOME/containers/cache
    probe = subprocess.run(
        ["unshare", "--mount", "true"], capture_output=True, check=False, timeout=10
    )
    if probe.returncode != 0:
        raise SystemExit(
            "cannot give skopeo a private blob-info cache: `unshare --mount` is not permitted "
            f"here ({probe.stderr.decode().strip()}), and as root skopeo always uses {ROOT_CACHE}"
        )
    return "namespace"


@dataclass
class Cost:
    blob_bytes: int
    base_bytes: int  # of those, the base's layers
    mounts: int
    manifest_bytes: int


class Pusher:
    def __init__(
        self, proxy: RegistryProxy, env: dict[str, str], isolation: str, base: Layout
    ) -> None:
        self.proxy = proxy
        self.env = env
        self.isolation = isolation
        self.tool = str(Path(sys.executable).with_name("plexus-lambda"))
        self.base_sizes = {layer.digest: layer.size for layer in base.layers}

    def push(self, cache: Path, *images: str, no_mount: bool = False) -> Cost:
        """What one `plexus-lambda push` run uploaded."""
        cache.mkdir(parents=True, exist_ok=True)
        argv = [self.tool, "push", *images, "--registry", self.proxy.host, "--no-dest-tls-verify"]
        env = dict(self.env)
        if self.isolation == "namespace":
            argv = ["unshare", "--mount", "sh", "-c", BIND_CACHE, str(cache), ROOT_CACHE, *argv]
        else:
            env["XDG_DATA_HOME"] = str(cache)
        self.proxy.reset()
        self.proxy.no_mount = no_mount
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"push failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        seen = self.proxy.snapshot()
        manifests = sum(r.bytes_in for r in seen if r.method == "PUT" and "/manifests/" in r.path)
        done = [
            d
            for r in seen
            if r.method == "PUT" and "/blobs/uploads/" in r.path and r.status == 201
            for d in parse_qs(r.query).get("digest", [])
        ]
        return Cost(
            blob_bytes=self.proxy.bytes_uploaded(),
            base_bytes=sum(self.base_sizes.get(d, 0) for d in done),
            mounts=sum(1 for r in seen if r.is_mount and r.status == 201),
            manifest_bytes=manifests,
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-mb", type=int, default=8, help="size of the base's 3 layers")
    args = parser.parse_args()
    isolation = cache_isolation()
    work = Path(tempfile.mkdtemp(prefix="plexus-push-cost-"))
    try:
        salt = os.urandom(8).hex()  # fresh blobs, whatever the registry saw before
        base = [
            make_layer(
                {
                    f"nix/store/{salt}-env-{i}/lib.so": os.urandom(args.base_mb * 2**20 // 3),
                }
            )
            for i in range(3)
        ]

        def handler(name: str, version: int = 1) -> bytes:
            code = f"def handler(event, context):\n    return {name!r}, {version}\n"
            return make_layer({"var/task/handler.py": code.encode()})

        config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["handler.handler"]}}
        base_archive = write_docker_archive(
            work / "base.tar", base, {**config, "config": {}}, f"lambda-base:{salt}"
        )
        base_layout = convert(base_archive, work / "base")

        def image(name: str, version: int = 1) -> str:
            """NAME=LAYOUT of a function image, as `nix build .#<name>` makes it."""
            archive = write_docker_archive(
                work / f"{name}-{version}.tar",
                [*base, handler(name, version)],
                config,
                f"lambda-{name}:{salt}-{version}",
            )
            layout = convert(archive, work / f"{name}-{version}", base=base_layout.path)
            return f"{name}={layout.path}"

        base_arg = f"base={base_layout.path}"
        fns = {name: image(name) for name in FUNCTIONS}
        with (
            start_moto_process() as moto,
            LocalRegistry() as registry,
            RegistryProxy(registry.host, basic_auth=("AWS", PASSWORD)) as proxy,
        ):
            env = {
                **os.environ,
                **moto.env(),
                "AWS_CONFIG_FILE": str(work / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "PYTHONPATH": str(ROOT),
            }
            pusher = Pusher(proxy, env, isolation, base_layout)
            fresh = iter(range(100))

            def empty() -> Path:
                return work / f"cache-empty-{next(fresh)}"

            warm = work / "cache-warm"
            first = pusher.push(warm, base_arg, fns["score-processing"])
            second = pusher.push(warm, fns["nightly-report"])
            third = pusher.push(empty(), fns["batch-export"])
            again = pusher.push(empty(), base_arg, *(fns[n] for n in FUNCTIONS[:3]))
            changed = pusher.push(empty(), image("score-processing", 2))
            no_mount = pusher.push(empty(), fns["audit-export"], no_mount=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    handler_gz = len(gzip.compress(handler("score-processing", 2), mtime=0))
    base_total = sum(layer.size for layer in base_layout.layers)
    # Its config blob is a few hundred bytes; allow 4 KiB for it.
    allowance = handler_gz + 4096
    rows = [
        ("base + first function image", "empty", first),
        ("second function image", "the base push's", second),
        ("third function image (new repository)", "empty", third),
        ("re-push of base + 3 function images, unchanged", "empty", again),
        ("score-processing with a changed handler", "empty", changed),
        ("new repository, registry without mounts", "empty", no_mount),
    ]
    print(
        f"base: {args.base_mb} MB of random bytes in 3 layers ({base_total:,} B gzip); {machine()}"
    )
    print(f"skopeo's blob-info cache: private per push ({isolation})")
    print(
        table(
            [
                (p, c, f"{x.blob_bytes:,}", f"{x.base_bytes:,}", x.mounts, f"{x.manifest_bytes:,}")
                for p, c, x in rows
            ],
            ("push", "blob-info cache", "blob bytes", "of it base", "mounts", "manifest bytes"),
        )
    )
    print(f"(the changed handler layer alone, gzip: {handler_gz:,} bytes)")
    checks = [
        (
            second.blob_bytes <= allowance,
            f"second image, base's cache: {second.blob_bytes:,} B <= handler layer + config ({allowance:,} B)",
        ),
        (
            again.blob_bytes == 0,
            f"re-push from an empty cache uploaded {again.blob_bytes:,} blob bytes (target 0)",
        ),
        (
            changed.base_bytes == 0 and changed.blob_bytes <= allowance,
            f"changed handler from an empty cache uploaded {changed.blob_bytes:,} B <= its layer + config ({allowance:,} B)",
        ),
        (
            third.base_bytes == 0,
            f"new function repository from an empty cache uploaded {third.base_bytes:,} base bytes (target 0; {third.mounts} layers mounted)",
        ),
    ]
    for ok, what in checks:
        print(verdict(ok, what))
    print(
        f"note: a registry that does not mount (ECR with BLOB_MOUNTING off) got the base again "
        f"for a new repository: {no_mount.base_bytes:,} of {base_total:,} base bytes, once"
    )
    return 0 if all(ok for ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
