"""FakeOpenAI against the real `openai` client: structured output, retries on 429,
client timeouts, auth, scripted faults and seeded fault injection."""

from __future__ import annotations

import asyncio
import collections
import http.client
import json
import time
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from tests.services.conftest import API_KEY
from tests.support.fake_openai import FakeOpenAI, prompt_text, schema_enum

SCHEMA = {
    "type": "object",
    "properties": {
        "value": {"type": "string", "enum": ["Yes", "No"]},
        "explanation": {"type": "string"},
        "confidence": {"type": "number"},
    },
    "required": ["value", "explanation", "confidence"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "classification", "strict": True, "schema": SCHEMA},
}


def client(ai: FakeOpenAI, **options: Any) -> AsyncOpenAI:
    options.setdefault("max_retries", 0)
    options.setdefault("timeout", 10)
    return AsyncOpenAI(base_url=ai.base_url, api_key=options.pop("api_key", API_KEY), **options)


async def _ask(c: AsyncOpenAI, text: str = "Agent: hello") -> Any:
    async with c:
        return await c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "You review call transcripts."},
                {"role": "user", "content": text},
            ],
            response_format=RESPONSE_FORMAT,  # type: ignore[arg-type]
        )


def ask(ai: FakeOpenAI, text: str = "Agent: hello", **options: Any) -> Any:
    return asyncio.run(_ask(client(ai, **options), text))


