"""Slow clients: a request head or body that does not arrive in time is answered 408 and
dropped, while other clients are served."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from backend_support import RunningBackend, StartBackend

# Not a measure of anything: how long a test waits for the server before giving up.
PATIENCE = 30.0


@pytest.fixture
def guarded(start_backend: StartBackend) -> RunningBackend:
    return start_backend(manage_model=False, header_timeout_seconds=0.5, body_timeout_seconds=0.5)


def connect(backend: RunningBackend) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", backend.server.port), timeout=PATIENCE)
    return sock


def read_to_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_half_sent_heads_are_answered_408_and_closed(
    guarded: RunningBackend, sockets: list[socket.socket]
) -> None:
    for _ in range(200):
        sock = connect(guarded)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        sockets.append(sock)
    idle = connect(guarded)  # connected, never sends a byte
    sockets.append(idle)
    # Meanwhile a normal client is served.
    assert httpx.get(guarded.url + "/healthz", timeout=PATIENCE).status_code == 200
    for sock in sockets:
        answer = read_to_close(sock)
        assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert b"connection: close" in answer
        assert answer.endswith(b'{"error": "the request head did not arrive within 0.5 s"}')
    assert guarded.metric('llmservice_backend_slow_clients_dropped_total{part="head"}') == 201


def test_a_body_that_stops_coming_is_408(
    guarded: RunningBackend, sockets: list[socket.socket]
) -> None:
    sock = connect(guarded)
    sockets.append(sock)
    sock.sendall(
        b"POST /api/chat HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        b"content-length: 100\r\n\r\n" + b'{"messages": ['
    )
    answer = read_to_close(sock)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b'{"error": "the request body did not arrive within 0.5 s"}')
    assert guarded.metric('llmservice_backend_slow_clients_dropped_total{part="body"}') == 1
    # The chat route saw its client leave: counted, nothing sent after the 408.
    assert guarded.metric("llmservice_backend_client_disconnects_total") == 1


def test_a_kept_alive_connection_gets_the_same_limit_per_request(
    guarded: RunningBackend, sockets: list[socket.socket]
) -> None:
    sock = connect(guarded)
    sockets.append(sock)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    first = b""
    while not first.endswith(b'{"status":"ok"}'):
        first += sock.recv(65536)
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # the second head never ends
    assert read_to_close(sock).startswith(b"HTTP/1.1 408 Request Timeout\r\n")


def test_complete_requests_are_not_disturbed(start_backend: StartBackend) -> None:
    # The default limits (10 s head, 60 s body): ordinary requests on one connection.
    backend = start_backend(manage_model=False)
    with httpx.Client(base_url=backend.url, timeout=PATIENCE) as client:
        for _ in range(20):
            assert client.get("/healthz").status_code == 200
            bad = client.post("/api/chat", json={"messages": "no"})
            assert bad.status_code == 400
    assert backend.metric('llmservice_backend_slow_clients_dropped_total{part="head"}') == 0
    assert backend.metric('llmservice_backend_slow_clients_dropped_total{part="body"}') == 0
