"""Item content that lives at an HTTPS URL, fetched with pycurl over OpenSSL.

TLS verification stays on; the body is capped at a size limit and the transfer at a time
limit. pycurl is imported only when an item needs it.

The URL comes from an item's metadata, so it must not reach what only the function can
reach (server-side request forgery): a host that resolves to a loopback, private,
link-local (169.254.169.254, the instance metadata service), shared, reserved or multicast
address is refused, unless PLEXUS_CONTENT_ALLOWED_HOSTS names it. libcurl is pinned to the
checked address, so a second DNS answer cannot change it, and each redirect is checked
the same way before it is followed. An IPv6 address that carries or reaches an IPv4 one
(IPv4-mapped and -compatible, 6to4, NAT64, Teredo) is refused too: it can lead anywhere.

The time limit is for the whole fetch, redirects included.
"""

from __future__ import annotations

import codecs
import ipaddress
import os
import socket
import time
from io import BytesIO
from urllib.parse import urljoin, urlsplit

from plexus.core.errors import ContentError

MAX_REDIRECTS = 3
REDIRECTS = (301, 302, 303, 307, 308)


def public_address(url: str, allowed_hosts: tuple[str, ...] = ()) -> str | None:
    """The address to connect to for `url` (None for an allowed host: resolve normally);
    ContentError when the host is not a public address."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        raise ContentError(f"content URL has no host: {_redact(url)}")
    if host in allowed_hosts:
        return None
    try:
        port = parts.port or 443
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise ContentError(f"content URL host {host} does not resolve: {exc}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if not is_public(ip):
            raise ContentError(
                f"content URL host {host} resolves to {ip}, a non-public address; refused "
                "(PLEXUS_CONTENT_ALLOWED_HOSTS lists hosts to allow)"
            )
    if not addresses:
        raise ContentError(f"content URL host {host} does not resolve")
    return addresses[0]


# IPv6 ranges that embed or translate to an IPv4 address: NAT64 (well-known and local-use),
# 6to4, IPv4-compatible (deprecated), IPv4-mapped, IPv4-translated, Teredo.
_IPV4_CARRIERS = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "2002::/16",
        "::/96",
        "::ffff:0:0/96",
        "::ffff:0:0:0/96",
        "2001::/32",
    )
)
# IETF protocol assignments (DS-Lite, NAT64 discovery...), not all of which Python lists.
_IPV4_REFUSED = (ipaddress.IPv4Network("192.0.0.0/24"),)


def is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally routable unicast address that is not a door to another one."""
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in net for net in _IPV4_CARRIERS):
            return False
    elif any(ip in net for net in _IPV4_REFUSED):
        return False
    return ip.is_global and not ip.is_multicast


def fetch_text(
    url: str,
    *,
    max_bytes: int,
    timeout_seconds: float,
    ca_file: str | None = None,
    allowed_hosts: tuple[str, ...] = (),
) -> str:
    deadline = time.monotonic() + timeout_seconds
    for _ in range(MAX_REDIRECTS + 1):
        left = deadline - time.monotonic()
        if left <= 0:
            raise ContentError(f"fetching {_redact(url)} timed out after {timeout_seconds}s")
        try:
            status, body, content_type, location = _fetch_once(
                url, max_bytes, left, ca_file, allowed_hosts
            )
        except _TimedOut:
            raise ContentError(
                f"fetching {_redact(url)} timed out after {timeout_seconds}s"
            ) from None
        if status in REDIRECTS and location:
            url = urljoin(url, location)
            continue
        return _decode(url, status, body, content_type)
    raise ContentError(f"fetching {_redact(url)}: more than {MAX_REDIRECTS} redirects")


class _TimedOut(Exception):
    """One hop ran out of what was left of the fetch's time limit."""


def _fetch_once(
    url: str,
    max_bytes: int,
    timeout_seconds: float,
    ca_file: str | None,
    allowed_hosts: tuple[str, ...],
) -> tuple[int, bytes, str, str | None]:
    import pycurl

    if urlsplit(url).scheme != "https":
        raise ContentError(f"content URL must be https: {_redact(url)}")
    address = public_address(url, allowed_hosts)
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
        # Redirects are followed by fetch_text, each checked like the first URL.
        curl.setopt(pycurl.FOLLOWLOCATION, False)
        curl.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTPS)
        if address is not None:
            parts = urlsplit(url)
            pinned = f"[{address}]" if ":" in address else address
            curl.setopt(pycurl.RESOLVE, [f"{parts.hostname}:{parts.port or 443}:{pinned}"])
        curl.setopt(pycurl.SSL_VERIFYPEER, 1)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2)
        curl.setopt(pycurl.CONNECTTIMEOUT_MS, int(min(timeout_seconds, 10) * 1000))
        curl.setopt(pycurl.TIMEOUT_MS, max(1, int(timeout_seconds * 1000)))
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
                raise _TimedOut from None
            raise ContentError(f"fetching {_redact(url)} failed: {message}") from None
        status = curl.getinfo(pycurl.RESPONSE_CODE)
        content_type = curl.getinfo(pycurl.CONTENT_TYPE) or ""
        location = curl.getinfo(pycurl.REDIRECT_URL)
    finally:
        curl.close()
    return status, buffer.getvalue(), content_type, location


def _decode(url: str, status: int, body: bytes, content_type: str) -> str:
    if status != 200:
        raise ContentError(f"fetching {_redact(url)} answered HTTP {status}")
    charset = "utf-8"
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"')
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        codec = None
    # idna, punycode, rot13, base64...: codecs Python has that are no text charset.
    if codec is None or not codec._is_text_encoding or codec.name in _NOT_CHARSETS:
        raise ContentError(
            f"content at {_redact(url)} declares charset {charset[:40]!r}, which is not a "
            "text charset this worker knows"
        )
    try:
        return body.decode(codec.name, errors="replace")
    except (UnicodeError, ValueError) as exc:
        raise ContentError(
            f"content at {_redact(url)} cannot be decoded as {charset[:40]!r}: {type(exc).__name__}"
        ) from None


_NOT_CHARSETS = frozenset({"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined"})


def _redact(url: str) -> str:
    """The URL without its query string, which often carries a presigned signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"
