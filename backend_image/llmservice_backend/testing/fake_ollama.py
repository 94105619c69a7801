"""A fake Ollama that speaks its HTTP API faithfully and misbehaves on demand.

It is a small HTTP/1.1 server written directly on asyncio streams, not an ASGI app: faults
such as a TCP reset or a response whose headers wait for the first token need control of the
socket, and noticing a client that closes its connection mid-stream needs to watch it.

Use it from tests in a background thread:

    with FakeOllama() as fake:            # serves on 127.0.0.1, random port
        fake.token_rate = 20              # tokens per second
        fake.faults.error_after_tokens = 3
        ... fake.url ...
        fake.chats[-1].outcome            # "completed", "cancelled", "error", "reset", ...

or as a process (benchmarks): `python -m llmservice_backend.testing.fake_ollama --port 0`,
which prints `FAKE_OLLAMA_URL=http://127.0.0.1:<port>` once it listens.

Routes: /api/chat, /api/generate (prompt-less requests load or unload a model), /api/embed,
/api/embeddings, /api/tags, /api/ps, /api/show, /api/pull, /api/version, and GET /
("Ollama is running"). Embeddings are bags of hashed words (``embedding_length`` numbers,
EMBEDDING_LENGTH unless set): texts that share words lie closer together, and the same text
always gives the same vector.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

VERSION = "0.12.6"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_WORD = re.compile(r"\s*\S+")
EMBEDDING_LENGTH = 16


def canonical(name: str) -> str:
    """Ollama's short model name: the tag defaults to 'latest'."""
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Faults:
    """Misbehaviour for the next requests; every field off by default."""

    # /api/chat and /api/generate
    status: int | None = None  # answer with this HTTP status and {"error": status_error}
    status_error: str = "llama runner process has terminated: exit status 2"
    error_after_tokens: int | None = None  # an {"error": ...} line after this many tokens
    error_message: str = "an error was encountered while running the model: unexpected EOF"
    stall_after_tokens: int | None = None  # go silent after this many tokens (0: before any)
    stall_seconds: float = 3600.0
    reset_after_tokens: int | None = None  # TCP reset after this many tokens
    first_token_delay: float = 0.0  # seconds before the first token (a slow prompt eval)
    # /api/pull
    pull_error: str | None = None  # the pull fails with this reason
    pull_error_after_steps: int = 1  # ... after this many progress lines
    pull_error_times: int | None = None  # ... for only this many pulls (None: every pull)
    pull_status: int | None = None  # answer a pull with this HTTP status and {"error": ...}
    pull_step_seconds: float = 0.0  # a slow pull: the pause between progress lines
    pull_steps: int = 4  # progress lines for the model layer


@dataclass
class ModelEntry:
    name: str
    size: int = 637_700_138
    digest: str = "2af3b81862c6be03c769683af18efdadb2c33f60ff32ab6f83e42c043d6c7816"
    family: str = "llama"
    parameter_size: str = "1B"
    quantization_level: str = "Q4_0"
    modified_at: str = field(default_factory=_now)

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


@dataclass
class ChatRecord:
    """What the fake saw of one /api/chat (or generating /api/generate) request."""

    path: str
    body: dict[str, Any]
    stream: bool
    outcome: str = "running"  # running, completed, error, stalled, reset, cancelled, rejected
    tokens_sent: int = 0
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None


class _ClientGone(Exception):
    pass


