"""POST /v1/chat/completions and GET /v1/models: OpenAI's API through the backend."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest
from backend_support import RunningBackend
from llmservice_backend.testing.fake_ollama import FakeOllama

MESSAGES = [{"role": "user", "content": "hello fake"}]


def events(response: httpx.Response) -> list[str]:
    return [
        line[len("data: ") :] for line in response.text.split("\n\n") if line.startswith("data: ")
    ]


def chunks(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(e) for e in events(response) if e != "[DONE]"]


def sdk(backend: RunningBackend, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=backend.url + "/v1", api_key=key, max_retries=0)


async def test_non_streaming_completion_with_usage(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "tinyllama", "messages": MESSAGES}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "tinyllama"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "You said: hello fake"}
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] == 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + 4


async def test_streaming_ends_with_done_and_usage_when_asked(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={
            "model": "tinyllama",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert events(response)[-1] == "[DONE]"
    parsed = chunks(response)
    assert parsed[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in parsed if c["choices"])
    assert text == "You said: hello fake"
    assert {c["id"] for c in parsed} == {parsed[0]["id"]}
    finish = [c["choices"][0]["finish_reason"] for c in parsed if c["choices"]]
    assert finish[-1] == "stop"
    assert all(f is None for f in finish[:-1])
    last = parsed[-1]
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 4
    assert all(c["usage"] is None for c in parsed[:-1])


async def test_streaming_without_include_usage_has_no_usage(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "tinyllama", "messages": MESSAGES, "stream": True}
    )
    assert events(response)[-1] == "[DONE]"
    assert all("usage" not in c for c in chunks(response))


async def test_parameters_are_mapped_to_ollama_options(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    response = await client.post(
        "/v1/chat/completions",
        json={
            "model": "tinyllama",
            "messages": [{"role": "developer", "content": "be brief"}, *MESSAGES],
            "max_tokens": 2,
            "temperature": 0.5,
            "top_p": 0.9,
            "stop": "END",
            "seed": 7,
            "response_format": {"type": "json_object"},
        },
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["finish_reason"] == "length"
    sent = fake.chats[-1].body
    assert sent["options"] == {
        "temperature": 0.5,
        "top_p": 0.9,
        "num_predict": 2,
        "stop": ["END"],
        "seed": 7,
    }
    assert sent["format"] == "json"
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["stream"] is False
    assert sent["keep_alive"] == -1


async def test_tool_calls_are_translated(client: httpx.AsyncClient, fake: FakeOllama) -> None:
    fake.tool_calls = [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    response = await client.post(
        "/v1/chat/completions", json={"model": "tinyllama", "messages": MESSAGES, "tools": tools}
    )
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {"city": "Paris"}
    assert fake.chats[-1].body["tools"] == tools


async def test_models_list(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/models")).json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["tinyllama:latest"]
    assert body["data"][0]["object"] == "model"
    one = await client.get("/v1/models/tinyllama")
    assert one.json()["id"] == "tinyllama:latest"
    missing = await client.get("/v1/models/nosuch")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "model_not_found"


async def test_missing_model_is_404_in_openai_shape(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/chat/completions", json={"model": "nosuch", "messages": MESSAGES}
    )
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": 'model "nosuch" not found, try pulling it first',
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_found",
        }
    }


async def test_error_mid_stream_is_an_error_event(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.error_after_tokens = 2
    response = await client.post(
        "/v1/chat/completions", json={"model": "tinyllama", "messages": MESSAGES, "stream": True}
    )
    last = json.loads(events(response)[-1])
    assert last["error"]["message"] == f"Ollama failed mid-reply: {fake.faults.error_message}"
    assert last["error"]["type"] == "server_error"
    assert "[DONE]" not in events(response)


async def test_stream_that_ends_early_is_reported(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.reset_after_tokens = 2
    response = await client.post(
        "/v1/chat/completions", json={"model": "tinyllama", "messages": MESSAGES, "stream": True}
    )
    last = json.loads(events(response)[-1])
    assert last["error"]["message"].startswith("the connection to Ollama broke mid-reply")


async def test_upstream_failure_status_in_openai_shape(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.status = 500
    response = await client.post(
        "/v1/chat/completions", json={"model": "tinyllama", "messages": MESSAGES}
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "server_error"
    assert fake.faults.status_error in error["message"]


# --- the official openai client, unchanged -------------------------------------------------------


def test_openai_client_non_streaming(backend: RunningBackend) -> None:
    completion = sdk(backend).chat.completions.create(model="tinyllama", messages=MESSAGES)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "You said: hello fake"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 4


def test_openai_client_streaming_with_usage(backend: RunningBackend) -> None:
    stream = sdk(backend).chat.completions.create(
        model="tinyllama",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    parts = list(stream)
    text = "".join(p.choices[0].delta.content or "" for p in parts if p.choices)
    assert text == "You said: hello fake"
    assert parts[-1].usage is not None
    assert parts[-1].usage.total_tokens > 4


def test_openai_client_models_and_errors(backend: RunningBackend, fake: FakeOllama) -> None:
    client = sdk(backend)
    assert [m.id for m in client.models.list()] == ["tinyllama:latest"]
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nosuch", messages=MESSAGES)  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(
            model="tinyllama", messages=[{"role": "wizard", "content": "x"}]
        )  # type: ignore[list-item,misc]
    assert "messages[0].role" in str(bad.value)
    fake.faults.error_after_tokens = 1
    with pytest.raises(openai.APIError) as broken:
        list(client.chat.completions.create(model="tinyllama", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert fake.faults.error_message in str(broken.value)
