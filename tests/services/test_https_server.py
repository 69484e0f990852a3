"""HttpsContentServer through pycurl (libcurl over OpenSSL): the test CA verifies, the
self-signed listener does not, and the built-in endpoints exercise size and time limits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from io import BytesIO

import pycurl
import pytest

from tests.support.https_server import HttpsContentServer


@dataclass
class Fetched:
    status: int
    body: bytes
    content_type: str


def fetch(
    url: str,
    ca: str | None,
    timeout_ms: int = 5000,
    max_bytes: int | None = None,
    max_filesize: int | None = None,
) -> Fetched:
    buffer = BytesIO()

    def write(chunk: bytes) -> int | None:
        if max_bytes is not None and buffer.tell() + len(chunk) > max_bytes:
            return 0  # a short write aborts the transfer
        buffer.write(chunk)
        return None

    curl = pycurl.Curl()
    try:
        curl.setopt(pycurl.URL, url)
        curl.setopt(pycurl.WRITEFUNCTION, write)
        curl.setopt(pycurl.SSL_VERIFYPEER, 1)
        curl.setopt(pycurl.SSL_VERIFYHOST, 2)
        curl.setopt(pycurl.TIMEOUT_MS, timeout_ms)
        curl.setopt(pycurl.NOSIGNAL, 1)
        if ca is not None:
            curl.setopt(pycurl.CAINFO, ca)
        if max_filesize is not None:
            curl.setopt(pycurl.MAXFILESIZE, max_filesize)
        curl.perform()
        return Fetched(
            curl.getinfo(pycurl.RESPONSE_CODE),
            buffer.getvalue(),
            curl.getinfo(pycurl.CONTENT_TYPE) or "",
        )
    finally:
        curl.close()


def curl_error(**kwargs) -> tuple[int, str]:
    with pytest.raises(pycurl.error) as caught:
        fetch(**kwargs)
    return caught.value.args[0], caught.value.args[1]


def test_pycurl_fetches_added_content_with_the_test_ca(web):
    web.add("/transcripts/1.txt", b"Agent: hello", content_type="text/plain; charset=utf-8")
    got = fetch(web.url("/transcripts/1.txt"), ca=web.ca_pem_path)
    assert (got.status, got.body, got.content_type) == (
        200,
        b"Agent: hello",
        "text/plain; charset=utf-8",
    )
    # The certificate names localhost as well as 127.0.0.1.
    localhost = web.url("/transcripts/1.txt").replace("127.0.0.1", "localhost")
    assert fetch(localhost, ca=web.ca_pem_path).body == b"Agent: hello"
    assert "/transcripts/1.txt" in web.requests


def test_status_missing_paths_and_delay(web):
    web.add("/gone", b"unavailable", status=503)
    web.add("/slow", b"late", delay=0.4)
    assert fetch(web.url("/gone"), ca=web.ca_pem_path).status == 503
    missing = fetch(web.url("/never-added"), ca=web.ca_pem_path)
    assert missing.status == 404 and missing.content_type == "text/plain"
    started = time.monotonic()
    assert fetch(web.url("/slow"), ca=web.ca_pem_path).body == b"late"
    assert time.monotonic() - started >= 0.4


def test_self_signed_listener_fails_verification(web):
    web.add("/plain.txt", b"hello")
    code, message = curl_error(url=web.untrusted_url("/plain.txt"), ca=web.ca_pem_path)
    assert code == pycurl.E_PEER_FAILED_VERIFICATION, message
    assert "self-signed" in message or "self signed" in message


def test_the_test_ca_is_not_trusted_by_default(web):
    # Without CAINFO libcurl uses its built-in bundle, which knows nothing of the test CA
    # (Nix's libcurl has none at all: then it cannot even load one).
    web.add("/plain.txt", b"hello")
    code, message = curl_error(url=web.url("/plain.txt"), ca=None)
    assert code in (pycurl.E_PEER_FAILED_VERIFICATION, pycurl.E_SSL_CACERT_BADFILE), message


def test_endless_body_is_stopped_by_a_client_side_limit(web):
    buffer_limit = 1_000_000
    code, _ = curl_error(url=web.endless_url(), ca=web.ca_pem_path, max_bytes=buffer_limit)
    assert code == pycurl.E_WRITE_ERROR


def test_oversized_body_with_and_without_a_declared_length(web):
    code, _ = curl_error(
        url=web.oversized_url(5_000_000), ca=web.ca_pem_path, max_filesize=1_000_000
    )
    assert code == pycurl.E_FILESIZE_EXCEEDED
    # Undeclared, the client only learns the size by counting what arrives.
    got = fetch(web.oversized_url(300_000, declare_length=False), ca=web.ca_pem_path)
    assert got.status == 200 and len(got.body) == 300_000
    code, _ = curl_error(
        url=web.oversized_url(5_000_000, declare_length=False),
        ca=web.ca_pem_path,
        max_bytes=1_000_000,
    )
    assert code == pycurl.E_WRITE_ERROR


@pytest.mark.parametrize("after_headers", [False, True])
def test_stalled_responses_hit_the_client_timeout(web, after_headers):
    started = time.monotonic()
    code, _ = curl_error(url=web.stall_url(after_headers), ca=web.ca_pem_path, timeout_ms=300)
    assert code == pycurl.E_OPERATION_TIMEDOUT
    assert time.monotonic() - started < 2.0


def test_bad_content_is_refused(web):
    with pytest.raises(ValueError, match="start with /"):
        web.add("relative.txt", b"x")
    with pytest.raises(ValueError, match="built-in"):
        web.add("/_endless", b"x")
    with pytest.raises(TypeError, match="bytes"):
        web.add("/text", "not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size"):
        web.oversized_url(-1)


def test_stop_ends_open_streams_and_removes_the_ca():
    server = HttpsContentServer().start()
    ca = server.ca_pem_path
    errors: list[int] = []

    def stream() -> None:
        try:
            fetch(server.stall_url(), ca=ca, timeout_ms=30_000)
        except pycurl.error as exc:
            errors.append(exc.args[0])

    thread = threading.Thread(target=stream)
    thread.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    thread.join(timeout=5)
    assert not thread.is_alive() and time.monotonic() - started < 3.0
    assert errors and errors[0] != pycurl.E_OPERATION_TIMEDOUT
    with pytest.raises(FileNotFoundError):
        open(ca).close()
    with pytest.raises(RuntimeError, match="not running"):
        server.url("/x")
