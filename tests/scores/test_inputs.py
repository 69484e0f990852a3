"""Input sources reading an item's attachment from S3 (moto), and the content URL's refusal
of non-public addresses."""

from __future__ import annotations

import dataclasses
import json

import pytest

from plexus.clients.content import fetch_text, public_address
from plexus.core.errors import ContentError
from plexus.scores import parse_score_config
from tests.conftest import BUCKET
from tests.scores.conftest import DATA, _score, run_async

DATASOURCES = "datasources-test"
LOGICAL_GRAPH = """
graph:
  - name: echo
    class: LogicalClassifier
    code: |
      def score(parameters, input):
          return Score.Result(parameters=parameters, value="Seen",
                              metadata={"explanation": input.text,
                                        "source": input.metadata["input_source"]})
output: {value: value, explanation: explanation}
"""


@pytest.fixture
def attachments(s3, use_aws_env, scoring):
    s3.create_bucket(Bucket=DATASOURCES)
    scoring.settings = dataclasses.replace(
        scoring.settings,
        datasources_bucket=DATASOURCES,
        attachments_bucket=BUCKET,
        region="us-east-1",
    )
    deepgram = (DATA / "deepgram_simple_conversation.json").read_bytes()
    s3.put_object(Bucket=DATASOURCES, Key="items/i-1/call-deepgram.json", Body=deepgram)
    s3.put_object(Bucket=DATASOURCES, Key="items/i-1/transcript.txt", Body=b"Agent: hello there")
    s3.put_object(Bucket=BUCKET, Key="other/i-1/notes.txt", Body=b"from the attachments bucket")
    return scoring


def score_item(run, item_section: str, files: list[str]):
    score = parse_score_config("class: LangGraphScore\n" + item_section + LOGICAL_GRAPH)
    item = {
        "id": "i-1",
        "text": "ignored",
        "metadata": json.dumps({"k": 1}),
        "attachedFiles": files,
    }
    return run_async(run, lambda r: _score(score, r, item))


def test_text_file_input_source_reads_the_matching_attachment(attachments):
    # The item: section of Plexus's examples/score_with_text_file_input.yaml.
    section = (
        'item:\n  class: TextFileInputSource\n  options:\n    pattern: ".*transcript\\\\.txt$"\n'
    )
    files = ["items/i-1/call-deepgram.json", "items/i-1/transcript.txt"]
    result = score_item(attachments, section, files)
    assert result.explanation == "Agent: hello there"


def test_keys_outside_items_come_from_the_attachments_bucket(attachments):
    section = "item:\n  class: TextFileInputSource\n  options: {pattern: 'notes'}\n"
    result = score_item(attachments, section, ["other/i-1/notes.txt"])
    assert result.explanation == "from the attachments bucket"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            [],
            "Hello, thank you for calling customer support. How can I help you today?\n\n"
            "Hi, I'm having trouble with my account login. I keep getting an error message.",
        ),
        (
            ["format: utterances", "speaker_labels: true", "include_timestamps: true"],
            "[0.00s] Speaker 0: Hello, thank you for calling customer support. How can I help "
            "you today?\n[5.00s] Speaker 1: Hi, I'm having trouble",
        ),
        (
            ["format: words", "time_range_start: 0", "time_range_duration: 1"],
            "Hello thank you for",
        ),
    ],
)
def test_deepgram_input_source_formats(attachments, options, expected):
    section = (
        "item:\n  class: DeepgramInputSource\n  options:\n"
        '    pattern: ".*deepgram.*\\\\.json$"\n' + "".join(f"    {line}\n" for line in options)
    )
    result = score_item(
        attachments, section, ["items/i-1/transcript.txt", "items/i-1/call-deepgram.json"]
    )
    assert result.explanation.startswith(expected)
    assert result.value == "Seen"


def test_no_matching_attachment_names_the_pattern(attachments):
    section = "item:\n  class: TextFileInputSource\n  options: {pattern: 'nothing-like-this'}\n"
    with pytest.raises(ContentError, match="no attachment matching pattern 'nothing-like-this'"):
        score_item(attachments, section, ["items/i-1/transcript.txt"])


def test_missing_attachment_object_names_the_key(attachments):
    section = "item:\n  class: TextFileInputSource\n  options: {pattern: 'gone'}\n"
    with pytest.raises(
        ContentError, match=f"reading s3://{DATASOURCES}/items/i-1/gone.txt: NoSuchKey"
    ):
        score_item(attachments, section, ["items/i-1/gone.txt"])


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "10.1.2.3",
        "192.168.0.10",
        "172.16.5.5",
        "169.254.169.254",  # the instance metadata service
        "[::1]",
        "[fd00:ec2::254]",  # the metadata service over IPv6
        "[::ffff:127.0.0.1]",
        "100.100.100.200",  # shared address space (a cloud's metadata service)
        "0.0.0.0",
    ],
)
def test_content_urls_to_non_public_addresses_are_refused(host):
    with pytest.raises(ContentError, match="non-public address; refused"):
        public_address(f"https://{host}/transcript.txt")


