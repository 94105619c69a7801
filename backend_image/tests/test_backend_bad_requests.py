"""Bad requests: each a 4xx JSON error, in the called API's dialect, naming the field at fault."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from backend_support import StartBackend
from llmservice_backend.testing.fake_ollama import FakeOllama

OK = [{"role": "user", "content": "hi"}]
OPENAI = "/v1/chat/completions"
OLLAMA = "/api/chat"


def oa(**fields: Any) -> dict[str, Any]:
    return {"model": "tinyllama", "messages": OK, **fields}


# (route, body, status, param the error must name (None: no field), words the message must hold)
CASES: list[tuple[str, Any, int, str | None, str]] = [
    (OPENAI, b"{not json", 400, None, "not valid JSON"),
    (OPENAI, b"", 400, None, "body is empty"),
    (OPENAI, [1, 2], 400, None, "must be a JSON object, not an array"),
    (OPENAI, {"messages": OK}, 400, "model", "required"),
    (OPENAI, {"model": 5, "messages": OK}, 400, "model", "valid string"),
    (OPENAI, {"model": "tinyllama"}, 400, "messages", "required"),
    (OPENAI, oa(messages="hi"), 400, "messages", "valid list"),
    (OPENAI, oa(messages=[]), 400, "messages", "at least one message"),
    (OPENAI, oa(messages=[{"content": "x"}]), 400, "messages[0].role", "required"),
    (OPENAI, oa(messages=[{"role": "wizard", "content": "x"}]), 400, "messages[0].role", "'user'"),
    (OPENAI, oa(messages=[{"role": "user", "content": 5}]), 400, "messages[0].content", "string"),
    (OPENAI, oa(messages=[{"role": "user"}]), 400, "messages[0].content", "required"),
    (
        OPENAI,
        oa(messages=[{"role": "user", "content": [{"type": "video"}]}]),
        400,
        "messages[0].content[0]",
        "unknown content part type",
    ),
    (
        OPENAI,
        oa(
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                }
            ]
        ),
        400,
        "messages[0].content[0].image_url.url",
        "data:",
    ),
    (
        OPENAI,
        oa(messages=[*OK, {"role": "tool", "content": "42"}]),
        400,
        "messages[1].tool_call_id",
        "required",
    ),
    (OPENAI, oa(temperature=3), 400, "temperature", "less than or equal to 2"),
    (OPENAI, oa(top_p=-0.1), 400, "top_p", "greater than or equal to 0"),
    (OPENAI, oa(max_tokens=0), 400, "max_tokens", "greater than or equal to 1"),
    (OPENAI, oa(n=2), 400, "n", "only n=1"),
    (OPENAI, oa(stop=["a", "b", "c", "d", "e"]), 400, "stop", "at most 4"),
    (OPENAI, oa(stop=7), 400, "stop", "string"),
    (OPENAI, oa(stream="yes"), 400, "stream", "boolean"),
    (OPENAI, oa(stream_options={"include_usage": True}), 400, "stream_options", "stream is true"),
    (OPENAI, oa(response_format={"type": "xml"}), 400, "response_format.type", "json_object"),
    (
        OPENAI,
        oa(response_format={"type": "json_schema"}),
        400,
        "response_format.json_schema",
        "required",
    ),
    (OPENAI, oa(presence_penalty=5), 400, "presence_penalty", "less than or equal to 2"),
    (OPENAI, oa(seed=1.5), 400, "seed", "integer"),
    (OPENAI, oa(tools=[{"type": "retrieval"}]), 400, "tools[0].type", "'function'"),
    (
        OPENAI,
        oa(
            messages=[
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{oops"},
                        }
                    ],
                }
            ]
        ),
        400,
        "messages[0].tool_calls[0].function.arguments",
        "JSON object",
    ),
    (OPENAI, oa(logprobs=True), 400, "logprobs", "not supported"),
    (OLLAMA, b"[", 400, None, "not valid JSON"),
    (OLLAMA, {"model": ""}, 400, "model", "at least 1 character"),
    (
        OLLAMA,
        {"messages": [{"role": "robot", "content": "x"}]},
        400,
        "messages[0].role",
        "'assistant'",
    ),
    (
        OLLAMA,
        {"messages": [{"role": "user", "images": "abc"}]},
        400,
        "messages[0].images",
        "valid list",
    ),
    (
        OLLAMA,
        {"messages": OK, "options": {"temperature": "hot"}},
        400,
        "options.temperature",
        "number",
    ),
    (OLLAMA, {"messages": OK, "options": {"num_ctx": 0}}, 400, "options.num_ctx", "greater than"),
    (OLLAMA, {"messages": OK, "keep_alive": "forever"}, 400, "keep_alive", "duration"),
    (OLLAMA, {"messages": OK, "format": "xml"}, 400, "format", "'json'"),
    (OLLAMA, {"messages": OK, "stream": "no"}, 400, "stream", "boolean"),
    (OLLAMA, {"messages": OK, "think": "maximum"}, 400, "think", "'low'"),
    # Bounds on the options Ollama runs the model with (MAX_NUM_CTX 8192 by default).
    (
        OLLAMA,
        {"messages": OK, "options": {"num_ctx": 32768}},
        400,
        "options.num_ctx",
        "32768 is more than this service allows (at most 8192)",
    ),
    (
        OLLAMA,
        {"messages": OK, "options": {"num_thread": 64}},
        400,
        "options.num_thread",
        "not allowed by this service",
    ),
    (
        OLLAMA,
        {"messages": OK, "options": {"num_gpu": 99}},
        400,
        "options.num_gpu",
        "reload it for every chat",
    ),
    (OLLAMA, {"messages": OK, "options": {"use_mlock": True}}, 400, "options.use_mlock", "not"),
]


@pytest.fixture
async def client(start_backend: StartBackend) -> Any:
    backend = start_backend(manage_model=False)
    async with httpx.AsyncClient(base_url=backend.url) as c:
        yield c


@pytest.mark.parametrize(("route", "body", "status", "param", "words"), CASES)
async def test_bad_request(
    client: httpx.AsyncClient, route: str, body: Any, status: int, param: str | None, words: str
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = await client.post(
        route, content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    if route == OPENAI:
        assert error["type"] == "invalid_request_error"
        assert error["param"] == param
        message = error["message"]
    else:
        assert isinstance(error, str)
        message = error
    if param is not None:
        assert message.startswith(f"{param}: "), message
    assert words in message, message


def test_there_are_at_least_twenty_kinds() -> None:
    assert len({(route, param, words) for route, _, _, param, words in CASES}) >= 20


async def test_body_over_the_limit_is_413(start_backend: StartBackend) -> None:
    backend = start_backend(max_request_body_bytes=2048, manage_model=False)
    big = {"model": "tinyllama", "messages": [{"role": "user", "content": "x" * 4000}]}
    async with httpx.AsyncClient(base_url=backend.url) as client:
        declared = await client.post(OPENAI, json=big)
        assert declared.status_code == 413
        assert declared.json()["error"]["code"] == "request_too_large"

        async def chunked() -> Any:  # no Content-Length: counted while reading
            for _ in range(4):
                yield b"x" * 1000

        streamed = await client.post(OLLAMA, content=chunked())
        assert streamed.status_code == 413
        assert "larger than the limit of 2048 bytes" in streamed.json()["error"]


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "not found: /v1/nothing"
    wrong = await client.get(OLLAMA)
    assert wrong.status_code == 405
    assert wrong.json() == {"error": "method GET is not allowed on /api/chat"}


def nested(depth: int) -> Any:
    """A JSON value whose objects and arrays nest depth levels (a scalar inside)."""
    value: Any = "x"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize("route", [OLLAMA, OPENAI])
async def test_deeply_nested_json_is_400_naming_the_limit(
    client: httpx.AsyncClient, route: str, caplog: pytest.LogCaptureFixture
) -> None:
    # About 200 KB of brackets: deeper than Python's parser can recurse.
    bomb = b"[" * 100_000 + b"]" * 100_000
    # Deeper than the limit (64) but parseable: caught after parsing.
    body = oa(tools=[{"type": "function", "function": {"name": "f", "parameters": nested(80)}}])
    for content in (bomb, b'{"a":' + bomb + b"}", json.dumps(body).encode()):
        response = await client.post(
            route, content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        error = response.json()["error"]
        message = error if route == OLLAMA else error["message"]
        assert message == (
            "the request body nests objects and arrays more than 64 levels deep (the limit)"
        )
        if route == OPENAI:
            assert error["code"] == "json_too_deep"
    assert "RecursionError" not in caplog.text
    assert "Traceback" not in caplog.text


async def test_nesting_up_to_the_limit_is_accepted(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(manage_model=False, max_json_depth=16)
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        # The body is level 1, "format" level 2: a format value 15 levels deep is the limit.
        ok = await client.post(OLLAMA, json={"messages": OK, "stream": False, "format": nested(15)})
        assert ok.status_code == 200, ok.text
        assert fake.chats[-1].body["format"] == nested(15)
        deep = await client.post(OLLAMA, json={"messages": OK, "format": nested(16)})
        assert deep.status_code == 400
        assert "more than 16 levels deep" in deep.json()["error"]


async def test_num_predict_bounded_when_max_num_predict_is_set(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(manage_model=False, max_num_predict=100)
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        for value in (101, -1, -2):
            refused = await client.post(
                OLLAMA, json={"messages": OK, "options": {"num_predict": value}}
            )
            assert refused.status_code == 400
            assert refused.json()["error"].startswith("options.num_predict: "), refused.text
            assert "at most 100" in refused.json()["error"]
        for name in ("max_tokens", "max_completion_tokens"):
            refused = await client.post(OPENAI, json=oa(**{name: 500}))
            assert refused.status_code == 400
            assert refused.json()["error"]["param"] == name
            assert "500 is more than this service allows (at most 100)" in refused.text
        # Within the bound: passed on as asked; without one: bounded to the limit.
        asked = {"messages": OK, "stream": False, "options": {"num_predict": 7}}
        assert (await client.post(OLLAMA, json=asked)).status_code == 200
        assert fake.chats[-1].body["options"] == {"num_predict": 7}
        plain = {"messages": OK, "stream": False, "options": {"temperature": 0.5}}
        assert (await client.post(OLLAMA, json=plain)).status_code == 200
        assert fake.chats[-1].body["options"] == {"temperature": 0.5, "num_predict": 100}
        assert (await client.post(OPENAI, json=oa(max_tokens=9))).status_code == 200
        assert fake.chats[-1].body["options"] == {"num_predict": 9}
        assert (await client.post(OPENAI, json=oa())).status_code == 200
        assert fake.chats[-1].body["options"] == {"num_predict": 100}


async def test_options_within_bounds_and_allowed_runner_options_pass(
    start_backend: StartBackend, fake: FakeOllama
) -> None:
    backend = start_backend(manage_model=False, max_num_ctx=4096, allow_runner_options=True)
    options = {"num_ctx": 4096, "num_thread": 2, "num_batch": 64}
    async with httpx.AsyncClient(base_url=backend.url, timeout=30) as client:
        ok = await client.post(OLLAMA, json={"messages": OK, "stream": False, "options": options})
        assert ok.status_code == 200, ok.text
        assert fake.chats[-1].body["options"] == options
        refused = await client.post(OLLAMA, json={"messages": OK, "options": {"num_ctx": 4097}})
        assert refused.json() == {
            "error": "options.num_ctx: 4097 is more than this service allows (at most 4096)"
        }
