"""Concurrent delivery against a real local HTTP endpoint: the in-flight bound holds across pooled clients."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coop.errors import CoopError
from coop.notify.channels import Channel, resolve_channel
from coop.notify.sender import CONNECTIONS_PER_CLIENT, Deliverer, Outgoing

CONCURRENCY = 2 * CONNECTIONS_PER_CLIENT + 3  # several clients (one connection each: five), every one of them used


class Gate:
    """A robot endpoint that holds the first requests until CONCURRENCY of them are open at once, so the
    highest number in flight is known exactly; later ones are answered at once."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.in_flight = 0
        self.most = 0
        self.keys: list[str] = []
        self.opened = False

    def enter(self, key: str) -> None:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.keys.append(key)
            if self.in_flight >= CONCURRENCY:
                self.opened = True
                self.lock.notify_all()
            self.lock.wait_for(lambda: self.opened, timeout=10)

    def leave(self) -> None:
        with self.lock:
            self.in_flight -= 1


@pytest.fixture
def gate() -> Iterator[tuple[Gate, str]]:
    state = Gate()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.enter(self.headers.get("X-Coop-Message-Key", ""))
            try:
                body = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                state.leave()

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = 128
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _collect(messages: list[Outgoing], resolve: object, concurrency: int) -> list:  # type: ignore[type-arg]
    async def run() -> list:  # type: ignore[type-arg]
        async with Deliverer(resolve, concurrency, {}, timeout=20) as deliverer:  # type: ignore[arg-type]
            return list(await asyncio.gather(*(deliverer.deliver(m) for m in messages)))

    return asyncio.run(run())


def test_in_flight_bound_holds_across_several_pooled_clients(gate: tuple[Gate, str]) -> None:
    state, base = gate
    env = {f"COOP_CHANNEL_R{i}_WECOM": f"coop-wecom://key{i}?base={base}" for i in range(3 * CONCURRENCY)}
    messages = [Outgoing(i, f"k:{i}", f"r{i}-wecom", f"第{i}条", "正文") for i in range(3 * CONCURRENCY)]

    delivered = _collect(messages, lambda name: resolve_channel(name, env), CONCURRENCY)

    assert sorted(d.id for d in delivered) == list(range(len(messages)))
    assert all(d.result.ok for d in delivered), [d.result.detail for d in delivered if not d.result.ok]
    assert state.most == CONCURRENCY  # every slot was used at once, and never one more
    assert sorted(state.keys) == sorted(m.key for m in messages)  # each sent once


def test_each_channel_is_resolved_once_per_run_failures_included(gate: tuple[Gate, str]) -> None:
    state, base = gate
    state.opened = True  # no holding back here
    env = {"COOP_CHANNEL_SHARED_WECOM": f"coop-wecom://key?base={base}"}
    asked: list[str] = []

    def resolve(name: str) -> Channel:
        asked.append(name)
        return resolve_channel(name, env)

    messages = [Outgoing(i, f"k:{i}", "shared-wecom" if i % 2 else "missing-wecom", "标题", "正文") for i in range(10)]

    delivered = _collect(messages, resolve, 4)

    assert sorted(asked) == ["missing-wecom", "shared-wecom"]
    by_id = {d.id: d for d in delivered}
    assert all(by_id[i].result.ok for i in range(1, 10, 2))
    missing = [by_id[i].result for i in range(0, 10, 2)]
    assert all(not r.ok and not r.retryable and "COOP_CHANNEL_MISSING_WECOM" in r.detail for r in missing)
    with pytest.raises(CoopError):
        resolve_channel("missing-wecom", env)
