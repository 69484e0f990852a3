"""An HTTPS content server on 127.0.0.1 for pycurl tests.

Two listeners serve the same content: one with a certificate for 127.0.0.1 and localhost
signed by a test CA (trustme; `ca_pem_path` is that CA for a client's bundle), one with a
self-signed certificate that nothing trusts, to prove verification is on. Besides the
paths tests `add`, built-in endpoints stream a body without end, an oversized body, or
nothing at all, for size and time limits.

    with HttpsContentServer() as web:
        web.add("/a.txt", b"hello")
        curl.setopt(pycurl.CAINFO, web.ca_pem_path); curl.setopt(pycurl.URL, web.url("/a.txt"))
"""

from __future__ import annotations

import contextlib
import ipaddress
import select
import ssl
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ENDLESS_PATH = "/_endless"
OVERSIZED_PATH = "/_oversized"
STALL_PATH = "/_stall"
_CHUNK = b"x" * 65536
_MAX_STALL_SECONDS = 300.0  # a client without a timeout must not hang the suite forever


@dataclass
class _Entry:
    body: bytes
    content_type: str
    delay: float
    status: int
    location: str | None = None


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost that signs itself (no CA behind it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "self-signed.pem", directory / "self-signed.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def __init__(self, owner: HttpsContentServer, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner
        self.context = context

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Failed handshakes (the untrusted listener's whole point) and clients that hang
        # up on purpose are expected; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that connects and never speaks

    def setup(self) -> None:
        # The handshake happens here, in the request's thread, so one slow or refused
        # handshake never blocks the accept loop.
        self.request.settimeout(self.timeout)
        self.request = self.server.context.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner = self.server.owner
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        owner._record(self.path)
        try:
            if url.path == ENDLESS_PATH:
                self._stream(total=None, declare_length=False)
            elif url.path == OVERSIZED_PATH:
                total = int(query.get("bytes", ["0"])[0])
                self._stream(total=total, declare_length=query.get("length") != ["0"])
            elif url.path == STALL_PATH:
                self._stall(after_headers=query.get("after_headers") == ["1"])
            else:
                self._entry(owner.entries.get(url.path))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, TimeoutError):
            self.close_connection = True

    def _entry(self, entry: _Entry | None) -> None:
        if entry is None:
            entry = _Entry(b"not found\n", "text/plain", 0.0, 404)
        if entry.delay and self.server.owner._stopping.wait(entry.delay):
            return
        self.send_response(entry.status)
        self.send_header("Content-Type", entry.content_type)
        if entry.location is not None:
            self.send_header("Location", entry.location)
        self.send_header("Content-Length", str(len(entry.body)))
        self.end_headers()
        self.wfile.write(entry.body)

    def _stream(self, total: int | None, declare_length: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if declare_length and total is not None:
            self.send_header("Content-Length", str(total))
        self.end_headers()  # no length: the body ends when the connection does (HTTP/1.0)
        sent = 0
        stopping = self.server.owner._stopping
        while (total is None or sent < total) and not stopping.is_set():
            chunk = _CHUNK if total is None else _CHUNK[: total - sent]
            self.wfile.write(chunk)
            sent += len(chunk)
        if not declare_length and not stopping.is_set():
            # The body ends with the connection: end TLS with close_notify, as a server
            # should, or the client cannot tell the end from a truncation (OpenSSL 3 says
            # "unexpected eof").
            self.wfile.flush()
            self.close_connection = True
            self.connection.unwrap()  # type: ignore[attr-defined]

    def _stall(self, after_headers: bool) -> None:
        if after_headers:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"partial")
            self.wfile.flush()
        # Hold the connection until the client gives up or the server stops.
        stopping = self.server.owner._stopping
        deadline = _MAX_STALL_SECONDS
        while deadline > 0 and not stopping.is_set():
            readable, _, _ = select.select([self.request], [], [], 0.1)
            deadline -= 0.1
            if readable:
                with contextlib.suppress(ssl.SSLError, OSError):
                    if self.request.recv(1) == b"":
                        return
                return


class HttpsContentServer:
    """Start with start() or `with`; stop() closes both listeners and deletes the certs."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.requests: list[str] = []  # every path requested, on either listener
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._servers: list[_Server] = []
        self.ca_pem_path = ""

    def start(self) -> HttpsContentServer:
        if self._servers:
            raise RuntimeError("HttpsContentServer is already running")
        self._stopping.clear()
        self._dir = tempfile.TemporaryDirectory(prefix="plexus-https-")
        directory = Path(self._dir.name)
        ca = trustme.CA()
        self.ca_pem_path = str(directory / "ca.pem")
        ca.cert_pem.write_to_path(self.ca_pem_path)
        trusted = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(trusted)
        untrusted = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        untrusted.load_cert_chain(*_self_signed(directory))
        for context in (trusted, untrusted):
            server = _Server(self, context)
            threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="https-content",
                daemon=True,
            ).start()
            self._servers.append(server)
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends streams, stalls and delays
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers = []
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> HttpsContentServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _record(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def _port(self, index: int) -> int:
        if not self._servers:
            raise RuntimeError("HttpsContentServer is not running; call start() first")
        return int(self._servers[index].server_address[1])

    # content ---------------------------------------------------------------------------

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "text/plain",
        delay: float = 0.0,
        status: int = 200,
        location: str | None = None,
    ) -> None:
        """Serve `body` at `path` (on both listeners), after `delay` seconds, with a
        `Location` header when given (for redirects)."""
        if not path.startswith("/") or "?" in path:
            raise ValueError(f"path must start with / and carry no query, got {path!r}")
        if path in (ENDLESS_PATH, OVERSIZED_PATH, STALL_PATH):
            raise ValueError(f"{path} is a built-in endpoint")
        if not isinstance(body, bytes):
            raise TypeError(f"body must be bytes, not {type(body).__name__}")
        if delay < 0 or not 100 <= status <= 599:
            raise ValueError(f"need delay >= 0 and an HTTP status, got {delay}, {status}")
        with self._lock:
            self.entries[path] = _Entry(body, content_type, delay, status, location)

    def url(self, path: str) -> str:
        """`path` on the listener whose certificate the test CA signed."""
        return f"https://127.0.0.1:{self._port(0)}{path}"

    def untrusted_url(self, path: str) -> str:
        """`path` on the listener with a self-signed certificate."""
        return f"https://127.0.0.1:{self._port(1)}{path}"

    def endless_url(self) -> str:
        """A 200 whose body never ends (no Content-Length): only a client-side limit stops it."""
        return self.url(ENDLESS_PATH)

    def oversized_url(self, size: int, declare_length: bool = True) -> str:
        """A body of `size` bytes; with declare_length=False the client learns its size only
        by counting."""
        if size < 0:
            raise ValueError(f"size must be >= 0, got {size}")
        return self.url(f"{OVERSIZED_PATH}?bytes={size}&length={int(declare_length)}")

    def stall_url(self, after_headers: bool = False) -> str:
        """A request that never gets an answer (or, after_headers=True, gets headers and a
        few bytes of a body that never finishes) until the client gives up."""
        return self.url(f"{STALL_PATH}?after_headers={int(after_headers)}")
