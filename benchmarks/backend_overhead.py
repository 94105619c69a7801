"""What the backend adds on top of Ollama: one run, through the backend and direct, side by side.

The same fake Ollama (llmservice_backend.testing.fake_ollama, in its own process) answers both
ways; the backend runs as it does in a pod (`python -m llmservice_backend`, its own process).
Measured:

- added p50 latency of a non-streaming chat (fake answers at once);
- added p50 time to the first token of a streaming chat;
- added p50 latency of a non-streaming /api/generate, of an /api/embed of 8 passages
  (768 numbers per vector, as nomic-embed-text gives), and of the same embeddings asked of
  OpenAI's /v1/embeddings (compared with /api/embed direct: the translation's whole cost);
- throughput of 64 concurrent streams from a fake emitting tokens at a fixed rate,
  through the backend as a share of direct;
- /healthz p99 while those 64 streams run through the backend.

Direct and backend requests are interleaved one by one, so drift in machine load hits both.
Run: `.venv/bin/python benchmarks/backend_overhead.py` (about 40 s; exit status 1 on a FAIL).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

PYTHON = sys.executable
MESSAGES = [{"role": "user", "content": "How far is the moon?"}]
# Eight passages of about 60 words, as a retrieval pipeline embeds a document's chunks.
EMBED_TEXTS = [
    " ".join(
        f"passage {i} talks about the moon, its orbit and its phases, word {j}." for j in range(6)
    )
    for i in range(8)
]
EMBEDDING_LENGTH = "768"


@dataclass
class Result:
    name: str
    direct: str
    backend: str
    figure: str  # the compared figure: added ms or a ratio
    target: str
    passed: bool | None  # None: measured, no target


# --- processes ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def fake_ollama(*extra: str) -> Iterator[str]:
    """A fake Ollama process; yields its URL."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "llmservice_backend.testing.fake_ollama", "--uvloop", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("FAKE_OLLAMA_URL="):
            raise RuntimeError(f"the fake Ollama did not start: {line!r}")
        yield line.split("=", 1)[1]
    finally:
        proc.terminate()
        proc.wait(10)


