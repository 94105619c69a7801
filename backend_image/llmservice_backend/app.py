"""The FastAPI application: routes, error rendering, start-up and shutdown."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, disable_created_metrics, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from . import openai_compat
from .chat import ChatService
from .draining import Drain
from .embeddings import EmbeddingService
from .errors import ApiError
from .generate import GenerateService
from .limiter import ConcurrencyLimiter
from .metrics import Metrics
from .middleware import BodyLimitMiddleware, MetricsMiddleware, MetricsPortMiddleware, dialect_for
from .model_manager import ModelManager
from .relay import CLIENT_GONE_STATUS, Relay
from .settings import Settings
from .upstream import Upstream
from .validation import OllamaShowRequest, parse_json_object, validate

log = logging.getLogger("llmservice_backend")

STATIC_DIR = Path(__file__).parent / "static"
_HEALTHY = b'{"status":"ok"}'
_LIST_TIMEOUT = 10.0


class Backend:
    """Everything one app instance owns; kept on app.state.backend for tests and tools."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.AsyncBaseTransport | None,
        on_model_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.drain = Drain()
        self.upstream = Upstream(settings, transport, self.drain)
        self.limiter = ConcurrencyLimiter(
            settings.max_concurrent_requests,
            settings.max_queued_requests,
            settings.queue_timeout_seconds,
            self.metrics,
        )
        self.relay = Relay(settings, self.upstream, self.limiter, self.metrics)
        self.chat = ChatService(self.relay)
        self.generate = GenerateService(self.relay)
        self.embeddings = EmbeddingService(self.relay)
        self.models = ModelManager(settings, self.upstream, self.metrics, on_model_failure)
        self._key = settings.api_key.encode() if settings.api_key else None

    def begin_shutdown(self) -> None:
        """The server stops (SIGTERM): see draining.py. Called in the event loop."""
        log.info(
            "shutting down: queued chats are answered 503; running ones have %g s",
            self.settings.shutdown_grace_seconds,
        )
        self.limiter.close()
        self.drain.begin(self.settings.shutdown_grace_seconds)

    def authorize(self, request: Request) -> None:
        """Bearer API key check, in constant time; a no-op when no key is configured."""
        if self._key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self._key):
            raise ApiError(
                401,
                "missing or wrong API key: send the header 'Authorization: Bearer <key>'",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )


