"""The pure translation between OpenAI's chat completions and Ollama's /api/chat."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llmservice_backend.errors import ApiError
from llmservice_backend.openai_compat import (
    ChunkTranslator,
    completion,
    models_list,
    to_ollama_request,
)
from llmservice_backend.validation import OpenAIChatRequest, validate


def request(**fields: Any) -> OpenAIChatRequest:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return validate(OpenAIChatRequest, body)


def test_content_parts_and_images() -> None:
    req = request(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                    {"type": "text", "text": "this?"},
                ],
            }
        ]
    )
    body = to_ollama_request(req, -1)
    assert body["messages"] == [{"role": "user", "content": "what is\nthis?", "images": ["QUJD"]}]


def test_max_completion_tokens_wins_and_json_schema_becomes_format() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    req = request(
        max_tokens=10,
        max_completion_tokens=20,
        stop=["x", "y"],
        response_format={"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
    )
    body = to_ollama_request(req, "5m")
    assert body["options"] == {"num_predict": 20, "stop": ["x", "y"]}
    assert body["format"] == schema
    assert body["keep_alive"] == "5m"


def test_tool_history_is_translated() -> None:
    req = request(
        messages=[
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "sunny"},
        ],
        tool_choice="none",
        tools=[{"type": "function", "function": {"name": "get_weather"}}],
    )
    body = to_ollama_request(req, -1)
    assert body["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    }
    assert body["messages"][2] == {"role": "tool", "content": "sunny", "tool_name": "get_weather"}
    assert "tools" not in body  # tool_choice none


def test_content_may_only_be_missing_with_tool_calls() -> None:
    with pytest.raises(ApiError) as caught:
        to_ollama_request(request(messages=[{"role": "assistant", "content": None}]), -1)
    assert caught.value.param == "messages[0].content"


def test_completion_object() -> None:
    answer = {
        "message": {"role": "assistant", "content": "Hi!"},
        "done": True,
        "done_reason": "length",
        "prompt_eval_count": 5,
        "eval_count": 3,
    }
    out = completion(answer, "m", created=123)
    assert out["created"] == 123
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def decode(raw: bytes) -> list[Any]:
    events = [e.removeprefix(b"data: ") for e in raw.split(b"\n\n") if e]
    return [e.decode() if e == b"[DONE]" else json.loads(e) for e in events]


def test_stream_translation_with_tool_calls_and_usage() -> None:
    t = ChunkTranslator("m", include_usage=True)
    first = decode(t.translate({"message": {"role": "assistant", "content": ""}, "done": False}))
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    call = {"function": {"name": "f", "arguments": {"x": 1}}}
    calls = decode(t.translate({"message": {"content": "", "tool_calls": [call]}, "done": False}))
    delta = calls[0]["choices"][0]["delta"]
    assert delta["tool_calls"][0]["index"] == 0
    assert json.loads(delta["tool_calls"][0]["function"]["arguments"]) == {"x": 1}
    end = decode(
        t.translate(
            {"message": {"content": ""}, "done": True, "eval_count": 2, "prompt_eval_count": 1}
        )
    )
    assert end[0]["choices"][0]["finish_reason"] == "tool_calls"
    assert end[1]["choices"] == []
    assert end[1]["usage"]["total_tokens"] == 3
    assert end[2] == "[DONE]"


def test_models_list_skips_nameless_entries() -> None:
    out = models_list({"models": [{"name": "a:latest", "modified_at": "2024-05-01T10:00:00Z"}, {}]})
    assert out["data"] == [
        {"id": "a:latest", "object": "model", "created": 1714557600, "owned_by": "library"}
    ]