class _Responder:
    """Writes one HTTP/1.1 response; a stream's headers go out with its first chunk."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.started = False
        self._head: bytes | None = None

    async def send(
        self, status: int, body: bytes, content_type: str = "application/json; charset=utf-8"
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Date: {_http_date()}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.started = True
        self.writer.write(head + body)
        await self.writer.drain()

    async def json(self, status: int, obj: Any) -> None:
        await self.send(status, json.dumps(obj).encode())

    @property
    def streaming(self) -> bool:
        """A streamed answer has begun (its headers may still wait for the first chunk)."""
        return self._head is not None or self.started

    def begin_stream(self, content_type: str = "application/x-ndjson") -> None:
        self._head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            f"Date: {_http_date()}\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()

    async def chunk(self, obj: dict[str, Any]) -> None:
        data = json.dumps(obj).encode() + b"\n"
        await self._send(b"%x\r\n%s\r\n" % (len(data), data))

    async def end(self) -> None:
        await self._send(b"0\r\n\r\n")

    async def _send(self, out: bytes) -> None:
        """Write ``out``, preceded by the held-back response head if nothing went out yet."""
        if self._head is not None:
            out = self._head + out
            self._head = None
            self.started = True
        self.writer.write(out)
        await self.writer.drain()

    def reset(self) -> None:
        """Abort with a TCP RST (SO_LINGER 0), as a crashed server would."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()


class _Reset(Exception):
    """Raised by a handler that has reset the connection."""


