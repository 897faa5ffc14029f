"""A loopback HTTP endpoint that answers every POST after a fixed delay, as a slow robot/webhook would.

Runs in its own process (`python -m bench.webhook_sink DELAY_MS`), prints its port, counts requests;
GET /count returns how many POSTs it answered. Robot-style success body, so robots and plain webhooks both accept it.
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = b'{"errcode":0,"errmsg":"ok","code":0,"msg":"success","StatusCode":0}'


def serve(delay: float) -> None:
    count = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real webhook endpoints allow

        def do_POST(self) -> None:  # noqa: N802
            nonlocal count
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(delay)
            with lock:
                count += 1
            self._answer(ANSWER)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(str(count).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(float(sys.argv[1]) / 1000)
