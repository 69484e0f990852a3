"""Push cost: bytes uploaded to the registry for the first and the second of two function
images that share a base, with the real push tool and skopeo, moto's ECR for the control
plane and Debian's docker-registry on 127.0.0.1 (behind a counting proxy) for the data.

Target: the second function image uploads no more than its own handler layer plus its
manifest and config.
    uv run python bench/push_cost.py [--base-mb 8]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from _services import machine, table, verdict
from moto import mock_aws

from plexus import cli
from tests.support.docker_archive import make_layer, write_docker_archive
from tests.support.registry import LocalRegistry, RegistryProxy

PASSWORD = "123456789012-auth-token"  # what moto's GetAuthorizationToken hands out


def push(proxy: RegistryProxy, *images: str) -> int:
    """Bytes of blob uploads (and all request bodies) for one push run."""
    proxy.reset()
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()) as err,
    ):
        code = cli.main(["push", *images, "--registry", proxy.host, "--no-dest-tls-verify"])
    if code != 0:
        raise SystemExit(f"push failed: {err.getvalue()}")
    return proxy.bytes_uploaded()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-mb", type=int, default=8)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)
    work = Path(tempfile.mkdtemp(prefix="plexus-push-cost-"))
    salt = os.urandom(8).hex()  # fresh blobs: skopeo's blob cache knows none of them
    base = [
        make_layer(
            {
                f"nix/store/env-{i}/lib.so": os.urandom(args.base_mb * 1024 * 1024 // 3),
                "salt": salt.encode(),
            }
        )
        for i in range(3)
    ]
    handlers = {}
    archives = {}
    for name in ("score-processing", "nightly-report"):
        code = f"def handler(event, context):\n    return {name!r}  # {salt}\n".encode()
        handlers[name] = make_layer({"var/task/handler.py": code})
        config = {"architecture": "amd64", "config": {"Cmd": ["handler.handler"]}}
        archives[name] = write_docker_archive(
            work / f"{name}.tar", [*base, handlers[name]], config, f"lambda-{name}:{salt}"
        )
    base_archive = write_docker_archive(
        work / "base.tar", base, {"architecture": "amd64", "config": {}}, f"lambda-base:{salt}"
    )
    with (
        mock_aws(),
        LocalRegistry() as registry,
        RegistryProxy(registry.host, basic_auth=("AWS", PASSWORD)) as proxy,
    ):
        first = push(
            proxy, f"base={base_archive}", f"score-processing={archives['score-processing']}"
        )
        second = push(proxy, f"nightly-report={archives['nightly-report']}")
        again = push(proxy, f"nightly-report={archives['nightly-report']}")
    handler_gz = len(gzip.compress(handlers["nightly-report"]))
    config_bytes = len(json.dumps({"architecture": "amd64"}))
    allowance = (
        handler_gz + 4096
    )  # its layer, plus its config and manifest (a few hundred bytes each)
    rows = [
        ("base + first function image", f"{first:,}"),
        ("second function image", f"{second:,}"),
        ("second again (re-push)", f"{again:,}"),
        ("its handler layer, gzip", f"{handler_gz:,}"),
    ]
    print(f"blob bytes uploaded; base {args.base_mb} MB in 3 layers; {machine()}")
    print(table(rows, ("push", "bytes")))
    print(f"(config blob ~{config_bytes} bytes; manifests are PUT, not blob uploads)")
    ok = second <= allowance and again == 0
    print(
        verdict(
            second <= allowance,
            f"second image uploaded {second:,} B <= handler layer + config + manifest ({allowance:,} B)",
        )
    )
    print(verdict(again == 0, f"re-push uploaded {again} B"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