def raw_post(ai: FakeOpenAI, path: str, body: Any, method: str = "POST") -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", ai.port, timeout=10)
    try:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        conn.request(method, path, body=data if method == "POST" else None, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_structured_output_reply_has_the_real_shape(ai):
    ai.reply({"value": "Yes", "explanation": "greeted", "confidence": 0.9}, 11, 7)
    completion = ask(ai)
    assert ai.base_url == f"http://127.0.0.1:{ai.port}/v1"
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-") and completion.created > 0
    assert completion.model == "gpt-4o-mini"
    choice = completion.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert json.loads(choice.message.content) == {
        "value": "Yes",
        "explanation": "greeted",
        "confidence": 0.9,
    }
    usage = completion.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (11, 7, 18)
    # The request was recorded as sent, headers included.
    [request] = ai.requests
    assert request["body"]["response_format"] == RESPONSE_FORMAT
    assert request["body"]["messages"][1]["content"] == "Agent: hello"
    assert request["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert ai.call_count == 1 and ai.pending == 0


def test_script_is_consumed_in_order_then_the_default_answers(ai):
    ai.reply("first")
    ai.reply("second")
    contents = [ask(ai).choices[0].message.content for _ in range(3)]
    assert contents[:2] == ["first", "second"]
    # The built-in default: the schema's first class.
    assert json.loads(contents[2])["value"] == "Yes"


def test_default_responder_picks_a_class_from_the_prompt(ai):
    def by_keyword(body: dict[str, Any]) -> dict[str, Any]:
        classes = schema_enum(body)
        value = classes[0] if "hello" in prompt_text(body).lower() else classes[1]
        return {"value": value, "explanation": f"one of {classes}", "confidence": 0.7}

    ai.set_default(by_keyword)
    yes = json.loads(ask(ai, "Agent: Hello there").choices[0].message.content)
    no = json.loads(ask(ai, "Agent: what do you want").choices[0].message.content)
    assert (yes["value"], no["value"]) == ("Yes", "No")
    assert yes["explanation"] == "one of ['Yes', 'No']"


def test_429_is_retried_by_the_client_after_retry_after_ms(ai):
    ai.error(429, "Rate limit reached for gpt-4o-mini", retry_after_ms=400)
    ai.reply({"value": "No", "explanation": "", "confidence": 0.5})
    started = time.monotonic()
    completion = ask(ai, max_retries=2)
    elapsed = time.monotonic() - started
    assert json.loads(completion.choices[0].message.content)["value"] == "No"
    assert ai.call_count == 2
    # The client waited as the header said (its own backoff would start at 0.5 s +- jitter
    # but is capped by retry-after-ms when that is given).
    assert 0.4 <= elapsed < 2.0
    assert ai.requests[1]["headers"].get("x-stainless-retry-count") == "1"


def test_429_without_retries_surfaces_openais_error(ai):
    ai.error(429, "Rate limit reached for gpt-4o-mini")
    with pytest.raises(openai.RateLimitError) as caught:
        ask(ai)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after-ms"] == "20"
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert "Rate limit reached for gpt-4o-mini" in str(caught.value)


def test_slow_reply_hits_the_clients_timeout(ai):
    ai.delay(3.0, then={"value": "Yes", "explanation": "", "confidence": 1})
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask(ai, timeout=0.3)
    assert time.monotonic() - started < 2.0


def test_slow_reply_within_the_timeout_arrives(ai):
    ai.delay(0.3, then=FakeOpenAI.make_reply("late but fine"))
    started = time.monotonic()
    assert ask(ai, timeout=5).choices[0].message.content == "late but fine"
    assert time.monotonic() - started >= 0.3


def test_server_error_and_disconnect(ai):
    ai.error(500, "The server had an error while processing your request.")
    with pytest.raises(openai.InternalServerError) as caught:
        ask(ai)
    assert caught.value.body["type"] == "server_error"
    ai.disconnect()
    with pytest.raises(openai.APIConnectionError):
        ask(ai)
    # After a dropped connection the server still answers.
    ai.reply("back")
    assert ask(ai).choices[0].message.content == "back"


def test_wrong_key_is_401_and_the_key_is_not_echoed(ai):
    with pytest.raises(openai.AuthenticationError) as caught:
        ask(ai, api_key="sk-wrong-secret-key")
    assert caught.value.status_code == 401
    assert caught.value.body["code"] == "invalid_api_key"
    assert "sk-wrong-secret-key" not in json.dumps(caught.value.body)
    assert ai.call_count == 1 and ai.requests == []


def test_unknown_routes_and_bad_bodies_get_json_errors(ai):
    status, body = raw_post(ai, "/v1/models", b"", method="GET")
    assert status == 404 and body["error"]["type"] == "invalid_request_error"
    status, body = raw_post(ai, "/v1/completions", {"model": "x", "prompt": "hi"})
    assert status == 404 and "/v1/completions" in body["error"]["message"]
    status, body = raw_post(ai, "/v1/chat/completions", b"{not json")
    assert status == 400 and "JSON" in body["error"]["message"]
    status, body = raw_post(ai, "/v1/chat/completions", {"model": "gpt-4o-mini"})
    assert status == 400 and "messages" in body["error"]["message"]
    assert ai.requests == []


def test_bad_scripts_are_refused_with_a_clear_error(ai):
    with pytest.raises(ValueError, match="4xx or 5xx"):
        ai.error(200, "not an error")
    with pytest.raises(TypeError, match="str or dict"):
        ai.reply(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seconds"):
        ai.delay(-1)
    with pytest.raises(ValueError, match="sum to <= 1"):
        ai.set_fault_rates(rate_429=0.7, rate_timeout=0.5)
    assert ai.pending == 0
    # A responder that returns nonsense is a 500 that names the problem.
    ai.set_default(lambda body: 3)  # type: ignore[arg-type,return-value]
    status, body = raw_post(ai, "/v1/chat/completions", {"model": "m", "messages": []})
    assert status == 500 and "must return a Behaviour, str or dict" in body["error"]["message"]


def _outcomes(ai: FakeOpenAI, n: int) -> list[str]:
    out = []
    for _ in range(n):
        status, body = raw_post(
            ai,
            "/v1/chat/completions",
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                **{"response_format": RESPONSE_FORMAT},
            },
        )
        if status != 200:
            out.append(str(status))
        else:
            out.append(json.loads(body["choices"][0]["message"]["content"])["value"])
    return out


def test_fault_injection_is_seeded_and_near_its_rates(ai):
    ai.set_fault_rates(
        rate_429=0.2, rate_timeout=0.1, rate_bad_class=0.2, seed=3, timeout_seconds=0
    )
    first = _outcomes(ai, 200)
    ai.set_fault_rates(
        rate_429=0.2, rate_timeout=0.1, rate_bad_class=0.2, seed=3, timeout_seconds=0
    )
    assert _outcomes(ai, 200) == first
    counts = collections.Counter(first)
    assert 20 <= counts["429"] <= 60
    assert 20 <= counts["NOT-A-CLASS"] <= 60
    # A timeout fault with timeout_seconds=0 answers at once, as the default would.
    assert set(counts) == {"429", "NOT-A-CLASS", "Yes"}
    # Scripted behaviours take precedence over injected faults.
    ai.reply({"value": "No", "explanation": "", "confidence": 1})
    assert _outcomes(ai, 1) == ["No"]


def test_injected_timeout_outlasts_the_client(ai):
    ai.set_fault_rates(rate_timeout=1.0, timeout_seconds=2.0)
    with pytest.raises(openai.APITimeoutError):
        ask(ai, timeout=0.3)


def test_latency_applies_to_every_reply(ai):
    ai.latency = 0.25
    started = time.monotonic()
    ask(ai)
    assert time.monotonic() - started >= 0.25


def test_concurrent_requests_each_take_one_scripted_reply(ai):
    for i in range(30):
        ai.reply(f"scripted-{i}")
    ai.set_default(lambda body: "default")

    async def many() -> list[str]:
        async with client(ai) as c:
            replies = await asyncio.gather(
                *(
                    c.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": str(i)}]
                    )
                    for i in range(40)
                )
            )
        return [r.choices[0].message.content for r in replies]

    contents = asyncio.run(many())
    assert sorted(c for c in contents if c.startswith("scripted-")) == sorted(
        f"scripted-{i}" for i in range(30)
    )
    assert contents.count("default") == 10
    assert ai.call_count == 40 and len(ai.requests) == 40


def test_reset_forgets_script_faults_and_records(ai):
    ai.reply("stale")
    ai.set_fault_rates(rate_429=1.0)
    raw_post(ai, "/v1/chat/completions", {"model": "m", "messages": []})
    ai.latency = 5
    ai.reset()
    assert (ai.pending, ai.call_count, ai.requests, ai.latency) == (0, 0, [], 0.0)
    assert _outcomes(ai, 1) == ["Yes"]


def test_stop_ends_a_delayed_reply_and_frees_the_port():
    ai = FakeOpenAI(api_key=API_KEY).start()
    port = ai.port
    ai.delay(30)

    async def slow() -> None:
        async with client(ai, timeout=20) as c:
            await c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

    async def scenario() -> float:
        task = asyncio.create_task(slow())
        while ai.call_count == 0:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await asyncio.to_thread(ai.stop)
        with pytest.raises(openai.APIConnectionError):
            await task
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 3.0
    with pytest.raises(RuntimeError, match="not running"):
        _ = ai.base_url
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).connect()


