"""PrioritySlots: at most N holders; waiting holders of a lower priority number first,
equal priorities in arrival order, but no holder overtaken by more than the head start;
cancelled waiters neither block nor leak a slot."""

from __future__ import annotations

import asyncio

import pytest
from llmservice_operator.runtime.queue import PrioritySlots


async def test_waiters_go_by_priority_then_arrival() -> None:
    slots = PrioritySlots(1)
    order: list[str] = []
    release = asyncio.Event()

    async def take(name: str, priority: int, wait: asyncio.Event | None = None) -> None:
        async with slots.hold(priority):
            order.append(name)
            if wait is not None:
                await wait.wait()

    first = asyncio.create_task(take("first", 1, release))
    await asyncio.sleep(0)
    waiters = [
        asyncio.create_task(take("new-a", 1)),
        asyncio.create_task(take("follow-up-a", 0)),
        asyncio.create_task(take("new-b", 1)),
        asyncio.create_task(take("follow-up-b", 0)),
    ]
    await asyncio.sleep(0.01)
    assert order == ["first"]
    assert slots.waiting == 4
    release.set()
    await asyncio.gather(first, *waiters)
    assert order == ["first", "follow-up-a", "follow-up-b", "new-a", "new-b"]


async def test_a_first_pass_is_overtaken_for_the_head_start_only() -> None:
    """Follow-ups that keep coming never starve a first pass for longer than the head
    start: one that has waited that long goes before follow-ups that came after it."""
    slots = PrioritySlots(1, headstart=0.5)
    order: list[str] = []
    release = asyncio.Event()

    async def take(name: str, priority: int, wait: asyncio.Event | None = None) -> None:
        async with slots.hold(priority):
            order.append(name)
            if wait is not None:
                await wait.wait()

    holder = asyncio.create_task(take("holder", 0, release))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(take("first pass", 1))]
    await asyncio.sleep(0.01)
    waiting.append(asyncio.create_task(take("early follow-up", 0)))  # well within the head start
    await asyncio.sleep(0.7)
    waiting.append(asyncio.create_task(take("late follow-up", 0)))  # well past it
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["holder", "early follow-up", "first pass", "late follow-up"]


async def test_at_most_size_hold_at_once_and_cancelled_waiters_leak_nothing() -> None:
    slots = PrioritySlots(2)
    inside = 0
    most = 0

    async def work() -> None:
        nonlocal inside, most
        async with slots.hold():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    doomed = [asyncio.create_task(work()) for _ in range(5)]
    await asyncio.sleep(0)
    for task in doomed[2:]:
        task.cancel()  # cancelled while waiting
    await asyncio.gather(*doomed, return_exceptions=True)
    await asyncio.gather(*(work() for _ in range(10)))
    assert most == 2
    assert slots.waiting == 0
    # every slot came back: two holders at once still get in without waiting
    async with slots.hold(), slots.hold():
        assert slots.waiting == 0


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        PrioritySlots(0)
