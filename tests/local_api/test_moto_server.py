"""plexus.local.aws: a moto server on loopback that boto3 reaches through AWS_ENDPOINT_URL."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import boto3
import httpx
import pytest

from plexus.local.aws import start_moto_server


def test_boto3_reaches_it_through_the_environment(
    moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert moto_server.endpoint_url.startswith("http://127.0.0.1:")
    for key, value in moto_server.env().items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client("s3")  # no endpoint_url: botocore reads AWS_ENDPOINT_URL
    s3.create_bucket(Bucket="moto-env-check")
    assert "moto-env-check" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_own_server_stops_and_frees_its_port() -> None:
    with start_moto_server() as server:
        port = server.port
        assert httpx.get(f"{server.endpoint_url}/moto-api/").status_code == 200
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port}"):
            start_moto_server(port=port)
    server.stop()  # a second stop is harmless
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.endpoint_url}/moto-api/", timeout=2)


def test_api_server_does_not_import_moto() -> None:
    code = "import sys, plexus.local.api_server, plexus.local.aws; print('moto' in sys.modules)"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert output.strip() == "False"