BACKEND_PIDS: dict[str, int] = {}  # backend URL -> its process, for CPU accounting


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def backend(ollama_url: str, **env: str) -> Iterator[str]:
    """The backend as a pod runs it, in front of ollama_url; yields its URL once ready."""
    port = _free_port()
    environment = {
        **os.environ,
        "OLLAMA_URL": ollama_url,
        "BACKEND_HOST": "127.0.0.1",
        "BACKEND_PORT": str(port),
        "MAX_CONCURRENT_REQUESTS": "64",
        "MAX_QUEUED_REQUESTS": "64",
        # /metrics (read for the backend's CPU time) on the serving port, not a second one.
        "METRICS_PORT": "0",
        **env,
    }
    proc = subprocess.Popen(
        [PYTHON, "-m", "llmservice_backend"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    BACKEND_PIDS[url] = proc.pid
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the backend did not become ready")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


# --- measurements -------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _chat(client: httpx.AsyncClient, url: str) -> float:
    body = {"model": "tinyllama", "messages": MESSAGES, "stream": False}
    start = time.perf_counter()
    response = await client.post(url + "/api/chat", json=body)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


async def _first_token(client: httpx.AsyncClient, url: str) -> float:
    body = {"model": "tinyllama", "messages": MESSAGES, "stream": True}
    start = time.perf_counter()
    async with client.stream("POST", url + "/api/chat", json=body) as response:
        response.raise_for_status()
        elapsed = None
        async for line in response.aiter_lines():
            if elapsed is None and line:
                elapsed = time.perf_counter() - start
        assert elapsed is not None
    return elapsed


async def _post(client: httpx.AsyncClient, url: str, path: str, body: dict[str, object]) -> float:
    start = time.perf_counter()
    response = await client.post(url + path, json=body)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


async def _generate(client: httpx.AsyncClient, url: str) -> float:
    body = {"model": "tinyllama", "prompt": "How far is the moon?", "stream": False}
    return await _post(client, url, "/api/generate", body)


async def _embed(client: httpx.AsyncClient, url: str) -> float:
    return await _post(client, url, "/api/embed", {"model": "tinyllama", "input": EMBED_TEXTS})


async def _openai_embed(client: httpx.AsyncClient, url: str) -> float:
    body = {"model": "tinyllama", "input": EMBED_TEXTS, "encoding_format": "float"}
    return await _post(client, url, "/v1/embeddings", body)


MEASURES = {
    "chat": (_chat, _chat),
    "ttft": (_first_token, _first_token),
    "generate": (_generate, _generate),
    "embed": (_embed, _embed),
    # The fake has no /v1/embeddings: direct is the /api/embed the backend turns it into.
    "openai-embed": (_embed, _openai_embed),
}


async def interleaved(
    kind: str, direct: str, via: str, count: int
) -> tuple[list[float], list[float]]:
    """count timings each way, alternating direct and through the backend."""
    measure_direct, measure_via = MEASURES[kind]
    times_direct: list[float] = []
    times_backend: list[float] = []
    async with asyncio.timeout(120), httpx.AsyncClient(timeout=30) as client:
        for _ in range(20):  # warm both paths: connections, caches
            await measure_direct(client, direct)
            await measure_via(client, via)
        for i in range(count):
            pair = [(direct, measure_direct, times_direct), (via, measure_via, times_backend)]
            if i % 2:
                pair.reverse()
            for url, measure, sink in pair:
                sink.append(await measure(client, url))
    return times_direct, times_backend


async def _stream_tokens(client: httpx.AsyncClient, url: str, delay: float = 0.0) -> int:
    await asyncio.sleep(delay)
    body = {"model": "tinyllama", "messages": MESSAGES, "stream": True}
    lines = 0
    async with client.stream("POST", url + "/api/chat", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line:
                lines += 1
    return lines - 1  # every line is a token but the last, the statistics


def probe_health(url: str, seconds: float) -> list[float]:
    """/healthz latencies over `seconds`, one request per 10 ms, from a blocking client.

    Runs in its own process (see --probe) so that the load generator's busy event loop does
    not count as backend latency.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - start)
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
        time.sleep(0.01)
    return latencies[1:]  # the first one opened the connection


async def throughput(
    url: str, streams: int, probe: str | None, rate: float
) -> tuple[float, list[float]]:
    """Tokens per second over `streams` concurrent streams; /healthz latencies meanwhile.

    The streams start spread over one token interval, as independent clients would: started
    in the same instant, every stream's tokens would arrive in the same instant too, a burst
    no real traffic makes.

    The prober is a separate process, started (and its imports done) before the streams so
    that its start-up does not steal CPU from them.
    """
    limits = httpx.Limits(max_connections=streams + 8, max_keepalive_connections=streams + 8)
    prober: asyncio.subprocess.Process | None = None
    if probe:
        prober = await asyncio.create_subprocess_exec(
            PYTHON,
            __file__,
            "--probe",
            probe,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert prober.stdout is not None
        assert prober.stdin is not None
        assert (await prober.stdout.readline()).strip() == b"ready"
    async with asyncio.timeout(90), httpx.AsyncClient(timeout=60, limits=limits) as client:
        start = time.perf_counter()
        spread = 1 / rate / streams
        tasks = [
            asyncio.create_task(_stream_tokens(client, url, i * spread)) for i in range(streams)
        ]
        if prober is not None:
            assert prober.stdin is not None
            await asyncio.sleep(0.5)  # every stream is running now
            prober.stdin.write(b"go\n")
            await prober.stdin.drain()
        counts = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    health: list[float] = []
    if prober is not None:
        async with asyncio.timeout(30):
            out, _ = await prober.communicate()
        health = json.loads(out)
    return sum(counts) / elapsed, health


# --- the real model (filled in by the real-model benchmark) -----------------------------------


REAL_MODEL = "smollm2:135m"
REAL_PROMPTS = [
    "Explain in a few sentences why the sky is blue.",
    "Write a short poem about a lighthouse.",
    "List five uses for a paperclip.",
    "Describe how a bicycle works.",
]


@contextmanager
def llama_adapter(threads: int = 2) -> Iterator[tuple[str, int]]:
    """SmolLM2 on llama.cpp behind Ollama's API, in its own process; yields (URL, pid) once up."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            *(PYTHON, "-m", "llmservice_backend.testing.llama_adapter"),
            *("--port", str(port), "--threads", str(threads)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/api/version", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the llama adapter did not start")
            time.sleep(0.1)
        yield url, proc.pid
    finally:
        proc.terminate()
        proc.wait(20)


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend_cpu_seconds(client: httpx.Client, url: str) -> float:
    """The backend's own CPU time, from its Prometheus process metrics."""
    for line in client.get(url + "/metrics").text.splitlines():
        if line.startswith("process_cpu_seconds_total "):
            return float(line.split()[1])
    raise RuntimeError("the backend's /metrics has no process_cpu_seconds_total")


def _real_chat(
    client: httpx.Client, url: str, prompt: str, tokens: int
) -> tuple[int, float, float]:
    """One streamed reply: (generated tokens, request seconds, first-to-last-token seconds)."""
    body = {
        "model": REAL_MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "options": {"num_predict": tokens, "temperature": 0, "seed": 7},
    }
    sent = time.perf_counter()
    first = last = 0.0
    final: dict[str, int] = {}
    with client.stream("POST", url + "/api/chat", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            chunk = json.loads(line) if line else {}
            if "error" in chunk:
                raise RuntimeError(f"{url}: {chunk['error']}")
            if chunk.get("done"):
                final = chunk
                break
            if chunk.get("message", {}).get("content"):
                last = time.perf_counter()
                first = first or last
    ended = time.perf_counter()
    if not final.get("eval_count") or not first:
        raise RuntimeError(f"{url}: no tokens in the reply")
    return final["eval_count"], ended - sent, max(last - first, 1e-9)


def real_model_benchmark(rounds: int = 4, tokens: int = 48, threads: int = 1) -> list[Result]:
    """Tokens per second with SmolLM2 through the backend vs direct (target: >= 97 %).

    The same prompts both ways, greedy so both paths generate the same tokens; each prompt
    runs direct and through the backend back to back, the order swapped every round. Rates
    are what the client sees; the figure compared is the median of those pairs' ratios, the
    one least moved by other work on the machine. [] when the model is not installed.
    One llama.cpp thread by default: with 2 threads on 2 shared cores, the threads wait for
    each other at every layer and the speed swings by an order of magnitude whenever another
    job takes a core, which drowns the figure being measured (docs/benchmarks.md).
    """
    import importlib.util

    if importlib.util.find_spec("llama_cpp") is None:
        print("real model: skipped, llama-cpp-python is not installed")
        return []
    from llmservice_backend.testing.llama_adapter import ModelNotInstalledError, find_gguf

    try:
        find_gguf()
    except ModelNotInstalledError as exc:
        print(f"real model: skipped, {exc}")
        return []

    runs: dict[str, list[tuple[int, float, float]]] = {"direct": [], "backend": []}
    with (
        llama_adapter(threads) as (direct, adapter_pid),
        backend(direct, MODEL_NAME=REAL_MODEL) as via,
        httpx.Client(timeout=300) as client,
    ):
        for url in (direct, via):  # warm both paths and llama.cpp
            _real_chat(client, url, REAL_PROMPTS[0], 16)
        cpu_before = _process_cpu_seconds(adapter_pid), _backend_cpu_seconds(client, via)
        for round_no in range(rounds):
            order = [("direct", direct), ("backend", via)][:: -1 if round_no % 2 else 1]
            for prompt in REAL_PROMPTS:
                for name, url in order:
                    runs[name].append(_real_chat(client, url, prompt, tokens))
        model_cpu = _process_cpu_seconds(adapter_pid) - cpu_before[0]
        backend_cpu = _backend_cpu_seconds(client, via) - cpu_before[1]

    totals = {name: sum(r[0] for r in rows) for name, rows in runs.items()}
    print(f"real model: tokens generated direct {totals['direct']}, backend {totals['backend']}")

    def rate(rows: list[tuple[int, float, float]], column: int) -> float:
        return sum(r[0] for r in rows) / sum(r[column] for r in rows)

    results = []
    for label, column in (("first to last token", 2), ("end to end", 1)):
        paired = statistics.median(
            (b[0] / b[column]) / (d[0] / d[column])
            for d, b in zip(runs["direct"], runs["backend"], strict=True)
        )
        results.append(
            Result(
                f"SmolLM2 tokens/s, {label} ({len(runs['direct'])} pairs, {threads} thr.)",
                f"{rate(runs['direct'], column):.1f}",
                f"{rate(runs['backend'], column):.1f}",
                f"{paired * 100:.1f} %",
                ">= 97 % of direct",
                paired >= 0.97,
            )
        )
    # Load-independent: the CPU the backend spends per token relayed, next to what the model
    # spends generating one. On a pod whose cores are all busy generating, this is the share
    # of the model's CPU the backend would take.
    model_ms = model_cpu * 1000 / (totals["direct"] + totals["backend"])
    backend_ms = backend_cpu * 1000 / totals["backend"]
    results.append(
        Result(
            "CPU per token: model (direct col.) vs backend",
            f"{model_ms:.2f} ms",
            f"{backend_ms:.2f} ms",
            f"{backend_ms / model_ms * 100:.1f} %",
            "for reference",
            None,
        )
    )
    return results


# --- report ---------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


_T0 = time.monotonic()


def _step(text: str) -> None:
    print(f"  [{time.monotonic() - _T0:5.1f} s] {text}", file=sys.stderr, flush=True)


ROUNDS = 5


def _added(name: str, direct: list[float], via: list[float], *, target: bool = True) -> Result:
    """Added p50 latency: the best of ROUNDS rounds of interleaved pairs.

    On a machine shared with other jobs, their bursts of CPU use land on some rounds and
    inflate the path that needs more CPU; the quietest round shows what the backend itself
    adds (the same reasoning as timeit's best-of). The median over every sample is printed
    in the name column's note for comparison. target=False: shown without a verdict.
    """
    size = max(1, len(direct) // ROUNDS)
    rounds = [
        (statistics.median(direct[i : i + size]), statistics.median(via[i : i + size]))
        for i in range(0, len(direct) - size + 1, size)
    ]
    d, b = min(rounds, key=lambda pair: pair[1] - pair[0])
    added = b - d
    overall = statistics.median(via) - statistics.median(direct)
    return Result(
        f"{name} (all samples: +{overall * 1000:.2f} ms)",
        _ms(d),
        _ms(b),
        f"+{added * 1000:.2f} ms",
        "added < 2 ms" if target else "(reference: ~120 KB of vectors relayed)",
        added < 0.002 if target else None,
    )


def fake_model_benchmark(requests: int, streams: int, rate: float, tokens: int) -> list[Result]:
    results: list[Result] = []
    fast_fake = ("--reply-tokens", "8", "--embedding-length", EMBEDDING_LENGTH)
    with fake_ollama(*fast_fake) as fast, backend(fast) as via:
        _step(f"non-streaming chat, {requests} requests each way")
        cpu_before = cpu_seconds(BACKEND_PIDS[via])
        chat_d, chat_b = asyncio.run(interleaved("chat", fast, via, requests))
        cpu_chat = (cpu_seconds(BACKEND_PIDS[via]) - cpu_before) / (requests + 20)
        results.append(_added("non-streaming chat, p50 latency", chat_d, chat_b))
        results.append(
            Result(
                "backend CPU time per non-streaming chat",
                "-",
                _ms(cpu_chat),
                _ms(cpu_chat),
                "(its own cost, whatever else runs)",
                None,
            )
        )
        _step(f"time to first token, {requests} requests each way")
        ttft_d, ttft_b = asyncio.run(interleaved("ttft", fast, via, requests))
        results.append(_added("streaming chat, p50 time to first token", ttft_d, ttft_b))
        for kind, label in (
            ("generate", "non-streaming /api/generate, p50 latency"),
            ("embed", "/api/embed of 8 passages, p50 latency"),
            ("openai-embed", "/v1/embeddings of 8 passages, p50 latency"),
        ):
            _step(f"{kind}, {requests} requests each way")
            cpu_before = cpu_seconds(BACKEND_PIDS[via])
            times_d, times_b = asyncio.run(interleaved(kind, fast, via, requests))
            cpu = (cpu_seconds(BACKEND_PIDS[via]) - cpu_before) / (requests + 20)
            # The 2 ms target is the chat's (a short answer); an embedding answer's size
            # depends on the model and the batch, so its figures are shown for reference.
            results.append(_added(label, times_d, times_b, target=kind == "generate"))
            results.append(
                Result(
                    f"backend CPU time per {kind} request",
                    "-",
                    _ms(cpu),
                    _ms(cpu),
                    "(its own cost)",
                    None,
                )
            )
    paced = ("--reply-tokens", str(tokens), "--token-rate", str(rate))
    with fake_ollama(*paced) as slow, backend(slow) as via:
        _step(f"{streams} streams direct")
        direct_tps, _ = asyncio.run(throughput(slow, streams, None, rate))
        _step(f"{streams} streams through the backend, probing /healthz")
        cpu_before = cpu_seconds(BACKEND_PIDS[via])
        started = time.perf_counter()
        backend_tps, health = asyncio.run(throughput(via, streams, via, rate))
        relayed = backend_tps * (time.perf_counter() - started)
        cpu_token = (cpu_seconds(BACKEND_PIDS[via]) - cpu_before) / relayed
    ratio = backend_tps / direct_tps
    results.append(
        Result(
            f"{streams} concurrent streams, tokens/s",
            f"{direct_tps:.0f}",
            f"{backend_tps:.0f}",
            f"{ratio * 100:.1f} %",
            ">= 95 % of direct",
            ratio >= 0.95,
        )
    )
    results.append(
        Result(
            "backend CPU time per streamed token",
            "-",
            f"{cpu_token * 1e6:.0f} us",
            f"{cpu_token * 1e6:.0f} us",
            "(its own cost, whatever else runs)",
            None,
        )
    )
    p99 = _pct(health, 0.99)
    results.append(
        Result(
            f"/healthz p99 during {streams} streams ({len(health)} probes)",
            "-",
            _ms(p99),
            _ms(p99),
            "< 10 ms",
            p99 < 0.010,
        )
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests each way")
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--token-rate", type=float, default=20.0, help="per stream, tokens/s")
    parser.add_argument("--tokens", type=int, default=120, help="tokens per streamed reply")
    parser.add_argument("--skip-real-model", action="store_true")
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # internal: the /healthz prober
    parser.add_argument("--probe-seconds", type=float, default=3.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print("ready", flush=True)
        sys.stdin.readline()  # "go": the streams are running
        print(json.dumps(probe_health(args.probe, args.probe_seconds)), flush=True)
        return 0

    started = time.monotonic()
    results = fake_model_benchmark(args.requests, args.streams, args.token_rate, args.tokens)
    if not args.skip_real_model:
        results += real_model_benchmark()
    width = max(len(r.name) for r in results)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"backend overhead, {os.cpu_count()} cores, {time.monotonic() - started:.0f} s, "
        f"load average now {load}"
    )
    print(f"{'measure':<{width}}  {'direct':>10}  {'backend':>10}  {'compared':>10}  target")
    for r in results:
        verdict = "" if r.passed is None else ("PASS" if r.passed else "FAIL")
        print(
            f"{r.name:<{width}}  {r.direct:>10}  {r.backend:>10}  {r.figure:>10}  "
            f"{r.target} {verdict}"
        )
    return 0 if all(r.passed is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
