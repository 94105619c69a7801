"""/api/embed, /api/embeddings, /v1/embeddings, /api/show and /api/ps through the backend,
against the fake Ollama, with the official `ollama` and `openai` clients."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any

import httpx
import ollama
import openai
import pytest
from backend_support import RunningBackend, StartBackend
from hypothesis import given
from hypothesis import strategies as st
from llmservice_backend.embeddings import openai_list, splice_list
from llmservice_backend.errors import ApiError
from llmservice_backend.testing.fake_ollama import EMBEDDING_LENGTH, FakeOllama

TEXTS = ["the cat sat on the mat", "a cat on a mat", "quarterly tax filings"]


def norm(vector: Any) -> float:
    return math.sqrt(sum(x * x for x in vector))


def test_the_ollama_client_embeds_a_batch(backend: RunningBackend, fake: FakeOllama) -> None:
    client = ollama.Client(host=backend.url)
    answer = client.embed(model="tinyllama", input=TEXTS)
    vectors = [list(v) for v in answer.embeddings]
    assert len(vectors) == 3
    assert all(len(v) == EMBEDDING_LENGTH for v in vectors)
    assert all(abs(norm(v) - 1) < 1e-9 for v in vectors)  # /api/embed normalizes
    assert answer.prompt_eval_count == 14
    assert backend.metric('llmservice_backend_tokens_total{kind="prompt"}') == 14
    again = client.embed(model="tinyllama", input=TEXTS[0])
    assert [list(v) for v in again.embeddings] == [vectors[0]]
    sent = fake.chats[-1]
    assert sent.path == "/api/embed"
    assert sent.body["keep_alive"] == -1  # the service's, not Ollama's five minutes
    # The fake records the outcome after its last write, which the client may read first.
    asyncio.run(fake.wait_for(lambda: fake.chats[-1].outcome == "completed"))


def test_the_older_embeddings_route_answers_one_unnormalized_vector(
    backend: RunningBackend, fake: FakeOllama
) -> None:
    vector = list(
        ollama.Client(host=backend.url).embeddings(model="tinyllama", prompt=TEXTS[0]).embedding
    )
    assert len(vector) == EMBEDDING_LENGTH
    assert sum(vector) == 6  # six words counted, as the fake's model gives them
    assert fake.chats[-1].path == "/api/embeddings"


async def test_embed_defaults_and_bounds(start_backend: StartBackend, fake: FakeOllama) -> None:
    backend = start_backend(model_keep_alive="1h", max_num_predict=8)
    async with httpx.AsyncClient(base_url=backend.url) as client:
        response = await client.post("/api/embed", json={"input": "x", "truncate": False})
        assert response.status_code == 200
        sent = fake.chats[-1].body
        assert sent == {"input": "x", "truncate": False, "model": "tinyllama", "keep_alive": "1h"}
        for path, body, param in [
            ("/api/embed", {"input": 5}, "input"),
            ("/api/embed", {"input": ["a", 5]}, "input[1]"),
            ("/api/embed", {"input": "a", "dimensions": 0}, "dimensions"),
            ("/api/embed", {"input": "a", "options": {"num_ctx": 9000}}, "options.num_ctx"),
            ("/api/embed", {"input": "a", "options": {"use_mmap": False}}, "options.use_mmap"),
            ("/api/embeddings", {"prompt": ["a"]}, "prompt"),
            ("/api/embeddings", {"prompt": "a", "keep_alive": "later"}, "keep_alive"),
        ]:
            bad = await client.post(path, json=body)
            assert bad.status_code == 400, (path, body)
            assert bad.json()["error"].startswith(f"{param}:"), bad.json()
    assert len(fake.chats) == 1


def test_the_openai_client_embeds_with_base64_and_floats(
    backend: RunningBackend, fake: FakeOllama
) -> None:
    """The client asks for base64 unless told otherwise and decodes it: both must agree."""
    client = openai.OpenAI(base_url=backend.url + "/v1", api_key="unused", max_retries=0)
    packed = client.embeddings.create(model="tinyllama", input=TEXTS)
    assert fake.chats[-1].body["input"] == TEXTS
    plain = client.embeddings.create(model="tinyllama", input=TEXTS, encoding_format="float")
    direct = ollama.Client(host=fake.url).embed(model="tinyllama", input=TEXTS).embeddings
    assert [d.index for d in packed.data] == [0, 1, 2]
    for a, b, c in zip(packed.data, plain.data, direct, strict=True):
        assert len(a.embedding) == EMBEDDING_LENGTH
        assert a.embedding == pytest.approx(list(c), abs=1e-6)  # float32 on the wire
        assert b.embedding == list(c)
    assert packed.model == "tinyllama"
    assert packed.usage.prompt_tokens == 14
    assert packed.usage.total_tokens == 14
    one = client.embeddings.create(model="tinyllama", input="a cat", dimensions=4)
    assert len(one.data) == 1
    assert len(one.data[0].embedding) == 4
    assert fake.chats[-1].body["dimensions"] == 4


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"input": "x"}, "model", "required"),
        ({"model": "tinyllama"}, "input", "required"),
        ({"model": "tinyllama", "input": ""}, "input", "must not be empty"),
        ({"model": "tinyllama", "input": []}, "input", "must not be empty"),
        ({"model": "tinyllama", "input": [[1, 2]]}, "input[0]", "string"),
        (
            {"model": "tinyllama", "input": "x", "encoding_format": "hex"},
            "encoding_format",
            "'float'",
        ),
        ({"model": "tinyllama", "input": "x", "dimensions": -1}, "dimensions", "greater"),
    ],
)
async def test_bad_openai_embedding_bodies_name_the_field(
    client: httpx.AsyncClient, fake: FakeOllama, body: dict[str, Any], param: str, words: str
) -> None:
    response = await client.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param, error
    assert words in error["message"]
    assert fake.chats == []


async def test_an_unknown_model_is_404_in_each_dialect(client: httpx.AsyncClient) -> None:
    ours = await client.post("/api/embed", json={"model": "nosuch", "input": "x"})
    assert ours.status_code == 404
    assert "not found" in ours.json()["error"]
    theirs = await client.post("/v1/embeddings", json={"model": "nosuch", "input": "x"})
    assert theirs.status_code == 404
    assert theirs.json()["error"]["code"] == "model_not_found"


async def test_a_client_leaving_before_its_embedding_stops_the_request(
    backend: RunningBackend, fake: FakeOllama
) -> None:
    fake.faults.first_token_delay = 30
    async with httpx.AsyncClient(base_url=backend.url, timeout=0.5) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/api/embed", json={"input": "x"})
    await fake.wait_for(lambda: fake.chats[-1].outcome == "cancelled")
    await fake.wait_for(lambda: backend.backend.limiter.active == 0)
    assert backend.metric("llmservice_backend_client_disconnects_total") == 1


async def test_an_embedding_failure_of_ollama_is_a_502(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    fake.faults.status = 500
    response = await client.post("/v1/embeddings", json={"model": "tinyllama", "input": "x"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"


# --- /api/show and /api/ps -----------------------------------------------------------------------


def test_show_and_ps_with_the_ollama_client(backend: RunningBackend) -> None:
    client = ollama.Client(host=backend.url)
    shown = client.show("tinyllama")
    assert shown.details is not None
    assert shown.details.family == "llama"
    assert shown.capabilities == ["completion"]
    running = client.ps().models
    assert [m.model for m in running] == ["tinyllama:latest"]
    assert running[0].expires_at is not None
    with pytest.raises(ollama.ResponseError) as missing:
        client.show("nosuch")
    assert missing.value.status_code == 404


async def test_show_defaults_to_the_service_model_and_names_bad_fields(
    client: httpx.AsyncClient, fake: FakeOllama
) -> None:
    shown = await client.post("/api/show", json={})
    assert shown.status_code == 200
    assert shown.json()["modelfile"] == "FROM tinyllama:latest\n"
    bad = await client.post("/api/show", json={"model": 5})
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("model:")
    assert ("POST", "/api/show") in fake.requests


# --- the OpenAI list built from Ollama's text equals the one built by parsing it --------------

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(
    vectors=st.lists(st.lists(finite, min_size=1, max_size=12), min_size=1, max_size=4),
    tokens=st.integers(min_value=0, max_value=10**6),
    encoding=st.sampled_from(["float", "base64"]),
    spaced=st.booleans(),
)
def test_spliced_list_equals_the_parsed_one(
    vectors: list[list[float]], tokens: int, encoding: str, spaced: bool
) -> None:
    answer = {"model": "m", "embeddings": vectors, "total_duration": 5, "prompt_eval_count": tokens}
    raw = json.dumps(answer, separators=(", ", ": ") if spaced else (",", ":")).encode()
    spliced = splice_list(raw, "m", encoding, len(vectors))
    assert spliced is not None
    assert json.loads(spliced) == openai_list(answer, "m", encoding, len(vectors))


@pytest.mark.parametrize(
    "answer",
    [
        {"embeddings": [[1.0], ["x"]]},  # not numbers
        {"embeddings": [[1.0]]},  # one vector for two inputs
        {"embeddings": []},
        {"vectors": [[1.0], [2.0]]},
    ],
)
def test_an_odd_answer_is_not_spliced_and_is_a_502(answer: dict[str, Any]) -> None:
    raw = json.dumps(answer).encode()
    assert splice_list(raw, "m", "float", 2) is None
    with pytest.raises(ApiError) as failed:
        openai_list(answer, "m", "float", 2)
    assert failed.value.status == 502


@pytest.mark.parametrize(
    "raw",
    [b'{"embeddings":[[1,,2]]}', b'{"embeddings":[[1e]]}', b'{"embeddings":[[--1]]}'],
)
@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_a_malformed_vector_is_never_spliced(raw: bytes, encoding: str) -> None:
    """Text that is not a list of JSON numbers is left to the parsing path (which answers
    502), never passed on as it is nor crashing the base64 packing."""
    from llmservice_backend.embeddings import splice_list

    assert splice_list(raw, "m", encoding, 1) is None