class _StaticFolder:
    """/static/* from the page folder, and a 404 (not a 500) while the folder does not exist."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = StaticFiles(directory=directory, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.directory.is_dir():
            raise StarletteHTTPException(404, "no static files are installed")
        await self.files(scope, receive, send)


def create_app(
    settings: Settings,
    *,
    static_dir: Path | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    manage_model: bool = True,
    on_model_failure: Callable[[str], None] | None = None,
) -> FastAPI:
    """Build the app. manage_model=False skips the start-up pull and warm (for tests).

    on_model_failure is called with Ollama's reason when the model pull fails for good.
    """
    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series are noise
    backend = Backend(settings, transport, on_model_failure)
    static = static_dir if static_dir is not None else STATIC_DIR

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_model:
            backend.models.start()
        try:
            yield
        finally:
            await backend.models.stop()
            await backend.upstream.aclose()

    app = FastAPI(
        title="llmservice backend",
        summary="Ollama's chat API and an OpenAI-compatible API in front of one Ollama.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.backend = backend

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return JSONResponse(
            exc.body(dialect_for(request.url.path)), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            message = f"not found: {request.url.path}"
        elif exc.status_code == 405:
            message = f"method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        err = ApiError(exc.status_code, message, headers=dict(exc.headers or {}))
        return JSONResponse(
            err.body(dialect_for(request.url.path)), status_code=err.status, headers=err.headers
        )

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client left (or was dropped as too slow) before its body arrived: nobody to
        # answer, nothing to log beyond the access line.
        backend.metrics.client_disconnects.inc()
        return Response(status_code=CLIENT_GONE_STATUS)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        err = ApiError(500, f"internal error: {type(exc).__name__}", code="internal_error")
        return JSONResponse(err.body(dialect_for(request.url.path)), status_code=500)

    # --- the chat APIs --------------------------------------------------------------------------

    # The three hot routes are plain Starlette routes: FastAPI's per-request dependency
    # machinery costs about 0.07 ms (measured) and these take no declared parameters anyway.

    async def ollama_chat(request: Request) -> Response:
        """Ollama's chat API: NDJSON stream by default, one object with stream=false."""
        backend.authorize(request)
        return await backend.chat.ollama_chat(request)

    app.add_route("/api/chat", ollama_chat, methods=["POST"])

    @app.get("/api/tags", tags=["ollama"])
    async def ollama_tags(request: Request) -> Response:
        """The models in Ollama, as Ollama lists them (read-only pass-through)."""
        backend.authorize(request)
        return JSONResponse(await backend.upstream.get_json("/api/tags", _LIST_TIMEOUT))

    @app.get("/api/version", tags=["ollama"])
    async def ollama_version(request: Request) -> Response:
        backend.authorize(request)
        return JSONResponse(await backend.upstream.get_json("/api/version", _LIST_TIMEOUT))

    @app.get("/api/ps", tags=["ollama"])
    async def ollama_ps(request: Request) -> Response:
        """The models Ollama has in memory, as Ollama lists them (read-only pass-through)."""
        backend.authorize(request)
        return JSONResponse(await backend.upstream.get_json("/api/ps", _LIST_TIMEOUT))

    @app.post("/api/show", tags=["ollama"])
    async def ollama_show(request: Request) -> Response:
        """A model's details, template and parameters; the model defaults to this service's."""
        backend.authorize(request)
        data = parse_json_object(await request.body(), settings.max_json_depth)
        req = validate(OllamaShowRequest, data)
        if req.model is None and req.name is None:
            data["model"] = settings.model_name
        return JSONResponse(await backend.upstream.post_json("/api/show", data, _LIST_TIMEOUT))

    # Generation and embeddings run the model: they go through the Relay like the chats.

    async def ollama_generate(request: Request) -> Response:
        """Ollama's generate API: NDJSON stream by default, one object with stream=false."""
        backend.authorize(request)
        return await backend.generate.ollama_generate(request)

    app.add_route("/api/generate", ollama_generate, methods=["POST"])

    async def ollama_embed(request: Request) -> Response:
        backend.authorize(request)
        return await backend.embeddings.ollama_embed(request)

    app.add_route("/api/embed", ollama_embed, methods=["POST"])

    async def ollama_embeddings(request: Request) -> Response:
        backend.authorize(request)
        return await backend.embeddings.ollama_embeddings(request)

    app.add_route("/api/embeddings", ollama_embeddings, methods=["POST"])

    async def openai_chat(request: Request) -> Response:
        """OpenAI's chat completions: SSE stream ending in [DONE] with stream=true."""
        backend.authorize(request)
        return await backend.chat.openai_chat(request)

    app.add_route("/v1/chat/completions", openai_chat, methods=["POST"])

    async def openai_completions(request: Request) -> Response:
        """OpenAI's legacy text completions: SSE stream ending in [DONE] with stream=true."""
        backend.authorize(request)
        return await backend.generate.openai_completions(request)

    app.add_route("/v1/completions", openai_completions, methods=["POST"])

    async def openai_embeddings(request: Request) -> Response:
        backend.authorize(request)
        return await backend.embeddings.openai_embeddings(request)

    app.add_route("/v1/embeddings", openai_embeddings, methods=["POST"])

    @app.get("/v1/models", tags=["openai"])
    async def openai_models(request: Request) -> Response:
        backend.authorize(request)
        tags = await backend.upstream.get_json("/api/tags", _LIST_TIMEOUT)
        return JSONResponse(openai_compat.models_list(tags))

    @app.get("/v1/models/{model:path}", tags=["openai"])
    async def openai_model(request: Request, model: str) -> Response:
        backend.authorize(request)
        tags = await backend.upstream.get_json("/api/tags", _LIST_TIMEOUT)
        for entry in openai_compat.models_list(tags)["data"]:
            if entry["id"] == model or entry["id"] == f"{model}:latest":
                return JSONResponse(entry)
        raise ApiError(404, f"model {model!r} not found", param="model", code="model_not_found")

    # --- health, metrics, page ------------------------------------------------------------------

    async def healthz(request: Request) -> Response:
        """The process is alive and serving; never calls Ollama."""
        return Response(_HEALTHY, media_type="application/json")

    app.add_route("/healthz", healthz, methods=["GET"])

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        """Start-up pull and warm-up done, Ollama answers, the model present (cached briefly).

        The body's "loaded" says whether the model is in memory now; an idle model Ollama
        unloaded (keep_alive) does not make the pod unready.
        """
        result = await backend.models.readiness()
        return JSONResponse(result.body, status_code=200 if result.ready else 503)

    def metrics(request: Request) -> Response:
        return Response(generate_latest(backend.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    if settings.metrics_port == 0:
        # Otherwise /metrics is answered only on METRICS_PORT (MetricsPortMiddleware).
        app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)

    @app.get("/", include_in_schema=False)
    async def page() -> Response:
        index = static / "index.html"
        if not index.is_file():
            raise ApiError(404, "the chat page is not installed in this image", code="no_page")
        return FileResponse(index, media_type="text/html", headers=_PAGE_HEADERS)

    app.mount("/static", _StaticFolder(static), name="static")

    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=backend.metrics)
    if settings.metrics_port:
        app.add_middleware(
            MetricsPortMiddleware, port=settings.metrics_port, registry=backend.metrics.registry
        )
    return app


_PAGE_HEADERS: dict[str, Any] = {
    "cache-control": "no-cache",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