# Per-prompt rules, the Azure route, Bedrock's Converse ------------------------------------


def test_when_rules_answer_by_prompt_text_after_the_script(ai):
    ai.when("colour", "Blue", prompt_tokens=7, completion_tokens=1)
    ai.when("shape", "Round")
    ai.reply("scripted first")

    async def ask(text: str) -> Any:
        async with client(ai) as c:
            return await c.chat.completions.create(
                model="m", messages=[{"role": "user", "content": text}]
            )

    assert asyncio.run(ask("what colour?")).choices[0].message.content == "scripted first"
    answer = asyncio.run(ask("what colour?"))
    assert answer.choices[0].message.content == "Blue" and answer.usage.prompt_tokens == 7
    assert asyncio.run(ask("what shape?")).choices[0].message.content == "Round"
    # No rule matches: the default responder answers.
    assert json.loads(asyncio.run(ask("other")).choices[0].message.content)["value"] == "Yes"
    with pytest.raises(ValueError, match="non-empty"):
        ai.when("", "x")


def test_azure_route_through_the_real_azure_client(ai):
    from openai import AsyncAzureOpenAI

    ai.reply("hello from azure")

    async def go(key: str) -> Any:
        async with AsyncAzureOpenAI(
            api_key=key,
            azure_endpoint=ai.base_url.removesuffix("/v1"),
            api_version="2024-06-01",
            max_retries=0,
        ) as c:
            return await c.chat.completions.create(
                model="my-deployment", messages=[{"role": "user", "content": "hi"}]
            )

    assert asyncio.run(go(API_KEY)).choices[0].message.content == "hello from azure"
    [request] = ai.requests
    assert request["protocol"] == "azure"
    assert (
        request["path"]
        == "/openai/deployments/my-deployment/chat/completions?api-version=2024-06-01"
    )
    with pytest.raises(openai.AuthenticationError):
        asyncio.run(go("wrong-key"))


def test_converse_through_boto3(ai, monkeypatch):
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    bedrock = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=ai.base_url.removesuffix("/v1"),
        config=Config(retries={"total_max_attempts": 1}),
    )
    ai.when("capital", "Paris", prompt_tokens=11, completion_tokens=2)
    response = bedrock.converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        system=[{"text": "Be brief."}],
        messages=[{"role": "user", "content": [{"text": "The capital of France?"}]}],
    )
    assert response["output"]["message"]["content"] == [{"text": "Paris"}]
    assert response["usage"] == {"inputTokens": 11, "outputTokens": 2, "totalTokens": 13}
    [request] = ai.requests
    assert request["protocol"] == "bedrock"
    assert request["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "The capital of France?"},
    ]
    ai.error(429, "Too many requests")
    with pytest.raises(ClientError, match="ThrottlingException"):
        bedrock.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "again"}]}])