class FakeOllama:
    def __init__(
        self,
        models: tuple[str, ...] = ("tinyllama",),
        *,
        loaded: tuple[str, ...] | None = None,
        token_rate: float | None = None,
        reply_tokens: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.models: dict[str, ModelEntry] = {
            canonical(m): ModelEntry(canonical(m)) for m in models
        }
        # Loaded models and when they expire (None: never).
        self.loaded: dict[str, datetime | None] = {
            canonical(m): None for m in (models if loaded is None else loaded)
        }
        self.token_rate = token_rate  # tokens per second; None: as fast as possible
        self.reply_tokens = reply_tokens  # a reply of exactly this many tokens
        self.reply_text: str | None = None  # a fixed reply instead of the echo
        self.tool_calls: list[dict[str, Any]] | None = None  # answered when tools are offered
        self.embedding_length = EMBEDDING_LENGTH
        self.faults = Faults()
        self.chats: list[ChatRecord] = []
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.pulls: list[str] = []
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def serve(self) -> None:
        """Start listening in the running loop (port 0 picks a free port)."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    def start(self) -> FakeOllama:
        """Serve from a background thread with its own event loop."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.aclose())
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-ollama", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers for tests ----------------------------------------------------------------------

    def unload(self, name: str) -> None:
        self.loaded.pop(canonical(name), None)

    def remove(self, name: str) -> None:
        self.models.pop(canonical(name), None)
        self.unload(name)

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Poll until predicate() is true (for tests running in another loop)."""
        end = time.monotonic() + within
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError("the fake Ollama did not reach the expected state")
            await asyncio.sleep(0.01)

    # --- HTTP -----------------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: requests one after the other (no pipelining)."""
        self._connections.add(writer)
        carry = b""  # a byte of the next request, read while watching for a disconnect
        try:
            while True:
                try:
                    head = carry + await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                method, path, headers = _parse_head(head)
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                elif headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                else:
                    body = b""
                self.requests.append((method, path))
                keep, carry = await self._answer(reader, method, path, body, _Responder(writer))
                if not keep or headers.get("connection", "").lower() == "close":
                    return
        finally:
            self._connections.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(
        self, reader: asyncio.StreamReader, method: str, path: str, body: bytes, out: _Responder
    ) -> tuple[bool, bytes]:
        """Run the handler while watching the socket.

        Returns whether the connection goes on, and any byte of the next request that the
        watch read. An HTTP/1.1 client sends nothing while it waits for its answer, so
        end-of-file on the socket means it went away: the handler is cancelled, as Ollama
        cancels generation.
        """
        handler = asyncio.ensure_future(self._dispatch(method, path, body, out))
        watcher = asyncio.ensure_future(reader.read(1))
        await asyncio.wait((handler, watcher), return_when=asyncio.FIRST_COMPLETED)
        carry = b""
        if watcher.done():
            carry = watcher.result()
            if carry == b"":
                if not handler.done():
                    handler.cancel()
                await asyncio.gather(handler, return_exceptions=True)
                return False, b""
            # The client already sent the next request: finish this answer first.
            await asyncio.wait((handler,))
        else:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        try:
            handler.result()
        except (_Reset, ConnectionError):
            return False, b""
        except Exception:  # a bug in the fake: drop the connection rather than hang
            return False, b""
        return True, carry

    async def _dispatch(self, method: str, path: str, body: bytes, out: _Responder) -> None:
        path = path.split("?", 1)[0]
        routes: dict[tuple[str, str], Callable[[dict[str, Any], _Responder], Awaitable[None]]] = {
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/generate"): self._generate,
            ("POST", "/api/embed"): self._embed,
            ("POST", "/api/embeddings"): self._embeddings,
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/show"): self._show,
            ("POST", "/api/pull"): self._pull,
            ("GET", "/api/version"): self._version,
        }
        if path == "/" and method in ("GET", "HEAD"):
            await out.send(200, b"Ollama is running", "text/plain; charset=utf-8")
            return
        handler = routes.get((method, path))
        if handler is None:
            if any(p == path for _, p in routes):
                await out.send(405, b"405 method not allowed", "text/plain")
            else:
                await out.send(404, b"404 page not found", "text/plain")
            return
        data: dict[str, Any] = {}
        if method == "POST":
            try:
                parsed = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                await out.json(400, {"error": f"invalid character in JSON: {exc.msg}"})
                return
            if not isinstance(parsed, dict):
                await out.json(400, {"error": "json: cannot unmarshal array into Go value"})
                return
            data = parsed
        await handler(data, out)

    # --- routes ---------------------------------------------------------------------------------

    async def _version(self, _: dict[str, Any], out: _Responder) -> None:
        await out.json(200, {"version": VERSION})

    async def _tags(self, _: dict[str, Any], out: _Responder) -> None:
        models = [
            {
                "name": m.name,
                "model": m.name,
                "modified_at": m.modified_at,
                "size": m.size,
                "digest": m.digest,
                "details": m.details(),
            }
            for m in self.models.values()
        ]
        await out.json(200, {"models": models})

    async def _ps(self, _: dict[str, Any], out: _Responder) -> None:
        now = datetime.now(UTC)
        running = []
        for name, expires in list(self.loaded.items()):
            if expires is not None and expires <= now:
                del self.loaded[name]
                continue
            entry = self.models.get(name)
            if entry is None:
                continue
            running.append(
                {
                    "name": name,
                    "model": name,
                    "size": entry.size,
                    "digest": entry.digest,
                    "details": entry.details(),
                    "expires_at": (expires or now + timedelta(days=3650)).isoformat(),
                    "size_vram": 0,
                    "context_length": 2048,
                }
            )
        await out.json(200, {"models": running})

    async def _show(self, data: dict[str, Any], out: _Responder) -> None:
        entry = await self._model_or_404(data, out)
        if entry is None:
            return
        await out.json(
            200,
            {
                "modelfile": f"FROM {entry.name}\n",
                "parameters": 'stop "</s>"',
                "template": "{{ .Prompt }}",
                "details": entry.details(),
                "model_info": {
                    "general.architecture": entry.family,
                    "general.parameter_count": 1_100_048_384,
                },
                "capabilities": ["completion"],
                "modified_at": entry.modified_at,
            },
        )

    async def _pull(self, data: dict[str, Any], out: _Responder) -> None:
        name = data.get("model") or data.get("name")
        if not isinstance(name, str) or not name:
            await out.json(400, {"error": "model is required"})
            return
        self.pulls.append(name)
        f = self.faults
        stream = data.get("stream", True) is not False
        failing = f.pull_error_times is None or len(self.pulls) <= f.pull_error_times
        error = f.pull_error if failing else None
        if f.pull_status is not None and failing:
            await out.json(f.pull_status, {"error": error or "internal server error"})
            return
        entry = ModelEntry(canonical(name))
        layer = entry.digest[:12]
        steps: list[dict[str, Any]] = [{"status": "pulling manifest"}]
        for i in range(1, f.pull_steps + 1):
            steps.append(
                {
                    "status": f"pulling {layer}",
                    "digest": f"sha256:{entry.digest}",
                    "total": entry.size,
                    "completed": entry.size * i // f.pull_steps,
                }
            )
        steps += [
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]
        if not stream:
            await asyncio.sleep(f.pull_step_seconds * len(steps))
            if error is not None:
                await out.json(500, {"error": error})
                return
            self.models[entry.name] = entry
            await out.json(200, {"status": "success"})
            return
        out.begin_stream()
        for index, step in enumerate(steps):
            if error is not None and index >= f.pull_error_after_steps:
                await out.chunk({"error": error})
                await out.end()
                return
            await out.chunk(step)
            if f.pull_step_seconds and step["status"] != "success":
                await asyncio.sleep(f.pull_step_seconds)
        self.models[entry.name] = entry
        await out.end()

    async def _generate(self, data: dict[str, Any], out: _Responder) -> None:
        entry = await self._model_or_404(data, out)
        if entry is None:
            return
        prompt = data.get("prompt")
        if not prompt:
            # Ollama's way to load (or, with keep_alive 0, unload) a model.
            unload = _is_zero(data.get("keep_alive"))
            self._keep(entry.name, data.get("keep_alive"))
            body = {
                "model": data["model"],
                "created_at": _now(),
                "response": "",
                "done": True,
                "done_reason": "unload" if unload else "load",
            }
            # One JSON object whatever "stream" says, as Ollama answers these.
            await out.json(200, body)
            return
        messages = [{"role": "user", "content": str(prompt)}]
        await self._produce("/api/generate", data, messages, entry, out)

    async def _embed(self, data: dict[str, Any], out: _Responder) -> None:
        entry = await self._model_or_404(data, out)
        if entry is None:
            return
        raw = data.get("input", "")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            await out.json(400, {"error": "invalid input type"})
            return
        if raw == "":
            texts = []  # a request without input only loads the model
        dimensions = data.get("dimensions")
        if dimensions is not None and (
            not isinstance(dimensions, int) or not 0 < dimensions <= self.embedding_length
        ):
            await out.json(
                400, {"error": f"dimensions must be between 1 and {self.embedding_length}"}
            )
            return

        async def answer() -> dict[str, Any]:
            vectors = [
                _normalized(_bag_of_words(t, self.embedding_length)[:dimensions]) for t in texts
            ]
            return {
                "model": data["model"],
                "embeddings": vectors,
                "prompt_eval_count": sum(len(_WORD.findall(t)) for t in texts),
            }

        await self._embedding_request("/api/embed", data, entry, out, answer)

    async def _embeddings(self, data: dict[str, Any], out: _Responder) -> None:
        """The older route: one prompt, the vector not normalized."""
        entry = await self._model_or_404(data, out)
        if entry is None:
            return
        prompt = data.get("prompt", "")
        if not isinstance(prompt, str):
            await out.json(400, {"error": "prompt must be a string"})
            return

        async def answer() -> dict[str, Any]:
            return {"embedding": _bag_of_words(prompt, self.embedding_length) if prompt else []}

        await self._embedding_request("/api/embeddings", data, entry, out, answer)

    async def _embedding_request(
        self,
        path: str,
        data: dict[str, Any],
        entry: ModelEntry,
        out: _Responder,
        answer: Callable[[], Awaitable[dict[str, Any]]],
    ) -> None:
        """Records the request and applies the faults that fit a one-object answer."""
        f = self.faults
        record = ChatRecord(path=path, body=data, stream=False)
        self.chats.append(record)
        received = time.monotonic_ns()
        try:
            if f.status is not None:
                record.outcome = "rejected"
                await out.json(f.status, {"error": f.status_error})
                return
            self._keep(entry.name, data.get("keep_alive"))
            if f.first_token_delay:
                await asyncio.sleep(f.first_token_delay)
            if f.reset_after_tokens is not None:
                out.reset()
                record.outcome = "reset"
                raise _Reset
            body = await answer()
            if path == "/api/embed":
                body["total_duration"] = time.monotonic_ns() - received
                body["load_duration"] = 0
            await out.json(200, body)
            record.outcome = "completed"
        except (asyncio.CancelledError, ConnectionError):
            record.outcome = "cancelled"
            raise
        finally:
            record.ended = time.monotonic()

    async def _chat(self, data: dict[str, Any], out: _Responder) -> None:
        entry = await self._model_or_404(data, out)
        if entry is None:
            return
        messages = data.get("messages")
        if messages is None or messages == []:
            self._keep(entry.name, data.get("keep_alive"))
            body = {
                "model": data["model"],
                "created_at": _now(),
                "message": {"role": "assistant", "content": ""},
                "done_reason": "load",
                "done": True,
            }
            await out.json(200, body)
            return
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            await out.json(400, {"error": "messages must be a list of objects"})
            return
        await self._produce("/api/chat", data, messages, entry, out)

    async def _model_or_404(self, data: dict[str, Any], out: _Responder) -> ModelEntry | None:
        name = data.get("model") or data.get("name")
        if not isinstance(name, str) or not name:
            await out.json(400, {"error": "model is required"})
            return None
        entry = self.models.get(canonical(name))
        if entry is None:
            await out.json(404, {"error": f'model "{name}" not found, try pulling it first'})
        return entry

    def _keep(self, name: str, keep_alive: Any) -> None:
        if _is_zero(keep_alive):
            self.loaded.pop(name, None)
            return
        seconds = _seconds(keep_alive)
        self.loaded[name] = (
            None
            if seconds is None or seconds < 0
            else datetime.now(UTC) + timedelta(seconds=seconds)
        )

    def _reply(self, messages: list[dict[str, Any]]) -> list[str]:
        if self.reply_tokens is not None:
            words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
            return [(" " if i else "") + words[i % len(words)] for i in range(self.reply_tokens)]
        if self.reply_text is not None:
            return _WORD.findall(self.reply_text)
        last = next(
            (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), ""
        )
        return _WORD.findall(f"You said: {last}" if last else "Hello!")

    async def _produce(
        self,
        path: str,
        data: dict[str, Any],
        messages: list[dict[str, Any]],
        entry: ModelEntry,
        out: _Responder,
    ) -> None:
        f = self.faults
        stream = data.get("stream", True) is not False
        record = ChatRecord(path=path, body=data, stream=stream)
        self.chats.append(record)
        if f.status is not None:
            record.outcome = "rejected"
            await out.json(f.status, {"error": f.status_error})
            return
        received = time.monotonic_ns()
        was_loaded = entry.name in self.loaded
        self._keep(entry.name, data.get("keep_alive"))
        tokens = self._reply(messages)
        options = data.get("options") if isinstance(data.get("options"), dict) else {}
        limit = options.get("num_predict") if options else None
        done_reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(tokens):
            tokens = tokens[:limit]
            done_reason = "length"
        calls = self.tool_calls if (self.tool_calls and data.get("tools")) else None
        prompt_count = sum(len(_WORD.findall(str(m.get("content", "")))) for m in messages) + 8
        key = "message" if path == "/api/chat" else "response"

        def piece(text: str) -> Any:
            return {"role": "assistant", "content": text} if key == "message" else text

        try:
            if f.first_token_delay:
                await asyncio.sleep(f.first_token_delay)
            first_ns = time.monotonic_ns()
            if stream:
                out.begin_stream()
            rate = self.token_rate
            t0 = time.monotonic()
            for i, token in enumerate(tokens):
                await self._fault_point(i, record, out)
                if rate and i:
                    delay = t0 + i / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if stream:
                    await out.chunk(
                        {
                            "model": data["model"],
                            "created_at": _now(),
                            key: piece(token),
                            "done": False,
                        }
                    )
                record.tokens_sent = i + 1
            await self._fault_point(len(tokens), record, out)
            end_ns = time.monotonic_ns()
            final_message: Any = piece("" if stream else "".join(tokens))
            if calls and key == "message":
                final_message["tool_calls"] = calls
            final = {
                "model": data["model"],
                "created_at": _now(),
                key: final_message,
                "done": True,
                "done_reason": done_reason,
                "total_duration": end_ns - received,
                "load_duration": 0 if was_loaded else 1_250_000,
                "prompt_eval_count": prompt_count,
                "prompt_eval_duration": max(1, first_ns - received),
                "eval_count": len(tokens),
                "eval_duration": max(1, end_ns - first_ns),
            }
            if stream:
                await out.chunk(final)
                await out.end()
            else:
                await out.json(200, final)
            record.outcome = "completed"
        except asyncio.CancelledError:
            record.outcome = "cancelled"
            raise
        except _Reset:
            record.outcome = "reset"
            raise
        except _ErrorSent:
            return
        except ConnectionError:
            record.outcome = "cancelled"
            raise
        finally:
            record.ended = time.monotonic()

    async def _fault_point(self, sent: int, record: ChatRecord, out: _Responder) -> None:
        """Apply the faults due once `sent` tokens have gone out."""
        f = self.faults
        if f.reset_after_tokens is not None and sent >= f.reset_after_tokens:
            out.reset()
            raise _Reset
        if f.error_after_tokens is not None and sent >= f.error_after_tokens:
            record.outcome = "error"
            if out.streaming:
                await out.chunk({"error": f.error_message})
                await out.end()
            else:
                await out.json(500, {"error": f.error_message})
            raise _ErrorSent
        if f.stall_after_tokens is not None and sent >= f.stall_after_tokens:
            record.outcome = "stalled"
            await asyncio.sleep(f.stall_seconds)
            record.outcome = "running"
            f.stall_after_tokens = None


class _ErrorSent(Exception):
    pass


def _is_zero(keep_alive: Any) -> bool:
    return keep_alive in (0, "0", "0s", "0m")


def _seconds(keep_alive: Any) -> float | None:
    if keep_alive is None:
        return 300.0
    if isinstance(keep_alive, int | float):
        return float(keep_alive)
    text = str(keep_alive)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    match = re.fullmatch(r"(-?\d+(?:\.\d+)?)(ms|s|m|h)?", text)
    if not match:
        return 300.0
    return float(match.group(1)) * units.get(match.group(2) or "s", 1)


def _bag_of_words(text: str, length: int) -> list[float]:
    """length counts: each word (lowercased) adds one where its hash points."""
    vector = [0.0] * length
    for word in re.findall(r"\w+", text.lower()):
        vector[int.from_bytes(hashlib.sha256(word.encode()).digest()[:4], "big") % length] += 1
    return vector


def _normalized(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm else vector


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = b""
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return body
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _http_date() -> str:
    return datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


# --- as a process -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake Ollama for tests and benchmarks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", action="append", help="a model it has (repeatable)")
    parser.add_argument("--token-rate", type=float, default=None, help="tokens per second")
    parser.add_argument("--reply-tokens", type=int, default=None, help="tokens per reply")
    parser.add_argument(
        "--embedding-length", type=int, default=EMBEDDING_LENGTH, help="numbers per embedding"
    )
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    args = parser.parse_args(argv)

    async def run() -> None:
        fake = FakeOllama(
            tuple(args.model or ["tinyllama"]),
            token_rate=args.token_rate,
            reply_tokens=args.reply_tokens,
            host=args.host,
            port=args.port,
        )
        fake.embedding_length = args.embedding_length
        await fake.serve()
        print(f"FAKE_OLLAMA_URL={fake.url}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await fake.aclose()

    if args.uvloop:
        import uvloop

        uvloop.run(run())
    else:
        asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
