"""The ``loadtest`` options and the checked :class:`Config` they become.

The bounds are what keeps a run finite, so every option is checked here, once, and the
rest of the package can trust a :class:`Config`.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from llmservice_operator.tools.loadtest.prompts import BUILTIN_PROMPTS, read_prompts
from llmservice_operator.tools.loadtest.records import Api, StreamMode, UsageError

DEFAULT_DURATION_SECONDS = 60.0
MAX_DURATION_SECONDS = 24 * 3600.0
MAX_REQUESTS = 1_000_000
MAX_USERS = 10_000
DEFAULT_USERS = 10
DEFAULT_TIMEOUT_SECONDS = 300.0
DEFAULT_HEALTH_INTERVAL_SECONDS = 5.0
DEFAULT_MODEL = "tinyllama"
API_KEY_ENV = "LLMSERVICE_API_KEY"


@dataclass(frozen=True)
class Config:
    url: str
    api: Api = "openai"
    users: int = DEFAULT_USERS
    stream: StreamMode = "on"
    duration: float = DEFAULT_DURATION_SECONDS
    requests: int | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    health_interval: float = DEFAULT_HEALTH_INTERVAL_SECONDS
    prompts: tuple[str, ...] = BUILTIN_PROMPTS
    model: str = DEFAULT_MODEL
    api_key: str | None = None
    turns: int = 1
    max_tokens: int | None = None
    think_time: float = 0.0


def normalize_url(url: str) -> str:
    """The base URL without a trailing slash; only http(s) URLs with a host."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"URL: {url!r} is not an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise UsageError(f"URL: {url!r} must not have a query or fragment")
    return url.rstrip("/")


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Config:
    """Check every option against its bounds; the bounds are what keeps a run finite."""
    env = os.environ if environ is None else environ
    if not 1 <= args.users <= MAX_USERS:
        raise UsageError(f"--users: must be between 1 and {MAX_USERS}, not {args.users}")
    if args.duration is not None and not 0 < args.duration <= MAX_DURATION_SECONDS:
        raise UsageError(
            f"--duration: must be more than 0 and at most {MAX_DURATION_SECONDS:g} seconds, "
            f"not {args.duration:g}"
        )
    if args.requests is not None and not 1 <= args.requests <= MAX_REQUESTS:
        raise UsageError(f"--requests: must be between 1 and {MAX_REQUESTS}, not {args.requests}")
    if not args.timeout > 0:
        raise UsageError(f"--timeout: must be more than 0 seconds, not {args.timeout:g}")
    if args.health_interval < 0:
        raise UsageError(
            f"--health-interval: must be 0 (off) or more, not {args.health_interval:g}"
        )
    if args.turns < 1:
        raise UsageError(f"--turns: must be 1 or more, not {args.turns}")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError(f"--max-tokens: must be 1 or more, not {args.max_tokens}")
    if args.think_time < 0:
        raise UsageError(f"--think-time: must be 0 or more, not {args.think_time:g}")
    if not args.model.strip():
        raise UsageError("--model: must not be empty")
    if args.duration is not None:
        duration = float(args.duration)
    elif args.requests is not None:
        duration = MAX_DURATION_SECONDS  # the count ends it; the hard cap still holds
    else:
        duration = DEFAULT_DURATION_SECONDS
    return Config(
        url=normalize_url(args.url),
        api=args.api,
        users=args.users,
        stream=args.stream,
        duration=duration,
        requests=args.requests,
        timeout=float(args.timeout),
        health_interval=float(args.health_interval),
        prompts=read_prompts(args.prompts) if args.prompts else BUILTIN_PROMPTS,
        model=args.model,
        api_key=args.api_key or env.get(API_KEY_ENV) or None,
        turns=args.turns,
        max_tokens=args.max_tokens,
        think_time=float(args.think_time),
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``loadtest`` options (cli.py builds the subparser and calls this)."""
    parser.add_argument("url", metavar="URL", help="base URL of the backend or its Service")
    parser.add_argument(
        "--api",
        choices=["openai", "ollama"],
        default="openai",
        help="chat through /v1/chat/completions (openai, default) or /api/chat (ollama)",
    )
    parser.add_argument(
        "-u",
        "--users",
        type=int,
        default=DEFAULT_USERS,
        help="concurrent simulated users (default: %(default)s)",
    )
    streaming = parser.add_mutually_exclusive_group()
    streaming.add_argument(
        "--stream",
        dest="stream",
        action="store_const",
        const="on",
        help="stream every reply (the default)",
    )
    streaming.add_argument(
        "--no-stream", dest="stream", action="store_const", const="off", help="never stream"
    )
    streaming.add_argument(
        "--stream-mix",
        dest="stream",
        action="store_const",
        const="mix",
        help="stream every other request",
    )
    parser.set_defaults(stream="on")
    parser.add_argument(
        "-d",
        "--duration",
        type=float,
        default=None,
        help=(
            f"seconds to run; in-flight chats are cancelled at the end (default "
            f"{DEFAULT_DURATION_SECONDS:g} when --requests is not given either; at most "
            f"{MAX_DURATION_SECONDS:g})"
        ),
    )
    parser.add_argument(
        "-r",
        "--requests",
        type=int,
        default=None,
        help=f"chat requests to send in total, then stop (at most {MAX_REQUESTS})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds one chat may take before it counts as a timeout (default: %(default)s)",
    )
    parser.add_argument(
        "--health-interval",
        type=float,
        default=DEFAULT_HEALTH_INTERVAL_SECONDS,
        help="seconds between /healthz checks; 0 turns them off (default: %(default)s)",
    )
    parser.add_argument(
        "--prompts", metavar="FILE", help="prompts, one per line (default: a built-in set)"
    )
    parser.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="model name sent with each chat (default: %(default)s)",
    )
    parser.add_argument(
        "--api-key",
        default=None,
        help=f"sent as 'Authorization: Bearer KEY' (default: ${API_KEY_ENV})",
    )
    parser.add_argument(
        "--turns",
        type=int,
        default=1,
        help="exchanges per conversation before a new one (default: %(default)s)",
    )
    parser.add_argument("--max-tokens", type=int, default=None, help="cap on each reply")
    parser.add_argument(
        "--think-time", type=float, default=0.0, help="seconds a user waits between chats"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show the live progress line even when stderr is not a terminal",
    )
