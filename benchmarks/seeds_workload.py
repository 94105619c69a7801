"""The seeds' load test against the backend's timeouts: old defaults and new, side by side.

The seeds ran 10+ concurrent users against 2 pods of CPU TinyLlama: 39 requests, 0 %
failures, each answer about 173 s. Each pod takes `maxConcurrentRequests` (4) chats at once
and queues the rest, so 11 users on 8 slots means 3 wait for a running answer to end: up
to one whole answer, more when the Service's random choice of pod is uneven. Here each pod
is a real backend process in front of a fake Ollama that answers at the seeds' pace, and
11 users send 39 non-streaming chats in all, each to a pod picked at random (as kube-proxy
does). Time runs SCALE times faster than in the seeds, and every timeout is scaled alike,
so the outcome is what the seeds' hour would give.

Run: `.venv/bin/python benchmarks/seeds_workload.py` (about a minute; exit status 1 when
the new defaults fail a request).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
from backend_overhead import backend, fake_ollama
from llmservice_operator.api.models import BackendTimeouts

SEED_ANSWER_SECONDS = 173.0
SEED_USERS = 11
SEED_REQUESTS = 39
PODS = 2
SLOTS = 4  # spec.backend.maxConcurrentRequests' default
REPLY_TOKENS = 100
# The backend's defaults before spec.backend.timeouts existed.
OLD = {"queue": 120.0, "first_token": 300.0, "stream_idle": 120.0, "request": 900.0}


@dataclass
class Outcome:
    name: str
    timeouts: dict[str, float]
    statuses: dict[int | str, int]
    latencies: list[float]

    @property
    def failures(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200)


def new_defaults() -> dict[str, float]:
    t = BackendTimeouts()
    return {
        "queue": t.queue_seconds,
        "first_token": t.first_token_seconds,
        "stream_idle": t.stream_idle_seconds,
        "request": t.request_seconds,
    }


async def users(
    urls: list[str], requests: int, rng: random.Random
) -> tuple[dict[int | str, int], list[float]]:
    statuses: dict[int | str, int] = {}
    latencies: list[float] = []
    left = requests

    async def user(client: httpx.AsyncClient) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            body = {
                "model": "tinyllama",
                "messages": [{"role": "user", "content": "Tell me about the moon."}],
                "stream": False,
            }
            start = time.monotonic()
            try:
                response = await client.post(rng.choice(urls) + "/api/chat", json=body)
                key: int | str = response.status_code
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            latencies.append(time.monotonic() - start)
            statuses[key] = statuses.get(key, 0) + 1

    async with httpx.AsyncClient(timeout=None) as client:
        await asyncio.gather(*(user(client) for _ in range(SEED_USERS)))
    return statuses, latencies


def run(name: str, timeouts: dict[str, float], scale: float, seed: int) -> Outcome:
    answer = SEED_ANSWER_SECONDS / scale
    env = {
        "MAX_CONCURRENT_REQUESTS": str(SLOTS),
        "QUEUE_TIMEOUT_SECONDS": f"{timeouts['queue'] / scale:g}",
        "FIRST_TOKEN_TIMEOUT_SECONDS": f"{timeouts['first_token'] / scale:g}",
        "STREAM_IDLE_TIMEOUT_SECONDS": f"{timeouts['stream_idle'] / scale:g}",
        "REQUEST_TIMEOUT_SECONDS": f"{timeouts['request'] / scale:g}",
    }
    rate = f"{REPLY_TOKENS / answer:g}"
    with ExitStack() as stack:
        urls = []
        for _ in range(PODS):
            fake = stack.enter_context(
                fake_ollama("--token-rate", rate, "--reply-tokens", str(REPLY_TOKENS))
            )
            urls.append(stack.enter_context(backend(fake, **env)))
        statuses, latencies = asyncio.run(users(urls, SEED_REQUESTS, random.Random(seed)))
    return Outcome(name, timeouts, statuses, latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=20.0, help="times faster than the seeds")
    parser.add_argument("--seed", type=int, default=7, help="the random choice of pods")
    args = parser.parse_args()
    print(
        f"{SEED_USERS} users, {SEED_REQUESTS} chats, {PODS} pods x {SLOTS} slots, an answer "
        f"takes {SEED_ANSWER_SECONDS:g} s (run {args.scale:g}x faster, timeouts scaled alike)"
    )
    outcomes = [
        run("before spec.backend.timeouts", OLD, args.scale, args.seed),
        run("spec.backend.timeouts defaults", new_defaults(), args.scale, args.seed),
    ]
    print(
        f"{'timeouts':32} {'queue':>6} {'request':>8} {'ok':>4} {'failed':>7}  "
        f"{'longest (seeds time)':>20}  answers"
    )
    for o in outcomes:
        longest = max(o.latencies) * args.scale
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(o.statuses.items(), key=str))
        print(
            f"{o.name:32} {o.timeouts['queue']:>5g}s {o.timeouts['request']:>7g}s "
            f"{o.statuses.get(200, 0):>4} {o.failures:>7}  {longest:>19.0f}s  {codes}"
        )
    new = outcomes[-1]
    verdict = "PASS" if new.failures == 0 else "FAIL"
    print(f"failures with the defaults = {new.failures} (target 0): {verdict}")
    return 0 if new.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
