"""The page's server against clients that misbehave at the edge: declared huge bodies, a body of
exactly the limit, undecodable uploads, expensive decodes, concurrent large pastes, and many idle
or trickling connections. Every probe talks to 127.0.0.1 only and stops by itself."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from urllib.request import Request, urlopen

import pytest

pytest.importorskip("flask")
pytest.importorskip("waitress")

from lowrankgan import api  # noqa: E402
from lowrankgan.web import guard  # noqa: E402
from lowrankgan.web.photo_routes import MemoryBudget  # noqa: E402
from lowrankgan.web.server import create_app, make_server  # noqa: E402
from lowrankgan.web.jobs import Busy  # noqa: E402
from lowrankgan.web.session import Workspace  # noqa: E402

TOKEN = "t" * 32


@pytest.fixture(scope="module")
def workspace():
    workspace = Workspace(["dcgan-faces"], device="cpu")
    yield workspace
    workspace.close(timeout=120.0)  # no path walk or warm-up outlives the module (they write the Jacobian cache)


@pytest.fixture
def server(workspace, monkeypatch):
    monkeypatch.setattr(guard, "HEADER_TIMEOUT_S", 2.0)  # the rule as it is, on a shorter clock
    app = create_app(workspace, allowed_hosts={"localhost", "127.0.0.1"}, token=TOKEN)
    srv = make_server(app, "127.0.0.1", 0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield int(srv.effective_port)
    # Stop the loop before closing its sockets (closing them under a running select fails in its thread).
    dispatchers = list(srv._map.values())
    srv._map.clear()
    thread.join(timeout=10)
    for dispatcher in dispatchers:
        dispatcher.close()
    srv.task_dispatcher.shutdown()


def exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 30.0) -> tuple[int, dict]:
    """Send ``head`` (and ``body``), read the answer: status and JSON body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        if body:
            sock.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1] or b"null")


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def upload_head(port: int, size: int) -> bytes:
    return (f"POST /api/photo?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Length: {size}\r\nContent-Type: application/octet-stream\r\n\r\n").encode()


@pytest.mark.parametrize("size", [70 << 20, 10**15])
def test_declared_huge_bodies_are_refused_in_json_before_they_are_sent(server, size):
    status, body = exchange(server, upload_head(server, size))  # the headers only: refused from them
    assert status == 413 and "large" in body["error"]


@pytest.mark.parametrize("head", [b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n",
                                  b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * (80 << 10) + b"\r\n\r\n",
                                  b"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n\r\n"])
def test_requests_waitress_refuses_are_answered_in_json(server, head):
    status, body = exchange(server, head)
    assert status in (400, 431, 501) and isinstance(body["error"], str)  # JSON, whoever refused


def test_a_body_just_over_the_limit_is_refused_by_the_app_in_json(server):
    size = api.MAX_PHOTO_BYTES + 1
    status, body = exchange(server, upload_head(server, size), b"\0" * size, timeout=120)
    assert status == 413 and "at most" in body["error"]


def test_a_body_of_exactly_the_limit_reaches_the_app(server):
    size = api.MAX_PHOTO_BYTES
    status, body = exchange(server, upload_head(server, size), b"\0" * size, timeout=120)
    assert status == 400 and "cannot read" in body["error"]  # read and decoded (not an image), not reset


def dds_unimplemented() -> bytes:
    header = struct.pack("<7I44x", 124, 0x1007, 64, 64, 0, 0, 0)
    pixel_format = struct.pack("<2I4s5I", 32, 0x4, b"QQQQ", 0, 0, 0, 0, 0)
    return b"DDS " + header + pixel_format + struct.pack("<5I", 0x1000, 0, 0, 0, 0) + b"\0" * 4096


def test_decoder_errors_are_400_and_decoding_does_not_need_the_compute_slot(server, workspace):
    job = workspace.begin_job("test")  # another computation holds the slot
    try:
        data = dds_unimplemented()
        status, body = exchange(server, upload_head(server, len(data)), data)
    finally:
        workspace.end_job(job)
    assert status == 400 and "cannot read" in body["error"]  # decoded beside the job, refused as bad input


def test_concurrent_large_pastes_get_429_not_memory_errors():
    budget = MemoryBudget(1000, wait_s=0.2)
    with budget.reserve(600, "pasting"):
        with pytest.raises(Busy, match="busy pasting"):
            with budget.reserve(600, "pasting"):
                pass
        with budget.reserve(400, "pasting"):  # what fits beside it runs
            pass
    with budget.reserve(5000, "pasting"):  # one request alone always runs
        pass
    assert budget.used == 0


def page_reachable(port: int, timeout: float) -> bool:
    req = Request(f"http://127.0.0.1:{port}/api/config", headers={"X-LowRankGAN-Token": TOKEN})
    with urlopen(req, timeout=timeout) as resp:
        return resp.status == 200


def open_idle(port: int, count: int) -> list[socket.socket]:
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.settimeout(5)
        s.connect_ex(("127.0.0.1", port))  # beyond the server's limit they wait in the listen queue
        socks.append(s)
    return socks


def test_idle_and_trickling_connections_leave_the_page_reachable(server):
    idle = open_idle(server, 70)
    trickling = open_idle(server, 66)
    try:
        for s in trickling:
            s.send(b"GET /api/config HTTP/1.1\r\n")  # headers that never finish
        started = time.monotonic()
        assert page_reachable(server, timeout=30)
        assert time.monotonic() - started < 30
        # The trickling ones are closed once their headers are overdue (2 s here).
        time.sleep(4)
        closed = 0
        for s in trickling:
            try:
                s.send(b"X")
                s.settimeout(2)
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
        assert closed == len(trickling)
    finally:
        for s in idle + trickling:
            s.close()


def test_more_idle_connections_than_the_limit_still_leave_room(server):
    socks = open_idle(server, guard.CONNECTION_LIMIT + 40)
    try:
        started = time.monotonic()
        assert page_reachable(server, timeout=30)
        assert time.monotonic() - started < 30
    finally:
        for s in socks:
            s.close()
