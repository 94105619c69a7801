"""``llmservice-operator loadtest URL``: simulated users chatting with an LLMService.

The seeds' figures ("39 requests, 11 chats, 17 health checks, 10+ concurrent users,
0 % failures") came from a throw-away script; this command measures the same things
repeatably, through the backend's own APIs, and says how each number was obtained.

How it works: ``--users`` asyncio tasks each hold a conversation (``--turns`` exchanges,
then a new one) through the OpenAI-compatible API or Ollama's, streaming or not, while one
more task checks ``/healthz`` every ``--health-interval`` seconds. The run ends when the
chat budget (``--requests``) is spent, when ``--duration`` has passed, or on Ctrl-C;
whichever comes first. A run always ends by itself: without either bound it lasts
:data:`DEFAULT_DURATION_SECONDS`, and neither bound may exceed :data:`MAX_DURATION_SECONDS`
or :data:`MAX_REQUESTS`. At the time bound, chats still in flight are cancelled and counted
as *unfinished*, never as failures and never in the latencies.

Everything measured is kept as one record per request; the statistics are pure functions of
those records (:func:`summarize`), so what is printed can be tested without a server.

The parts, each with one job: :mod:`.records` (what is measured), :mod:`.prompts`,
:mod:`.config` (options and their bounds), :mod:`.protocols` (the two chat APIs on the
wire), :mod:`.runner` (the asyncio run), :mod:`.stats` (figures from records),
:mod:`.output` (figures for people) and :mod:`.command` (the subcommand). This module only
gathers the names cli.py and the tests use; httpx is imported when a run starts, so
importing it stays light.
"""

from llmservice_operator.tools.loadtest.command import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    exit_code,
    main,
)
from llmservice_operator.tools.loadtest.config import (
    API_KEY_ENV,
    DEFAULT_DURATION_SECONDS,
    DEFAULT_HEALTH_INTERVAL_SECONDS,
    DEFAULT_MODEL,
    DEFAULT_TIMEOUT_SECONDS,
    DEFAULT_USERS,
    MAX_DURATION_SECONDS,
    MAX_REQUESTS,
    MAX_USERS,
    Config,
    add_arguments,
    config_from_args,
    normalize_url,
)
from llmservice_operator.tools.loadtest.output import (
    format_rate,
    format_seconds,
    progress_line,
    render_json,
    render_text,
)
from llmservice_operator.tools.loadtest.prompts import BUILTIN_PROMPTS, read_prompts
from llmservice_operator.tools.loadtest.protocols import (
    CHAT_PATHS,
    HEALTH_PATH,
    StreamState,
    chat_body,
    feed_ollama_line,
    feed_openai_line,
    parse_unary,
    stream_result,
)
from llmservice_operator.tools.loadtest.records import (
    BAD_RESPONSE,
    CONNECTION,
    MID_STREAM,
    TIMEOUT,
    Api,
    ChatResult,
    HealthResult,
    StopReason,
    StreamMode,
    UsageError,
    http_cause,
)
from llmservice_operator.tools.loadtest.runner import (
    CONNECT_TIMEOUT_SECONDS,
    PROGRESS_INTERVAL_SECONDS,
    Runner,
    run,
)
from llmservice_operator.tools.loadtest.stats import (
    Distribution,
    Summary,
    distribution,
    failures_by_cause,
    percentile,
    stream_rate,
    summarize,
)

__all__ = [
    "API_KEY_ENV",
    "BAD_RESPONSE",
    "BUILTIN_PROMPTS",
    "CHAT_PATHS",
    "CONNECTION",
    "CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_DURATION_SECONDS",
    "DEFAULT_HEALTH_INTERVAL_SECONDS",
    "DEFAULT_MODEL",
    "DEFAULT_TIMEOUT_SECONDS",
    "DEFAULT_USERS",
    "EXIT_FAILURES",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "HEALTH_PATH",
    "MAX_DURATION_SECONDS",
    "MAX_REQUESTS",
    "MAX_USERS",
    "MID_STREAM",
    "PROGRESS_INTERVAL_SECONDS",
    "TIMEOUT",
    "Api",
    "ChatResult",
    "Config",
    "Distribution",
    "HealthResult",
    "Runner",
    "StopReason",
    "StreamMode",
    "StreamState",
    "Summary",
    "UsageError",
    "add_arguments",
    "chat_body",
    "config_from_args",
    "distribution",
    "exit_code",
    "failures_by_cause",
    "feed_ollama_line",
    "feed_openai_line",
    "format_rate",
    "format_seconds",
    "http_cause",
    "main",
    "normalize_url",
    "parse_unary",
    "percentile",
    "progress_line",
    "read_prompts",
    "render_json",
    "render_text",
    "run",
    "stream_rate",
    "stream_result",
    "summarize",
]
