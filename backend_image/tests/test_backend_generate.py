"""/api/generate and /v1/completions through the backend, against the fake Ollama.

The official `ollama` and `openai` clients drive them; the same rules as the chat routes hold
(slots and 429, disconnects that stop Ollama, the API key, bounded options, metrics by route,
the SIGTERM drain).
"""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
import ollama
import openai
import pytest
from backend_support import RunningBackend, StartBackend, backend_process
from llmservice_backend.testing.fake_ollama import FakeOllama

PROMPT = "hello fake"
ECHO = "You said: hello fake"


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def sse(response: httpx.Response) -> list[Any]:
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    return [e if e == "[DONE]" else json.loads(e) for e in events]


# --- Ollama /api/generate ---------------------------------------------------------------------


async def test_generate_streams_ndjson_as_ollama_does(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    response = await client.post("/api/generate", json={"model": "tinyllama", "prompt": PROMPT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    objects = ndjson(response)
    assert "".join(o["response"] for o in objects[:-1]) == ECHO
    assert all(o["done"] is False for o in objects[:-1])
    final = objects[-1]
    assert final["done"] is True
    assert final["done_reason"] == "stop"
    assert final["eval_count"] == len(objects) - 1
    assert fake.chats[-1].path == "/api/generate"


def test_the_ollama_client_generates_streaming_and_not(backend: RunningBackend) -> None:
    client = ollama.Client(host=backend.url)
    whole = client.generate(model="tinyllama", prompt=PROMPT)
    assert whole.response == ECHO
    assert whole.done
    assert whole.eval_count == 4
    assert whole.prompt_eval_count
    pieces = list(client.generate(model="tinyllama", prompt=PROMPT, stream=True))
    assert len(pieces) == 5  # four words and the final statistics
    assert "".join(p.response or "" for p in pieces) == ECHO
    assert pieces[-1].done
    assert pieces[-1].done_reason == "stop"


async def test_generate_fills_in_model_keep_alive_and_the_token_bound(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(model_keep_alive="30m", max_num_predict=2)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.post(
            "/api/generate", json={"prompt": PROMPT, "stream": False, "system": "be brief"}
        )
    assert response.status_code == 200
    assert response.json()["done_reason"] == "length"
    sent = fake.chats[-1].body
    assert sent["model"] == "tinyllama"
    assert sent["keep_alive"] == "30m"
    assert sent["options"] == {"num_predict": 2}
    assert sent["system"] == "be brief"


async def test_a_prompt_less_generate_loads_or_unloads_the_model(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    """Open WebUI's unload: no stream field, an empty prompt, keep_alive 0; it reads the
    answer as JSON and checks its content type, which Ollama sends as application/json."""
    unloaded = await client.post(
        "/api/generate", json={"model": "tinyllama", "keep_alive": 0, "prompt": ""}
    )
    assert unloaded.status_code == 200
    assert unloaded.headers["content-type"].startswith("application/json")
    assert unloaded.json()["done_reason"] == "unload"
    assert "tinyllama:latest" not in fake.loaded
    loaded = await client.post("/api/generate", json={"model": "tinyllama", "stream": False})
    assert loaded.json()["done_reason"] == "load"
    assert "tinyllama:latest" in fake.loaded


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"prompt": 5}, "prompt", "string"),
        ({"prompt": "x", "options": {"num_ctx": 100000}}, "options.num_ctx", "at most 8192"),
        ({"prompt": "x", "options": {"num_gpu": 1}}, "options.num_gpu", "not allowed"),
        ({"prompt": "x", "keep_alive": "soon"}, "keep_alive", "duration"),
        ({"prompt": "x", "context": ["a"]}, "context[0]", "integer"),
        ({"prompt": "x", "stream": "yes"}, "stream", "boolean"),
    ],
)
async def test_bad_generate_bodies_name_the_field(
    client: httpx.AsyncClient, fake: FakeOllama, body: dict[str, Any], param: str, words: str
) -> None:
    response = await client.post("/api/generate", json=body)
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith(f"{param}:"), message
    assert words in message
    assert fake.chats == []


async def test_a_missing_model_is_ollamas_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/generate", json={"model": "nosuch", "prompt": "x"})
    assert response.status_code == 404
    assert "not found" in response.json()["error"]


async def test_an_error_mid_generate_stream_is_an_error_line(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.error_after_tokens = 2
    response = await client.post("/api/generate", json={"prompt": PROMPT})
    objects = ndjson(response)
    assert [o["response"] for o in objects[:-1]] == ["You", " said:"]
    assert objects[-1] == {"error": fake.faults.error_message}


# --- OpenAI /v1/completions ---------------------------------------------------------------


def test_the_openai_client_completes(backend: RunningBackend, fake: FakeOllama) -> None:
    client = openai.OpenAI(base_url=backend.url + "/v1", api_key="unused", max_retries=0)
    done = client.completions.create(model="tinyllama", prompt=PROMPT, temperature=0.2, seed=3)
    assert done.object == "text_completion"
    assert done.model == "tinyllama"
    assert done.choices[0].text == ECHO
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.completion_tokens == 4
    assert done.usage.total_tokens == done.usage.prompt_tokens + 4
    sent = fake.chats[-1].body
    assert fake.chats[-1].path == "/api/generate"
    assert sent["prompt"] == PROMPT
    assert sent["options"] == {"temperature": 0.2, "seed": 3}
    assert sent["stream"] is False
    assert sent["keep_alive"] == -1
    cut = client.completions.create(model="tinyllama", prompt=[PROMPT], max_tokens=2, stop="X")
    assert cut.choices[0].text == "You said:"
    assert cut.choices[0].finish_reason == "length"
    assert fake.chats[-1].body["options"] == {"num_predict": 2, "stop": ["X"]}


def test_the_openai_client_streams_a_completion(backend: RunningBackend) -> None:
    client = openai.OpenAI(base_url=backend.url + "/v1", api_key="unused", max_retries=0)
    chunks = list(
        client.completions.create(
            model="tinyllama",
            prompt=PROMPT,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert sum(1 for t in texts if t) == 4, "the reply did not arrive in pieces"
    assert "".join(texts) == ECHO
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert len({c.id for c in chunks}) == 1
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1
    assert usage[0].completion_tokens == 4


async def test_a_completion_stream_ends_with_done_and_errors_are_events(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    body = {"model": "tinyllama", "prompt": PROMPT, "stream": True}
    events = sse(await client.post("/v1/completions", json=body))
    assert events[-1] == "[DONE]"
    assert all("usage" not in e for e in events[:-1])
    fake.faults.error_after_tokens = 1
    failed = sse(await client.post("/v1/completions", json=body))
    assert failed[0]["choices"][0]["text"] == "You"
    assert failed[-1]["error"]["code"] == "upstream_error"
    assert "[DONE]" not in failed


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"prompt": "x"}, "model", "required"),
        ({"model": "tinyllama"}, "prompt", "required"),
        ({"model": "tinyllama", "prompt": ["a", "b"]}, "prompt", "exactly one prompt"),
        ({"model": "tinyllama", "prompt": [1, 2]}, "prompt[0]", "string"),
        ({"model": "tinyllama", "prompt": "x", "n": 2}, "n", "only 1"),
        ({"model": "tinyllama", "prompt": "x", "echo": True}, "echo", "not supported"),
        ({"model": "tinyllama", "prompt": "x", "logprobs": 2}, "logprobs", "not supported"),
        ({"model": "tinyllama", "prompt": "x", "max_tokens": 0}, "max_tokens", "greater"),
        ({"model": "tinyllama", "prompt": "x", "temperature": 3}, "temperature", "less"),
        (
            {"model": "tinyllama", "prompt": "x", "stream_options": {"include_usage": True}},
            "stream_options",
            "only allowed when stream is true",
        ),
    ],
)
async def test_bad_completion_bodies_name_the_field(
    client: httpx.AsyncClient, fake: FakeOllama, body: dict[str, Any], param: str, words: str
) -> None:
    response = await client.post("/v1/completions", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert words in error["message"]
    assert fake.chats == []


async def test_max_tokens_is_bounded_by_max_num_predict(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(max_num_predict=16)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        over = await client.post(
            "/v1/completions", json={"model": "tinyllama", "prompt": "x", "max_tokens": 17}
        )
        assert over.status_code == 400
        assert over.json()["error"]["param"] == "max_tokens"
        fine = await client.post("/v1/completions", json={"model": "tinyllama", "prompt": "x"})
        assert fine.status_code == 200
    assert fake.chats[-1].body["options"] == {"num_predict": 16}


# --- the shared rules: slots, disconnects, key, metrics, shutdown ---------------------------

LONG_GENERATE = {"prompt": PROMPT}


async def test_generate_and_completions_share_the_slots_and_get_429(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    fake.reply_tokens, fake.token_rate = 200, 20.0
    backend = start_backend(max_concurrent_requests=1, max_queued_requests=1)
    limiter = backend.backend.limiter
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=30) as client,
        client.stream("POST", "/api/generate", json=LONG_GENERATE) as running,
    ):
        lines = running.aiter_lines()
        assert json.loads(await anext(lines))["done"] is False
        queued = asyncio.create_task(client.post("/api/chat", json={"messages": []}))
        await fake.wait_for(lambda: limiter.waiting == 1)
        for path, body in [
            ("/api/generate", LONG_GENERATE),
            ("/v1/completions", {"model": "tinyllama", "prompt": "x"}),
            ("/api/embed", {"input": "x"}),
            ("/v1/embeddings", {"model": "tinyllama", "input": "x"}),
            ("/api/embeddings", {"prompt": "x"}),
        ]:
            rejected = await client.post(path, json=body)
            assert rejected.status_code == 429, path
            assert int(rejected.headers["retry-after"]) >= 1
        queued.cancel()
        await asyncio.gather(queued, return_exceptions=True)
    assert backend.metric('llmservice_backend_rejected_requests_total{reason="queue_full"}') == 5
    assert len(fake.chats) == 1  # only the running generation reached Ollama


@pytest.mark.parametrize(
    ("path", "dialect"), [("/api/generate", "ollama"), ("/v1/completions", "openai")]
)
async def test_a_client_leaving_a_stream_stops_the_generation(
    backend: RunningBackend, fake: FakeOllama, path: str, dialect: str
) -> None:
    fake.reply_tokens, fake.token_rate = 500, 20.0
    body = {"model": "tinyllama", "prompt": PROMPT, "stream": True}
    async with (
        httpx.AsyncClient(base_url=backend.url, timeout=30) as client,
        client.stream("POST", path, json=body) as response,
    ):
        async for line in response.aiter_lines():
            if line.strip():
                break
    await fake.wait_for(lambda: fake.chats[-1].outcome == "cancelled")
    assert fake.chats[-1].tokens_sent < 500
    await fake.wait_for(lambda: backend.backend.limiter.active == 0)
    assert backend.metric("llmservice_backend_client_disconnects_total") == 1


KEY = "s3cret-key-for-tests"
GUARDED = [
    ("POST", "/api/generate"),
    ("POST", "/api/embed"),
    ("POST", "/api/embeddings"),
    ("POST", "/api/show"),
    ("GET", "/api/ps"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/embeddings"),
]


async def test_the_api_key_guards_every_new_route(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(api_key=KEY)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        for method, path in GUARDED:
            response = await client.request(method, path, json={"prompt": "x", "input": "x"})
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"] == "Bearer"
        good = {"authorization": f"Bearer {KEY}"}
        assert (await client.get("/api/ps", headers=good)).status_code == 200
    assert fake.chats == []
    keyed = ollama.Client(host=backend.url, headers={"Authorization": f"Bearer {KEY}"})
    assert keyed.generate(model="tinyllama", prompt=PROMPT).response == ECHO
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=backend.url + "/v1", api_key="wrong-key", max_retries=0
        ).completions.create(model="tinyllama", prompt="x")


async def test_metrics_are_labelled_by_route(backend: RunningBackend) -> None:
    async with httpx.AsyncClient(base_url=backend.url) as client:
        await client.post("/api/generate", json={"prompt": PROMPT})
        await client.post(
            "/v1/completions", json={"model": "tinyllama", "prompt": "x", "stream": True}
        )
        await client.post("/api/embed", json={"input": ["a b", "c"]})
    m = backend.metric
    for route in ("/api/generate", "/v1/completions", "/api/embed"):
        assert (
            m(f'llmservice_backend_requests_total{{method="POST",route="{route}",status="200"}}')
            == 1
        )
    assert m('llmservice_backend_time_to_first_token_seconds_count{route="/api/generate"}') == 1
    assert m('llmservice_backend_time_to_first_token_seconds_count{route="/v1/completions"}') == 1
    assert m('llmservice_backend_tokens_per_second_count{route="/api/generate"}') == 1
    assert m('llmservice_backend_tokens_total{kind="prompt"}') > 3  # the embed's 3 words too


@pytest.mark.slow
def test_sigterm_cuts_a_long_generation_with_an_error_line(fake: FakeOllama) -> None:
    fake.reply_tokens, fake.token_rate = 1000, 20.0  # 50 s, far past the grace
    with (
        backend_process(fake.url, SHUTDOWN_GRACE_SECONDS="2") as backend,
        httpx.Client(timeout=30) as client,
        client.stream("POST", backend.url + "/api/generate", json=LONG_GENERATE) as response,
    ):
        lines = response.iter_lines()
        assert json.loads(next(lines))["done"] is False
        backend.proc.send_signal(signal.SIGTERM)
        rest = [json.loads(line) for line in lines if line.strip()]
        assert "shutting down" in rest[-1]["error"]
        assert all("response" in o for o in rest[:-1])
        assert backend.proc.wait(timeout=20) == 0


def test_a_piece_arriving_with_the_error_line_still_reaches_the_client() -> None:
    """A token and Ollama's error line often come in one chunk: the token is kept."""
    from llmservice_backend.openai_completions import TextChunkTranslator
    from llmservice_backend.relay import StreamOutcome, _translate_lines

    lines = [
        json.dumps({"response": "You", "done": False}).encode(),
        json.dumps({"error": "runner died"}).encode(),
    ]
    out, failure = _translate_lines(lines, TextChunkTranslator("m", False), StreamOutcome())
    events = [json.loads(e[6:]) for e in out.decode().split("\n\n") if e]
    assert [e["choices"][0]["text"] for e in events] == ["You"]
    assert failure is not None
    assert "runner died" in failure.message
