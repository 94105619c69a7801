"""POST /api/chat: Ollama's own API through the backend, against the fake Ollama."""

from __future__ import annotations

import json

import httpx
import ollama
import pytest
from backend_support import RunningBackend, StartBackend
from llmservice_backend.testing.fake_ollama import FakeOllama

MESSAGES = [{"role": "user", "content": "hello fake"}]
STATS = (
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
    "done_reason",
)


def lines(response: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


async def test_streaming_chat_passes_ndjson_and_final_stats(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    response = await client.post("/api/chat", json={"model": "tinyllama", "messages": MESSAGES})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    objects = lines(response)
    pieces = [o["message"]["content"] for o in objects if not o["done"]]  # type: ignore[index]
    assert "".join(pieces) == "You said: hello fake"
    final = objects[-1]
    assert final["done"] is True
    for key in STATS:
        assert key in final, key
    assert final["eval_count"] == len(pieces)
    assert final["done_reason"] == "stop"
    # The fake records the outcome after its last write, which the client may read first.
    await fake.wait_for(lambda: fake.chats[-1].outcome == "completed")


async def test_non_streaming_chat_is_one_object_with_stats(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/chat", json={"model": "tinyllama", "messages": MESSAGES, "stream": False}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == {"role": "assistant", "content": "You said: hello fake"}
    assert body["done"] is True
    for key in STATS:
        assert key in body, key


async def test_model_and_keep_alive_default_to_the_settings(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(model_keep_alive="30m")
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
        assert response.status_code == 200
        sent = fake.chats[-1].body
        assert sent["model"] == "tinyllama"
        assert sent["keep_alive"] == "30m"
        # What the client chose is kept.
        await client.post(
            "/api/chat",
            json={"model": "tinyllama", "messages": MESSAGES, "stream": False, "keep_alive": 0},
        )
        assert fake.chats[-1].body["keep_alive"] == 0


async def test_numeric_keep_alive_is_sent_as_a_number(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
    assert fake.chats[-1].body["keep_alive"] == -1  # MODEL_KEEP_ALIVE "-1" means forever


async def test_options_and_unknown_fields_are_passed_through(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    body = {
        "model": "tinyllama",
        "messages": MESSAGES,
        "stream": False,
        "options": {"num_predict": 2, "temperature": 0.1, "mirostat": 1},
        "format": "json",
        "future_field": {"x": 1},
    }
    response = await client.post("/api/chat", json=body)
    assert response.status_code == 200
    assert response.json()["done_reason"] == "length"
    assert response.json()["eval_count"] == 2
    sent = fake.chats[-1].body
    assert sent["options"] == {"num_predict": 2, "temperature": 0.1, "mirostat": 1}
    assert sent["format"] == "json"
    assert sent["future_field"] == {"x": 1}


@pytest.mark.parametrize("stream", [True, False])
async def test_missing_model_is_404_with_ollamas_message(
    client: httpx.AsyncClient, stream: bool
) -> None:
    response = await client.post(
        "/api/chat", json={"model": "nosuch", "messages": MESSAGES, "stream": stream}
    )
    assert response.status_code == 404
    assert response.json() == {"error": 'model "nosuch" not found, try pulling it first'}


async def test_error_mid_stream_reaches_the_client_as_an_error_line(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.error_after_tokens = 2
    response = await client.post("/api/chat", json={"messages": MESSAGES})
    assert response.status_code == 200
    objects = lines(response)
    assert len(objects) == 3
    assert objects[-1] == {"error": fake.faults.error_message}


async def test_error_before_any_token_in_a_non_streaming_chat_is_502(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.status = 500
    response = await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
    assert response.status_code == 502
    assert fake.faults.status_error in response.json()["error"]


async def test_busy_ollama_stays_503_with_retry_after(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.status = 503
    fake.faults.status_error = "server busy, please try again.  maximum pending requests exceeded"
    response = await client.post("/api/chat", json={"messages": MESSAGES})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "server busy" in response.json()["error"]


async def test_stall_mid_stream_past_the_idle_timeout(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(stream_idle_timeout_seconds=1.0)
    fake.faults.stall_after_tokens = 2
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        response = await client.post("/api/chat", json={"messages": MESSAGES})
    objects = lines(response)
    assert len(objects) == 3
    assert objects[-1] == {"error": "Ollama stalled: no output after 1 s"}
    # The backend hung up on the stalled upstream.
    await fake.wait_for(lambda: fake.chats[-1].outcome == "cancelled")


async def test_stall_before_the_first_token_is_504(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(first_token_timeout_seconds=0.3)
    fake.faults.stall_after_tokens = 0
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        response = await client.post("/api/chat", json={"messages": MESSAGES})
    assert response.status_code == 504
    assert response.json() == {"error": "no first token from Ollama after 0.3 s"}
    await fake.wait_for(lambda: fake.chats[-1].outcome == "cancelled")


async def test_non_streaming_chat_past_the_total_timeout_is_504(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(request_timeout_seconds=0.3)
    fake.faults.stall_after_tokens = 1
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        response = await client.post("/api/chat", json={"messages": MESSAGES, "stream": False})
    assert response.status_code == 504
    assert "0.3 s" in response.json()["error"]


async def test_connection_reset_mid_stream(client: httpx.AsyncClient, fake: FakeOllama) -> None:
    fake.faults.reset_after_tokens = 2
    response = await client.post("/api/chat", json={"messages": MESSAGES})
    objects = lines(response)
    assert len(objects) == 3
    error = objects[-1]["error"]
    assert isinstance(error, str)
    assert error.startswith("the connection to Ollama broke mid-reply")
    assert fake.chats[-1].outcome == "reset"


@pytest.mark.parametrize("stream", [True, False])
async def test_connection_reset_before_the_reply_is_502(
    client: httpx.AsyncClient, fake: FakeOllama, stream: bool
) -> None:
    fake.faults.reset_after_tokens = 0
    response = await client.post("/api/chat", json={"messages": MESSAGES, "stream": stream})
    assert response.status_code == 502
    assert "Ollama" in response.json()["error"]


async def test_ollama_down_is_502_naming_the_url(start_backend: StartBackend) -> None:
    backend = start_backend(ollama_url="http://127.0.0.1:9", manage_model=False)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.post("/api/chat", json={"messages": MESSAGES})
    assert response.status_code == 502
    assert "http://127.0.0.1:9" in response.json()["error"]


async def test_tags_and_version_are_passed_through(client: httpx.AsyncClient) -> None:
    tags = (await client.get("/api/tags")).json()
    assert [m["name"] for m in tags["models"]] == ["tinyllama:latest"]
    assert "version" in (await client.get("/api/version")).json()


# --- the official ollama client, unchanged -------------------------------------------------------


def test_ollama_client_streaming(backend: RunningBackend) -> None:
    client = ollama.Client(host=backend.url)
    parts = list(client.chat(model="tinyllama", messages=MESSAGES, stream=True))
    assert "".join(p.message.content or "" for p in parts) == "You said: hello fake"
    final = parts[-1]
    assert final.done is True
    assert final.done_reason == "stop"
    assert final.eval_count == len(parts) - 1
    assert final.prompt_eval_count is not None
    assert final.total_duration is not None


def test_ollama_client_non_streaming_and_list(backend: RunningBackend) -> None:
    client = ollama.Client(host=backend.url)
    answer = client.chat(model="tinyllama", messages=MESSAGES)
    assert answer.message.content == "You said: hello fake"
    assert answer.eval_count == 4
    assert [m.model for m in client.list().models] == ["tinyllama:latest"]


def test_ollama_client_sees_missing_model_and_mid_stream_error(
    backend: RunningBackend, fake: FakeOllama
) -> None:
    client = ollama.Client(host=backend.url)
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="nosuch", messages=MESSAGES)
    assert missing.value.status_code == 404
    assert "not found" in missing.value.error
    fake.faults.error_after_tokens = 1
    with pytest.raises(ollama.ResponseError) as broken:
        list(client.chat(model="tinyllama", messages=MESSAGES, stream=True))
    assert fake.faults.error_message in broken.value.error
