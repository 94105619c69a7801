"""The test metrics server's network namespace: reachable from the host at its own
address, and nothing of it left on the host after a stop, or after its starter was killed
(the next start removes it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
from llmservice_testkit.metricsapi import netns


@pytest.fixture(autouse=True)
def _needs_root() -> None:
    try:
        netns.require()
    except netns.NamespaceUnavailable as exc:
        pytest.skip(f"no network namespace here: {exc}")


def host_state() -> tuple[str, str]:
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    spaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return links, spaces


def test_a_server_in_the_namespace_is_reached_from_the_host_and_leaves_nothing() -> None:
    with netns.VethNamespace() as space:
        assert space.address.startswith("10.213.")
        links, spaces = host_state()
        assert space.link in links
        assert space.name in spaces
        listening = space.listen()
        with socket.create_connection((space.address, listening.getsockname()[1]), timeout=5):
            pass
        # The address belongs to the namespace, not to the host.
        assert (
            space.address
            not in subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        )
        listening.close()
        name, link = space.name, space.link
    links, spaces = host_state()
    assert f" {link}" not in links
    assert f"{link}@" not in links
    assert name not in spaces


def test_a_live_starters_namespace_stays_and_a_killed_ones_is_removed_by_the_next_start() -> None:
    code = (
        "from llmservice_testkit.metricsapi import netns; import time\n"
        "space = netns.VethNamespace().start(); print(space.name, flush=True)\n"
        "time.sleep(120)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert child.stdout is not None
        name = child.stdout.readline().strip()
        with netns.VethNamespace() as space:  # another session's start beside a live one
            assert space.name != name
            assert name in host_state()[1]
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    assert name in host_state()[1]  # a SIGKILL leaves it
    with netns.VethNamespace() as space:
        assert space.name != name
        links, spaces = host_state()
        assert name not in spaces
        assert f"link-netns {name}\n" not in links + "\n"  # its slot may be reused, not its pair
