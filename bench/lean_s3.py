"""An S3 stand-in built for load, in a process of its own: PutObject and GetObject on
path-style URLs (`/bucket/key`, as botocore addresses a custom endpoint), objects in memory,
each answer after a set latency, for almost no CPU (see _lean_server.py). It does not check
signatures, only that a request carries one (an Authorization header, or a presigned URL's
X-Amz-Signature); the worker still computes them: that CPU is the worker's, as on Lambda.

    python bench/lean_s3.py --bucket NAME [--latency 0.03] [--port 0]
"""

from __future__ import annotations

import argparse
import hashlib
from typing import Any
from urllib.parse import unquote

from _lean_server import LeanServer, Request, Response, serve


class LeanS3:
    def __init__(self, buckets: list[str]) -> None:
        self.objects: dict[str, dict[str, bytes]] = {b: {} for b in buckets}
        self.bytes_in = 0

    def stats(self) -> dict[str, Any]:
        return {"objects": sum(len(o) for o in self.objects.values()), "bytes_in": self.bytes_in}

    async def handle(self, request: Request) -> Response:
        if "authorization" not in request.headers and "X-Amz-Signature=" not in request.query:
            return _error(403, "AccessDenied", "Anonymous access is not allowed")
        bucket, _, key = unquote(request.path).lstrip("/").partition("/")
        objects = self.objects.get(bucket)
        if objects is None:
            return _error(404, "NoSuchBucket", f"The specified bucket does not exist: {bucket}")
        if request.method == "PUT" and key:
            objects[key] = request.body
            self.bytes_in += len(request.body)
            return Response(
                200, b"", headers={"ETag": f'"{hashlib.md5(request.body).hexdigest()}"'}
            )
        if request.method == "GET" and key:
            if key not in objects:
                return _error(404, "NoSuchKey", "The specified key does not exist.")
            return Response(200, objects[key], content_type="application/octet-stream")
        return _error(
            501, "NotImplemented", f"the lean S3 serves no {request.method} {request.path}"
        )


def _error(status: int, code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    return Response(status, body, content_type="application/xml")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bucket", action="append", required=True)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per answer")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    s3 = LeanS3(args.bucket)
    server = LeanServer(s3.handle, args.latency)
    server.extra_stats = s3.stats
    serve(server, args.port)


if __name__ == "__main__":
    main()
