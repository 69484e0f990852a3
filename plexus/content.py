"""Item content that lives at an HTTPS URL, fetched with pycurl over OpenSSL.

TLS verification stays on; the body is capped at a size limit and the transfer at a time
limit. pycurl is imported only when an item needs it.
"""

from __future__ import annotations

import os
from io import BytesIO
from urllib.parse import urlsplit

from plexus.errors import ContentError


def fetch_text(
    url: str, *, max_bytes: int, timeout_seconds: float, ca_file: str | None = None
) -> str:
    import pycurl

    if urlsplit(url).scheme != "https":
        raise ContentError(f"content URL must be https: {_redact(url)}")
    buffer = BytesIO()
    too_big = False

    def write(chunk: bytes) -> int | None:
        nonlocal too_big
        if buffer.tell() + len(chunk) > max_bytes:
            too_big = True
            return 0  # a short write makes libcurl abort the transfer
        buffer.write(chunk)
        return None

    curl = pycurl.Curl()
    try:
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.WRITEFUNCTION, write)
        curl.setopt(pycurl.FOLLOWLOCATION, True)
        curl.setopt(pycurl.MAXREDIRS, 3)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTPS)
        curl.setopt(pycurl.SSL_VERIFYPEER, 1)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(min(timeout_seconds, 10) * 1000))
        curl.setopt(pycurl.TIMEOUT_MS, int(timeout_seconds * 1000))
        curl.setopt(pycurl.NOSIGNAL, 1)
        curl.setopt(pycurl.MAXFILESIZE, max_bytes)
        # Nix's libcurl has no compiled-in CA path: use the bundle the image names.
        bundle = ca_file or os.environ.get("SSL_CERT_FILE")
        if bundle:
            curl.setopt(pycurl.CAINFO, bundle)
        try:
            curl.perform()
        except pycurl.error as exc:
            code, message = exc.args[0], exc.args[1] if len(exc.args) > 1 else ""
            if too_big or code == pycurl.E_FILESIZE_EXCEEDED:
                raise ContentError(
                    f"content at {_redact(url)} is larger than {max_bytes} bytes"
                ) from None
            if code == pycurl.E_OPERATION_TIMEDOUT:
                raise ContentError(
                    f"fetching {_redact(url)} timed out after {timeout_seconds}s"
                ) from None
            raise ContentError(f"fetching {_redact(url)} failed: {message}") from None
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        content_type = curl.getinfo(pycurl.CONTENT_TYPE) or ""
    finally:
        curl.close()
    if status != 200:
        raise ContentError(f"fetching {_redact(url)} answered HTTP {status}")
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        return buffer.getvalue().decode(charset, errors="replace")
    except LookupError:
        return buffer.getvalue().decode("utf-8", errors="replace")


def _redact(url: str) -> str:
    """The URL without its query string, which often carries a presigned signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
