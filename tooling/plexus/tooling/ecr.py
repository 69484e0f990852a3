"""The ECR control plane calls of a push: registry credentials and repositories."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from plexus.tooling.aws_errors import AwsError, error_code, explain
from plexus.tooling.skopeo import RegistryCredentials


def registry_credentials(ecr: Any, registry: str | None = None) -> RegistryCredentials:
    """ECR's 12-hour registry login; `registry` (host[:port]) replaces its proxy endpoint."""
    try:
        data = ecr.get_authorization_token()["authorizationData"][0]
    except (ClientError, BotoCoreError) as e:
        raise explain("getting an ECR authorization token", e) from e
    try:
        username, sep, password = (
            base64.b64decode(data["authorizationToken"]).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError, KeyError) as e:
        raise AwsError(
            "ECR returned an authorization token that is not base64 user:password"
        ) from e
    if not sep or not password:
        raise AwsError("ECR returned an authorization token that is not base64 user:password")
    host = registry or urllib.parse.urlsplit(data.get("proxyEndpoint", "")).netloc
    if not host:
        raise AwsError("ECR returned no proxyEndpoint; pass --registry")
    return RegistryCredentials(host=host, username=username, password=password)


def ensure_repository(ecr: Any, name: str) -> bool:
    """Create repository `name` (scan on push) unless it exists; True when created."""
    try:
        ecr.describe_repositories(repositoryNames=[name])
        return False
    except ClientError as e:
        if error_code(e) != "RepositoryNotFoundException":
            raise explain(f"looking up ECR repository {name}", e) from e
    except BotoCoreError as e:
        raise explain(f"looking up ECR repository {name}", e) from e
    try:
        ecr.create_repository(repositoryName=name, imageScanningConfiguration={"scanOnPush": True})
    except ClientError as e:
        if error_code(e) == "RepositoryAlreadyExistsException":  # created meanwhile
            return False
        raise explain(f"creating ECR repository {name}", e) from e
    except BotoCoreError as e:
        raise explain(f"creating ECR repository {name}", e) from e
    return True
