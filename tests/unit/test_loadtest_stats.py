"""The load test's pure parts: percentiles, summaries, the wire parsers and option checks."""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from llmservice_backend import openai_compat
from llmservice_backend.errors import ApiError
from llmservice_operator.tools import loadtest
from llmservice_operator.tools.loadtest import (
    ChatResult,
    Config,
    HealthResult,
    StreamState,
    UsageError,
)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


# --- percentiles ------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    data = [4.0, 1.0, 3.0, 2.0]  # unsorted on purpose
    assert loadtest.percentile(data, 0) == 1.0
    assert loadtest.percentile(data, 50) == 2.5
    assert loadtest.percentile(data, 95) == pytest.approx(3.85)
    assert loadtest.percentile(data, 100) == 4.0


def test_percentile_of_nothing_and_of_one_value() -> None:
    assert loadtest.percentile([], 50) is None
    assert loadtest.percentile([7.0], 99) == 7.0


@pytest.mark.parametrize("p", [-1, 100.5, math.nan])
def test_percentile_rejects_a_rank_outside_0_to_100(p: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        loadtest.percentile([1.0], p)


@given(st.lists(finite, min_size=2, max_size=60), st.integers(min_value=1, max_value=99))
def test_percentile_agrees_with_statistics_quantiles_inclusive(data: list[float], p: int) -> None:
    expected = statistics.quantiles(data, n=100, method="inclusive")[p - 1]
    assert loadtest.percentile(data, p) == pytest.approx(expected, rel=1e-9, abs=1e-6)


@given(st.lists(finite, min_size=1, max_size=40), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotonic_and_bounded(data: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    pa, pb = loadtest.percentile(data, low), loadtest.percentile(data, high)
    assert pa is not None
    assert pb is not None
    assert min(data) - 1e-9 <= pa <= pb + 1e-9 <= max(data) + 2e-9


def test_distribution() -> None:
    d = loadtest.distribution([0.1, 0.2, 0.3, 0.4, 1.0])
    assert d.count == 5
    assert d.mean == pytest.approx(0.4)
    assert (d.min, d.p50, d.max) == (0.1, 0.3, 1.0)
    assert d.p95 == pytest.approx(0.4 + 0.6 * 0.8)
    assert loadtest.distribution([]).to_json() == {
        "count": 0,
        "mean": None,
        "min": None,
        "p50": None,
        "p95": None,
        "p99": None,
        "max": None,
    }


def test_stream_rate_counts_the_tokens_after_the_first() -> None:
    # 11 tokens, one every 50 ms: the last arrives 0.5 s after the first.
    assert loadtest.stream_rate(11, 0.5) == pytest.approx(20.0)
    assert loadtest.stream_rate(1, 0.5) is None
    assert loadtest.stream_rate(5, 0.0) is None
    assert loadtest.stream_rate(5, None) is None


def test_failures_by_cause_most_frequent_first() -> None:
    causes = ["timeout", None, "HTTP 502", "HTTP 502", "connection error", None, "timeout"]
    counted = loadtest.failures_by_cause(causes)
    assert list(counted.items()) == [("HTTP 502", 2), ("timeout", 2), ("connection error", 1)]


# --- summaries --------------------------------------------------------------------------

CONFIG = Config(url="http://127.0.0.1:9", users=3, stream="mix", requests=6)


def _records() -> tuple[list[ChatResult], list[HealthResult]]:
    chats = [
        ChatResult(0.0, 1.0, True, ttft=0.1, tokens=11, decode_seconds=0.5),
        ChatResult(0.1, 2.0, False, tokens=20),
        ChatResult(0.2, 3.0, True, ttft=0.3, tokens=5, decode_seconds=0.4),
        ChatResult(0.3, 9.0, True, "timeout", "no complete answer within 9 s", tokens=2),
        ChatResult(0.4, 0.01, False, "HTTP 502", "Ollama failed: boom"),
    ]
    health = [
        HealthResult(0.0, 0.004),
        HealthResult(1.0, 0.006),
        HealthResult(2.0, 0.5, "connection error", "ConnectError: refused"),
    ]
    return chats, health


def test_summary_counts_and_figures_from_successful_requests_only() -> None:
    chats, health = _records()
    s = loadtest.summarize(CONFIG, chats, health, elapsed=4.0, unfinished=1, stopped_by="duration")
    assert (s.chats_sent, s.chats_ok, s.chats_failed, s.chats_unfinished) == (6, 3, 2, 1)
    assert (s.health_sent, s.health_ok, s.health_failed) == (3, 2, 1)
    assert s.requests_total == 9
    assert s.failures == {"HTTP 502": 1, "timeout": 1}
    assert s.health_failures == {"connection error": 1}
    assert s.examples["HTTP 502"] == "Ollama failed: boom"
    # latency over the three successes: 1, 2, 3
    assert (s.latency.count, s.latency.p50, s.latency.max) == (3, 2.0, 3.0)
    # time to first token over the two successful streams only
    assert (s.ttft.count, s.ttft.min, s.ttft.max) == (2, 0.1, 0.3)
    # per-stream rates: 10/0.5 = 20 and 4/0.4 = 10
    assert s.stream_rate.count == 2
    assert s.stream_rate.p50 == pytest.approx(15.0)
    # total: the successful chats' 36 tokens over 4 s (the timed-out stream's 2 excluded)
    assert s.tokens == 36
    assert s.tokens_per_second == pytest.approx(9.0)
    assert s.health_latency.count == 2
    assert s.health_latency.p50 == pytest.approx(0.005)
    assert loadtest.exit_code(s) == loadtest.EXIT_FAILURES


def test_summary_json_is_json_and_names_every_figure() -> None:
    chats, health = _records()
    s = loadtest.summarize(CONFIG, chats, health, elapsed=4.0, unfinished=0, stopped_by="interrupt")
    data = json.loads(json.dumps(s.to_json()))
    assert data["interrupted"] is True
    assert data["requests"]["chats"] == {"sent": 5, "succeeded": 3, "failed": 2, "unfinished": 0}
    assert data["requests"]["health_checks"]["sent"] == 3
    assert data["requests"]["total"] == 8
    assert data["latency_seconds"]["p99"] == pytest.approx(2.98)
    assert data["tokens"]["per_second_total"] == pytest.approx(9.0)
    assert loadtest.exit_code(s) == loadtest.EXIT_INTERRUPTED


def test_text_table_shows_the_counts_causes_and_percentiles() -> None:
    chats, health = _records()
    s = loadtest.summarize(CONFIG, chats, health, elapsed=4.0, unfinished=1, stopped_by="duration")
    text = loadtest.render_text(s)
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["chats"][1:] == ["6", "3", "2", "1"]
    assert rows["total"][1:] == ["9", "5", "3", "1"]
    assert "chat: HTTP 502" in text
    assert "health check: connection error" in text
    assert "2.00 s" in text  # the latency p50
    assert "tokens/s total: 9.0 (36 completion tokens in 4.0 s)" in text


def test_a_clean_run_exits_zero_and_says_no_failures() -> None:
    chats = [ChatResult(0.0, 1.0, True, ttft=0.1, tokens=3, decode_seconds=0.1)]
    s = loadtest.summarize(CONFIG, chats, [], elapsed=1.0, unfinished=0, stopped_by="requests")
    assert loadtest.exit_code(s) == loadtest.EXIT_OK
    assert "failures: none" in loadtest.render_text(s)


def test_progress_line() -> None:
    chats, health = _records()
    line = loadtest.progress_line(4.0, chats, health, in_flight=2)
    assert "chats 3 ok, 2 failed, 2 in flight" in line
    assert "9.0 tok/s" in line
    assert "health 2/3 ok" in line


# --- the wire parsers -------------------------------------------------------------------


def _ollama_objects(words: list[str]) -> list[dict[str, object]]:
    objs: list[dict[str, object]] = [
        {"model": "m", "message": {"role": "assistant", "content": w}, "done": False} for w in words
    ]
    objs.append(
        {
            "model": "m",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "prompt_eval_count": 7,
            "eval_count": len(words),
        }
    )
    return objs


def _sse_lines(data: bytes) -> list[str]:
    return data.decode().split("\n")


def test_openai_stream_as_the_backend_writes_it() -> None:
    translator = openai_compat.ChunkTranslator("m", include_usage=True)
    wire = b"".join(translator.translate(o) for o in _ollama_objects(["Hel", "lo", "!"]))
    state = StreamState()
    for i, line in enumerate(_sse_lines(wire)):
        loadtest.feed_openai_line(state, line, float(i))
    assert state.done
    assert state.error is None
    assert state.text == "Hello!"
    assert state.usage_tokens == 3
    assert state.tokens == 3
    assert len(state.token_times) == 3  # the role-only and finish events carry no token


def test_openai_stream_without_usage_counts_content_events() -> None:
    translator = openai_compat.ChunkTranslator("m", include_usage=False)
    wire = b"".join(translator.translate(o) for o in _ollama_objects(["a", " b"]))
    state = StreamState()
    for line in _sse_lines(wire):
        loadtest.feed_openai_line(state, line, 0.0)
    assert state.done
    assert state.usage_tokens is None
    assert state.tokens == 2


def test_openai_error_event_mid_stream() -> None:
    translator = openai_compat.ChunkTranslator("m", include_usage=True)
    wire = translator.translate(_ollama_objects(["a"])[0])
    wire += openai_compat.error_event(ApiError(502, "Ollama failed mid-reply: EOF"))
    state = StreamState()
    for line in _sse_lines(wire):
        loadtest.feed_openai_line(state, line, 0.0)
    assert state.error == "Ollama failed mid-reply: EOF"
    assert not state.done


def test_ollama_stream_and_its_error_line() -> None:
    state = StreamState()
    for i, obj in enumerate(_ollama_objects(["x", "y"])):
        loadtest.feed_ollama_line(state, json.dumps(obj), float(i))
    assert state.done
    assert state.tokens == 2
    assert state.token_times == [0.0, 1.0]
    broken = StreamState()
    loadtest.feed_ollama_line(broken, json.dumps(_ollama_objects(["x"])[0]), 0.0)
    loadtest.feed_ollama_line(broken, '{"error": "unexpected EOF"}', 1.0)
    assert broken.error == "unexpected EOF"
    assert not broken.done


def test_a_complete_stream_gives_its_first_token_and_decode_span() -> None:
    state = StreamState()
    for t, obj in zip([1.5, 2.0, 3.5], _ollama_objects(["x", "y"]), strict=True):
        loadtest.feed_ollama_line(state, json.dumps(obj), t)
    result, text = loadtest.stream_result("ollama", state, started=1.0, ended=4.0)
    assert result.ok
    assert result.stream
    assert (result.latency, result.ttft, result.decode_seconds) == (3.0, 0.5, 0.5)
    assert (result.tokens, text) == (2, "xy")


@pytest.mark.parametrize(
    ("api", "end"), [("openai", "before [DONE]"), ("ollama", "before the final done object")]
)
def test_a_stream_cut_short_is_a_mid_stream_failure_that_keeps_its_tokens(
    api: loadtest.Api, end: str
) -> None:
    state = StreamState(token_times=[0.2, 0.3])
    result, text = loadtest.stream_result(api, state, started=0.0, ended=1.0)
    assert (result.failure, result.tokens, result.latency, text) == (
        loadtest.MID_STREAM,
        2,
        1.0,
        "",
    )
    assert end in result.detail


def test_a_stream_that_reported_an_error_fails_with_that_error() -> None:
    state = StreamState(error="unexpected EOF", done=True)
    result, _ = loadtest.stream_result("openai", state, started=0.0, ended=1.0)
    assert (result.failure, result.detail) == (loadtest.MID_STREAM, "unexpected EOF")


def test_a_line_that_is_not_json_is_an_error() -> None:
    state = StreamState()
    loadtest.feed_ollama_line(state, "<html>", 0.0)
    assert state.error is not None
    assert "not JSON" in state.error


def test_parse_unary_answers() -> None:
    answer = openai_compat.completion(
        {"message": {"content": "hi"}, "eval_count": 4, "prompt_eval_count": 2}, "m"
    )
    assert loadtest.parse_unary("openai", json.dumps(answer).encode()) == ("hi", 4)
    final = _ollama_objects([])[-1] | {"message": {"role": "assistant", "content": "yo"}}
    assert loadtest.parse_unary("ollama", json.dumps(final).encode()) == ("yo", 0)
    with pytest.raises(ValueError, match="no choices"):
        loadtest.parse_unary("openai", b'{"id": "x"}')
    with pytest.raises(ValueError, match="broken"):
        loadtest.parse_unary("ollama", b'{"error": "broken"}')


def test_chat_bodies() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    openai = loadtest.chat_body(Config(url="http://x", max_tokens=5), msgs, True)
    assert openai == {
        "model": "tinyllama",
        "messages": msgs,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 5,
    }
    ollama = loadtest.chat_body(Config(url="http://x", api="ollama", max_tokens=5), msgs, False)
    assert ollama == {
        "model": "tinyllama",
        "messages": msgs,
        "stream": False,
        "options": {"num_predict": 5},
    }


# --- options ----------------------------------------------------------------------------


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    loadtest.add_arguments(parser)
    return parser.parse_args(["http://127.0.0.1:8080/", *argv])


def test_a_run_is_always_bounded() -> None:
    neither = loadtest.config_from_args(_args(), {})
    assert neither.duration == loadtest.DEFAULT_DURATION_SECONDS
    assert neither.requests is None
    count_only = loadtest.config_from_args(_args("--requests", "5"), {})
    assert count_only.duration == loadtest.MAX_DURATION_SECONDS
    assert count_only.requests == 5
    both = loadtest.config_from_args(_args("-d", "2", "-r", "5"), {})
    assert (both.duration, both.requests) == (2.0, 5)
    assert both.url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--duration", "0"], "--duration"),
        (["--duration", str(loadtest.MAX_DURATION_SECONDS + 1)], "--duration"),
        (["--requests", "0"], "--requests"),
        (["--requests", str(loadtest.MAX_REQUESTS + 1)], "--requests"),
        (["--users", "0"], "--users"),
        (["--timeout", "0"], "--timeout"),
        (["--health-interval", "-1"], "--health-interval"),
        (["--turns", "0"], "--turns"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--think-time", "-0.5"], "--think-time"),
        (["--model", " "], "--model"),
    ],
)
def test_bad_options_name_the_option(argv: list[str], option: str) -> None:
    with pytest.raises(UsageError, match=f"^{option}:"):
        loadtest.config_from_args(_args(*argv), {})


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "ftp://host/", "http://", "http://h/?q=1"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(UsageError, match=r"^URL:"):
        loadtest.normalize_url(url)


def test_prompts_file(tmp_path: Path) -> None:
    good = tmp_path / "prompts.txt"
    good.write_text("first prompt\n\n  second prompt  \n")
    config = loadtest.config_from_args(_args("--prompts", str(good)), {})
    assert config.prompts == ("first prompt", "second prompt")
    blank = tmp_path / "blank.txt"
    blank.write_text("\n  \n")
    with pytest.raises(UsageError, match=r"^--prompts: .* has no prompts"):
        loadtest.config_from_args(_args("--prompts", str(blank)), {})
    with pytest.raises(UsageError, match=r"^--prompts: cannot read"):
        loadtest.config_from_args(_args("--prompts", str(tmp_path / "nope.txt")), {})


def test_api_key_from_the_option_or_the_environment() -> None:
    env = {loadtest.API_KEY_ENV: "from-env"}
    assert loadtest.config_from_args(_args(), env).api_key == "from-env"
    assert loadtest.config_from_args(_args("--api-key", "given"), env).api_key == "given"
    assert loadtest.config_from_args(_args(), {}).api_key is None


def test_stream_modes() -> None:
    assert loadtest.config_from_args(_args(), {}).stream == "on"
    assert loadtest.config_from_args(_args("--no-stream"), {}).stream == "off"
    assert loadtest.config_from_args(_args("--stream-mix"), {}).stream == "mix"


@pytest.mark.parametrize(
    "line",
    [
        'data: {"choices": ["not an object"]}',
        'data: {"choices": [{"delta": "text"}], "usage": 7}',
        "data: [1, 2]",
        'data: {"choices": []}',
    ],
)
def test_nonsense_events_carry_no_token_and_do_not_crash(line: str) -> None:
    state = StreamState()
    loadtest.feed_openai_line(state, line, 0.0)
    assert state.token_times == []
    assert state.usage_tokens is None


@pytest.mark.parametrize(
    ("api", "body"),
    [
        ("openai", b'{"choices": ["x"]}'),
        ("openai", b"[1]"),
        ("ollama", b'{"message": "x"}'),
        ("ollama", b"not json"),
    ],
)
def test_nonsense_answers_are_value_errors(api: loadtest.Api, body: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  # the caller only needs "malformed"
        loadtest.parse_unary(api, body)
