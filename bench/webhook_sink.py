"""A loopback HTTP endpoint that answers every POST after a fixed delay, as a slow robot/webhook would.

Runs in its own process (`python -m bench.webhook_sink DELAY_MS`), prints its port, counts requests;
GET /count returns how many POSTs it answered, GET /keys how many of those carried an X-Coop-Message-Key header and
how many distinct keys they had ("keyed distinct": a difference is a message sent twice). Robot-style success body,
so robots and plain webhooks both accept it.

It behaves like a production web server on the wire, so that what is measured is the delay, not artefacts
of `http.server`: each answer leaves in one write with TCP_NODELAY (headers and body in two small writes hit
Nagle's algorithm against the client's delayed ACK and add ~40 ms to every request), and the listen backlog
is a server's (socketserver's default of 5 refuses connections whenever a client opens a few at once).
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = b'{"errcode":0,"errmsg":"ok","code":0,"msg":"success","StatusCode":0}'
BACKLOG = 1024
KEY_HEADER = "X-Coop-Message-Key"


def serve(delay: float) -> None:
    count = 0
    keyed = 0
    keys: set[str] = set()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real webhook endpoints allow

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self) -> None:  # noqa: N802
            nonlocal count, keyed
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            key = self.headers.get(KEY_HEADER)
            time.sleep(delay)
            with lock:
                count += 1
                if key is not None:
                    keyed += 1
                    keys.add(key)
            self._answer(ANSWER)

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                answer = f"{keyed} {len(keys)}" if self.path == "/keys" else str(count)
            self._answer(answer.encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers_with(body)

        _headers_buffer: list[bytes]  # BaseHTTPRequestHandler's own header buffer (unannotated in typeshed)

        def end_headers_with(self, body: bytes) -> None:
            """`end_headers` + body in a single write (see the module docstring)."""
            self._headers_buffer.append(b"\r\n" + body)
            self.wfile.write(b"".join(self._headers_buffer))
            self._headers_buffer = []

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        request_queue_size = BACKLOG
        daemon_threads = True

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(float(sys.argv[1]) / 1000)
