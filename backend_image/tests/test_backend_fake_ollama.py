"""The fake Ollama itself: the shapes other tests rely on, checked with the official client."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import ollama
import pytest
from llmservice_backend.testing.fake_ollama import FakeOllama


def test_official_client_against_the_fake(fake: FakeOllama) -> None:
    client = ollama.Client(host=fake.url)
    assert [m.model for m in client.list().models] == ["tinyllama:latest"]
    assert [m.model for m in client.ps().models] == ["tinyllama:latest"]
    assert client.show("tinyllama").details is not None
    parts = list(
        client.chat(model="tinyllama", messages=[{"role": "user", "content": "a b"}], stream=True)
    )
    assert "".join(p.message.content or "" for p in parts) == "You said: a b"
    assert parts[-1].eval_count == 4
    generated = client.generate(model="tinyllama", prompt="x y")
    assert generated.response == "You said: x y"
    with pytest.raises(ollama.ResponseError) as missing:
        client.chat(model="nosuch", messages=[])
    assert missing.value.error == 'model "nosuch" not found, try pulling it first'


def test_pull_streams_progress_and_adds_the_model(fake: FakeOllama) -> None:
    fake.remove("tinyllama")
    statuses = [p.status for p in ollama.Client(host=fake.url).pull("tinyllama", stream=True)]
    assert statuses[0] == "pulling manifest"
    assert statuses[-1] == "success"
    assert "tinyllama:latest" in fake.models


def test_failed_pull_says_why(fake: FakeOllama) -> None:
    fake.faults.pull_error = "pull model manifest: file does not exist"
    with pytest.raises(ollama.ResponseError) as failed:
        list(ollama.Client(host=fake.url).pull("nosuch", stream=True))
    assert failed.value.error == "pull model manifest: file does not exist"


def test_load_and_unload_with_generate(fake: FakeOllama) -> None:
    fake.unload("tinyllama")
    loaded = httpx.post(fake.url + "/api/generate", json={"model": "tinyllama", "stream": False})
    assert loaded.json()["done_reason"] == "load"
    assert "tinyllama:latest" in fake.loaded
    httpx.post(
        fake.url + "/api/generate", json={"model": "tinyllama", "keep_alive": 0, "stream": False}
    )
    assert fake.loaded == {}


def test_token_rate_paces_the_reply(fake: FakeOllama) -> None:
    fake.reply_tokens, fake.token_rate = 5, 50.0
    final = httpx.post(
        fake.url + "/api/chat",
        json={
            "model": "tinyllama",
            "messages": [{"role": "user", "content": "x"}],
            "stream": False,
        },
    ).json()
    assert final["eval_count"] == 5
    # Four gaps of 1/50 s between five tokens, as the statistics report them.
    assert final["eval_duration"] >= 4 * 20_000_000 * 0.9


def test_runs_as_a_process() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmservice_backend.testing.fake_ollama", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("FAKE_OLLAMA_URL=http://127.0.0.1:")
        url = line.split("=", 1)[1]
        assert httpx.get(url + "/").text == "Ollama is running"
        assert json.loads(httpx.get(url + "/api/version").text)["version"]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
