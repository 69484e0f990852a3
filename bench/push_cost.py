"""Push cost: bytes uploaded to the registry for function images that share a base, pushed
with the real `plexus-lambda push` and skopeo; moto (its own process) answers ECR and
Debian's docker-registry on 127.0.0.1, behind a counting proxy, holds the blobs.

skopeo compresses a docker-archive's layers while pushing, so it only knows a layer's
compressed digest, and which repository already holds it, from its blob-info cache
(/var/lib/containers/cache as root). Every push here gets a private cache, so no figure
depends on what this machine pushed before, and both cases are measured:
  - the same cache as the base's push (one `push` run, or a machine that keeps its cache);
  - an empty cache (a fresh CI runner pushing the second image later).
Target: with the base's cache, the second function image uploads no more than its own
handler layer plus its manifest and config.
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
from pathlib import Path

from _services import ROOT, machine, table, verdict

from plexus.local.aws import start_moto_process
from tests.support.docker_archive import make_layer, write_docker_archive
from tests.support.registry import LocalRegistry, RegistryProxy

PASSWORD = "123456789012-auth-token"  # what moto's GetAuthorizationToken hands out
ROOT_CACHE = "/var/lib/containers/cache"
FUNCTIONS = ("score-processing", "nightly-report", "batch-export")
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


class Pusher:
    def __init__(self, proxy: RegistryProxy, env: dict[str, str], isolation: str) -> None:
        self.proxy = proxy
        self.env = env
        self.isolation = isolation
        self.tool = str(Path(sys.executable).with_name("plexus-lambda"))

    def push(self, cache: Path, *images: str) -> tuple[int, int]:
        """(blob bytes, manifest bytes) uploaded by one `plexus-lambda push` run."""
        cache.mkdir(parents=True, exist_ok=True)
        argv = [self.tool, "push", *images, "--registry", self.proxy.host, "--no-dest-tls-verify"]
        env = dict(self.env)
        if self.isolation == "namespace":
            argv = ["unshare", "--mount", "sh", "-c", BIND_CACHE, str(cache), ROOT_CACHE, *argv]
        else:
            env["XDG_DATA_HOME"] = str(cache)
        self.proxy.reset()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise SystemExit(f"push failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        manifests = sum(
            r.bytes_in
            for r in self.proxy.snapshot()
            if r.method == "PUT" and "/manifests/" in r.path
        )
        return self.proxy.bytes_uploaded(), manifests


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
        handlers = {
            name: make_layer(
                {
                    "var/task/handler.py": f"def handler(event, context):\n    return {name!r}\n".encode()
                }
            )
            for name in FUNCTIONS
        }
        config = {"architecture": "amd64", "os": "linux", "config": {"Cmd": ["handler.handler"]}}
        archives = {
            name: write_docker_archive(
                work / f"{name}.tar", [*base, handlers[name]], config, f"lambda-{name}:{salt}"
            )
            for name in FUNCTIONS
        }
        base_archive = write_docker_archive(
            work / "base.tar", base, {**config, "config": {}}, f"lambda-base:{salt}"
        )
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
            pusher = Pusher(proxy, env, isolation)
            warm, empty = work / "cache-warm", work / "cache-empty"
            first = pusher.push(
                warm, f"base={base_archive}", f"score-processing={archives['score-processing']}"
            )
            second = pusher.push(warm, f"nightly-report={archives['nightly-report']}")
            cold = pusher.push(empty, f"batch-export={archives['batch-export']}")
            again = pusher.push(warm, f"nightly-report={archives['nightly-report']}")
            # A fresh CI runner pushing everything in one run: skopeo learns the base's
            # compressed digests while pushing it, so the base is paid once, not per image.
            run = pusher.push(
                work / "cache-ci",
                f"base={base_archive}",
                *(f"{name}={archives[name]}" for name in FUNCTIONS),
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    handler_gz = len(gzip.compress(handlers["nightly-report"]))
    # Its config blob is a few hundred bytes; allow 4 KiB for it and skopeo's gzip framing.
    allowance = handler_gz + 4096
    rows = [
        ("base + first function image", "empty", *first),
        ("second function image", "the base's", *second),
        ("third function image", "empty", *cold),
        ("second again (re-push)", "the base's", *again),
        ("base + all 3 function images in one run", "empty", *run),
    ]
    print(f"base: {args.base_mb} MB of random bytes in 3 layers; {machine()}")
    print(f"skopeo's blob-info cache: private per push ({isolation})")
    print(
        table(
            [(p, c, f"{b:,}", f"{m:,}") for p, c, b, m in rows],
            ("push", "blob-info cache", "blob bytes", "manifest bytes"),
        )
    )
    print(f"(the handler layer alone, gzip: {handler_gz:,} bytes)")
    ok = second[0] <= allowance and again[0] == 0
    print(
        verdict(
            second[0] <= allowance,
            f"second image with the base's cache uploaded {second[0]:,} B "
            f"<= handler layer + config ({allowance:,} B)",
        )
    )
    print(verdict(again[0] == 0, f"re-push uploaded {again[0]:,} B"))
    print(
        f"note: with an empty cache the third image uploaded {cold[0] / max(first[0], 1):.0%} "
        "of the first push's bytes (the base again); one run pushing the base and all 3 "
        f"function images from an empty cache uploaded {run[0] / max(first[0], 1):.0%}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
