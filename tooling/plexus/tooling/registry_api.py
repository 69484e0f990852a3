"""The few registry (distribution API v2) calls the push makes itself, before skopeo runs.

skopeo already skips a blob the destination repository has (it asks with HEAD), but it tries
a cross-repository mount only for what its blob-info cache remembers, and a fresh CI runner's
cache is empty. So the push asks the destination for each blob, and mounts the missing ones
from a repository that holds them (`POST /v2/<repo>/blobs/uploads/?mount=<digest>&from=<src>`).
A registry that does not mount (ECR with BLOB_MOUNTING disabled) answers 202 with an upload
session instead; that session is cancelled and skopeo uploads the blob.

Credentials: HTTP Basic (ECR's registry takes `AWS:<token>` so), or the bearer token a
`WWW-Authenticate: Bearer` challenge asks for, fetched with the same Basic credentials. They
are kept in memory and never logged.
"""

from __future__ import annotations

import contextlib
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx

from plexus.tooling.skopeo import RegistryCredentials, SkopeoError

TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class MountResult:
    mounted: bool
    status: int


class RegistryApi:
    """HEAD and mount calls against one registry; use as a context manager."""

    def __init__(self, credentials: RegistryCredentials, *, tls_verify: bool = True) -> None:
        self.credentials = credentials
        self.tls_verify = tls_verify
        self._client = httpx.Client(verify=tls_verify, timeout=TIMEOUT, follow_redirects=False)
        self._base: str | None = None
        self._tokens: dict[str, str] = {}  # scope -> bearer token

    def __enter__(self) -> RegistryApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def _basic(self) -> tuple[str, str]:
        return (self.credentials.username, self.credentials.password)

    def _root(self) -> str:
        """https://host, or http://host for an insecure registry that speaks no TLS (as
        skopeo does with --dest-tls-verify=false)."""
        if self._base is not None:
            return self._base
        host = self.credentials.host
        schemes = ["https"] if self.tls_verify else ["https", "http"]
        last: Exception | None = None
        for scheme in schemes:
            try:
                self._client.get(f"{scheme}://{host}/v2/")
            except httpx.HTTPError as e:
                last = e
                continue
            self._base = f"{scheme}://{host}"
            return self._base
        raise SkopeoError(f"registry {host} is unreachable: {last}", "unreachable")

    def _request(self, method: str, path: str, scope: str, what: str) -> httpx.Response:
        url = self._root() + path
        try:
            token = self._tokens.get(scope)
            if token:
                response = self._client.request(
                    method, url, headers={"Authorization": f"Bearer {token}"}
                )
            else:
                response = self._client.request(method, url, auth=self._basic())
            if response.status_code == 401:
                challenge = response.headers.get("www-authenticate", "")
                if challenge.lower().startswith("bearer "):
                    self._tokens[scope] = self._token(challenge, scope)
                    response = self._client.request(
                        method, url, headers={"Authorization": f"Bearer {self._tokens[scope]}"}
                    )
        except httpx.HTTPError as e:
            raise SkopeoError(
                f"registry {self.credentials.host} is unreachable ({what}): {e}", "unreachable"
            ) from e
        if response.status_code in (401, 403):
            raise SkopeoError(
                f"registry {self.credentials.host} refused {what}: {_detail(response)} (check "
                "the repository policy and the caller's ecr: permissions)",
                "refused",
            )
        return response

    def _token(self, challenge: str, scope: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise SkopeoError(
                f"registry {self.credentials.host} sent a bearer challenge without realm"
            )
        query = [("service", params.get("service", "")), *(("scope", s) for s in scope.split())]
        try:
            response = self._client.get(realm, params=query, auth=self._basic())
            response.raise_for_status()
            data: dict[str, Any] = response.json()
        except (httpx.HTTPError, ValueError) as e:
            raise SkopeoError(
                f"registry {self.credentials.host}: no token from {realm}: {e}", "refused"
            ) from e
        token = data.get("token") or data.get("access_token")
        if not isinstance(token, str):
            raise SkopeoError(f"registry {self.credentials.host}: {realm} returned no token")
        return token

    def has_blob(self, repository: str, digest: str, *, strict: bool = True) -> bool:
        """Whether `repository` holds the blob; `strict=False` takes any failure as no."""
        response = self._request(
            "HEAD",
            f"/v2/{repository}/blobs/{digest}",
            f"repository:{repository}:pull",
            f"pushing to {self.credentials.host}/{repository} (HEAD {digest})",
        )
        # A redirect is to the blob's storage (as ECR and S3-backed registries answer).
        if 200 <= response.status_code < 400:
            return True
        if response.status_code == 404 or not strict:
            return False
        raise SkopeoError(
            f"registry {self.credentials.host}: HEAD {repository} blob {digest}: HTTP "
            f"{response.status_code}"
        )

    def mount(self, repository: str, digest: str, source: str) -> MountResult:
        """Mount `digest` from `source` into `repository`; False when the registry declined
        (its upload session is cancelled)."""
        query = urllib.parse.urlencode({"mount": digest, "from": source})
        scope = f"repository:{repository}:pull,push repository:{source}:pull"
        what = f"pushing to {self.credentials.host}/{repository} (mount from {source})"
        response = self._request("POST", f"/v2/{repository}/blobs/uploads/?{query}", scope, what)
        if response.status_code == 201:
            return MountResult(True, 201)
        if response.status_code == 202:
            location = response.headers.get("location")
            if location:
                self._cancel(location, scope)
            return MountResult(False, 202)
        # Anything else (a registry that rejects the query, a denied source): upload instead.
        return MountResult(False, response.status_code)

    def _cancel(self, location: str, scope: str) -> None:
        """Best effort: an abandoned upload session only expires later."""
        split = urllib.parse.urlsplit(location)
        path = split.path + (f"?{split.query}" if split.query else "")
        with contextlib.suppress(SkopeoError):
            self._request("DELETE", path, scope, "cancelling an upload")


def _detail(response: httpx.Response) -> str:
    """The registry's own error message (distribution's `errors` body), or the status."""
    try:
        errors = response.json().get("errors") or []
        messages = [f"{e.get('code')}: {e.get('message')}" for e in errors if isinstance(e, dict)]
    except (ValueError, AttributeError):
        messages = []
    return "; ".join(messages) or f"HTTP {response.status_code} {response.reason_phrase}"