def test_a_public_address_is_pinned_and_an_allowed_host_resolves_normally():
    assert public_address("https://93.184.215.14/x") == "93.184.215.14"
    assert public_address("https://127.0.0.1/x", allowed_hosts=("127.0.0.1",)) is None


def test_fetch_refuses_loopback_before_connecting_unless_allowed(https_content, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", https_content.ca_pem_path)
    https_content.add("/t.txt", b"transcript")
    url = https_content.url("/t.txt")
    with pytest.raises(ContentError, match=r"resolves to 127\.0\.0\.1, a non-public address"):
        fetch_text(url, max_bytes=1000, timeout_seconds=5)
    assert (
        fetch_text(url, max_bytes=1000, timeout_seconds=5, allowed_hosts=("127.0.0.1",))
        == "transcript"
    )


def test_a_redirect_to_the_metadata_service_is_refused(monkeypatch):
    import plexus.clients.content

    real = plexus.clients.content._fetch_once
    calls = []

    def first_redirects(url, *args):
        calls.append(url)
        if len(calls) == 1:
            return 302, b"", "text/plain", "https://169.254.169.254/latest/meta-data/"
        return real(url, *args)

    monkeypatch.setattr(plexus.clients.content, "_fetch_once", first_redirects)
    with pytest.raises(ContentError, match=r"169\.254\.169\.254, a non-public address; refused"):
        fetch_text("https://content.example/t.txt", max_bytes=100, timeout_seconds=1)
    assert calls == ["https://content.example/t.txt", "https://169.254.169.254/latest/meta-data/"]


@pytest.mark.parametrize(
    "host",
    [
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[64:ff9b::808:808]",  # NAT64 of a public address: the translator is a door still
        "[64:ff9b:1::a00:1]",  # local-use NAT64
        "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
        "[2002:808:808::1]",  # 6to4 of a public address
        "[::127.0.0.1]",  # IPv4-compatible
        "[::a9fe:a9fe]",  # IPv4-compatible 169.254.169.254
        "[::ffff:169.254.169.254]",  # IPv4-mapped
        "[::ffff:0:a00:1]",  # IPv4-translated
        "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
        "192.0.0.9",
        "192.0.0.170",
        "192.0.0.255",
    ],
)
def test_ipv6_doors_to_ipv4_and_ietf_assignments_are_refused(host):
    with pytest.raises(ContentError, match="non-public address; refused"):
        public_address(f"https://{host}/transcript.txt")


def test_a_public_ipv6_address_is_allowed():
    assert public_address("https://[2606:4700::1111]/x") == "2606:4700::1111"


def test_the_time_limit_is_for_the_whole_fetch_redirects_included(https_content, monkeypatch):
    import time

    monkeypatch.setenv("SSL_CERT_FILE", https_content.ca_pem_path)
    # Each hop alone is well within the limit; the four together are not.
    for hop in range(3):
        https_content.add(
            f"/hop{hop}", b"", delay=0.5, status=302, location=https_content.url(f"/hop{hop + 1}")
        )
    https_content.add("/hop3", b"transcript", delay=0.5)
    started = time.monotonic()
    with pytest.raises(ContentError, match=r"timed out after 1\.2s"):
        fetch_text(
            https_content.url("/hop0"),
            max_bytes=1000,
            timeout_seconds=1.2,
            allowed_hosts=("127.0.0.1",),
        )
    assert time.monotonic() - started < 1.9
    assert (
        fetch_text(
            https_content.url("/hop2"),
            max_bytes=1000,
            timeout_seconds=1.5,
            allowed_hosts=("127.0.0.1",),
        )
        == "transcript"
    )


@pytest.mark.parametrize("charset", ["idna", "punycode", "rot13", "base64", "no-such-charset"])
def test_a_bogus_charset_is_a_clear_content_error(https_content, monkeypatch, charset):
    monkeypatch.setenv("SSL_CERT_FILE", https_content.ca_pem_path)
    https_content.add("/odd.txt", b"x" * 100, content_type=f"text/plain; charset={charset}")
    with pytest.raises(ContentError, match=f"declares charset '{charset}'"):
        fetch_text(
            https_content.url("/odd.txt"),
            max_bytes=1000,
            timeout_seconds=5,
            allowed_hosts=("127.0.0.1",),
        )


def test_a_known_charset_still_decodes(https_content, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", https_content.ca_pem_path)
    https_content.add(
        "/l1.txt", "café".encode("latin-1"), content_type="text/plain; charset=latin-1"
    )
    assert (
        fetch_text(
            https_content.url("/l1.txt"),
            max_bytes=1000,
            timeout_seconds=5,
            allowed_hosts=("127.0.0.1",),
        )
        == "café"
    )
