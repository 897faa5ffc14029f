"""A real local HTTP server speaking the WeCom, DingTalk and Feishu group-robot protocols.

It checks what the real services check (known key/token, DingTalk and Feishu signatures,
message shape and size), answers the same error bodies, records every request, and can be
told to misbehave: robot error codes, HTTP 429/5xx with Retry-After, slow answers, a slow-loris
answer (headers at once, then the body a byte at a time), hanging up without an answer, or being
down (stop, later restart on the same port). Faults can be aimed at one protocol.

`limit_rate()` makes it enforce the platforms' per-robot rate (20 messages a minute: WeCom errcode 45009,
DingTalk 130101, Feishu 11232), with the window shortened for tests.

Like a receiver that honours `X-Coop-Message-Key`, it notices a message it already accepted (same
key, same content) and marks the repeat `duplicate`, so tests can count what a person would see.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from typing_extensions import override

Protocol = Literal["wecom", "dingtalk", "feishu", "hook", "unknown"]
SIGNATURE_WINDOW_S = 3600  # both services reject timestamps more than an hour off
WECOM_MARKDOWN_LIMIT = 4096
KEY_HEADER = "X-Coop-Message-Key"


@dataclass(frozen=True)
class Received:
    """One request as the sink saw it, and whether it answered success."""

    protocol: Protocol
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    accepted: bool
    answer: Any
    duplicate: bool = False

    @property
    def key(self) -> str | None:
        """The sender's idempotency key, whatever the header's case."""
        return next((v for k, v in self.headers.items() if k.lower() == KEY_HEADER.lower()), None)


@dataclass
class Fault:
    """How to misbehave for one request: a robot error code, an HTTP status, a delay, a slow-loris
    answer (`dribble` seconds between body bytes) or hanging up; `protocol` aims it at one protocol."""

    errcode: int | None = None
    errmsg: str = "api freq out of limit"
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    dribble: float = 0.0
    hang_up: bool = False
    hold: bool = False
    protocol: Protocol | None = None


@dataclass
class _Robots:
    wecom: set[str] = field(default_factory=set)
    dingtalk: dict[str, str | None] = field(default_factory=dict)
    feishu: dict[str, str | None] = field(default_factory=dict)


class RobotSink:
    """Start with `start()`; `base_url` is what `?base=` in a coop robot URL should be."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.robots = _Robots()
        self.received: list[Received] = []
        self._faults: deque[Fault] = deque()
        self._held = 0
        self._tickets = 0
        self._gate_open = True
        self._rate: tuple[int, float, str | None] | None = None  # (messages, per seconds, Retry-After)
        self._sent_at: dict[tuple[Protocol, str], deque[float]] = {}
        self._seen: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        self._gate = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> RobotSink:
        server = ThreadingHTTPServer((self.host, self.port), _handler_for(self))
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self.port = server.server_address[1]
        # A short poll interval keeps stop() (and so every fixture teardown) fast.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"robot-sink:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the listening socket: clients now get "connection refused"."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def restart(self) -> None:
        """Come back on the same port, keeping robots, records and queued faults."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- robots and URLs ------------------------------------------------------------

    def wecom_url(self, key: str = "wecom-key-0a1b2c3d4e5f60718293") -> str:
        """Register a WeCom robot and return its coop URL pointing here."""
        self.robots.wecom.add(key)
        return f"coop-wecom://{key}?base={self.base_url}"

    def dingtalk_url(
        self, token: str = "dingtalk-token-5f4e3d2c1b0a9988", secret: str | None = "SECd1n9t4lk5ecret0987654321"
    ) -> str:
        """Register a DingTalk robot (signed when `secret`) and return its coop URL."""
        self.robots.dingtalk[token] = secret
        path = f"{token}/{secret}" if secret else token
        return f"coop-dingtalk://{path}?base={self.base_url}"

    def feishu_url(
        self, token: str = "feishu-hook-7c6b5a4d3e2f1a0b9c8d", secret: str | None = "fe1shuS3cretABCDEF123456"
    ) -> str:
        """Register a Feishu robot (signed when `secret`) and return its coop URL."""
        self.robots.feishu[token] = secret
        path = f"{token}/{secret}" if secret else token
        return f"coop-feishu://{path}?base={self.base_url}"

    def hook_url(self, path: str = "hook") -> str:
        """An apprise `json://` URL for the generic JSON endpoint."""
        return f"json://{self.host}:{self.port}/{quote(path)}"

    # -- misbehaviour ---------------------------------------------------------------

    def fail_next(
        self, n: int = 1, errcode: int = 45009, errmsg: str = "api freq out of limit", protocol: Protocol | None = None
    ) -> None:
        """Answer HTTP 200 with this robot error code (Feishu: `code`) for the next n requests."""
        self._queue(n, Fault(errcode=errcode, errmsg=errmsg, protocol=protocol))

    def status_next(
        self, n: int = 1, status: int = 500, retry_after: str | None = None, protocol: Protocol | None = None
    ) -> None:
        """Answer this HTTP status (optionally with Retry-After) for the next n requests."""
        self._queue(n, Fault(status=status, retry_after=retry_after, protocol=protocol))

    def slow_next(self, n: int = 1, seconds: float = 2.0, protocol: Protocol | None = None) -> None:
        """Wait this long before answering (normally) the next n requests."""
        self._queue(n, Fault(delay=seconds, protocol=protocol))

    def hold_next(self, n: int = 1, protocol: Protocol | None = None, after: int = 0) -> None:
        """Let `after` requests through, then keep the next n waiting (unanswered) until `let_through()` or
        `heal()`: a sender stuck mid-delivery for as long as a test needs, however slow the machine."""
        with self._lock:
            self._gate_open, self._tickets = False, 0
        self._queue(after, Fault(protocol=protocol))
        self._queue(n, Fault(hold=True, protocol=protocol))

    def let_through(self, n: int = 1) -> None:
        """Answer n of the requests waiting at the gate (or the next n to arrive there)."""
        with self._gate:
            self._tickets += n
            self._gate.notify_all()

    @property
    def holding(self) -> int:
        """How many requests are waiting at the gate right now, not counting those already let through."""
        with self._lock:
            return max(0, self._held - self._tickets)

    def dribble_next(self, n: int = 1, seconds_per_byte: float = 0.5, protocol: Protocol | None = None) -> None:
        """Slow-loris: send the headers at once, then an error body one byte every `seconds_per_byte`.

        Each byte arrives well within a per-read timeout, so only a deadline on the whole exchange ends it.
        """
        self._queue(n, Fault(dribble=seconds_per_byte, protocol=protocol))

    def hang_up_next(self, n: int = 1, protocol: Protocol | None = None) -> None:
        """Read the request, then close the connection without any answer."""
        self._queue(n, Fault(hang_up=True, protocol=protocol))

    def limit_rate(self, messages: int = 20, per_seconds: float = 60.0, retry_after: str | None = None) -> None:
        """Refuse a robot's request once it has accepted `messages` within the last `per_seconds`, as the
        platforms do (WeCom 45009, DingTalk 130101, Feishu 11232); `retry_after` adds that header (they don't)."""
        with self._lock:
            self._rate = (messages, per_seconds, retry_after)

    def rate_limited(self, protocol: Protocol | None = None) -> list[Received]:
        """Requests refused for exceeding the rate."""
        with self._lock:
            return [
                r
                for r in self.received
                if not r.accepted
                and isinstance(r.answer, dict)
                and (r.answer.get("errcode") or r.answer.get("code")) in _RATE_CODES.values()
                and (protocol is None or r.protocol == protocol)
            ]

    def has_room(self) -> bool:
        """Every robot may accept a message now (its rate window is not full)."""
        with self._lock:
            if self._rate is None:
                return True
            limit, window, _ = self._rate
            now = time.monotonic()
            return all(sum(t > now - window for t in sent) < limit for sent in self._sent_at.values())

    def _over_rate(self, protocol: Protocol, path: str, query: dict[str, str]) -> bool:
        """Count this request against its robot; True when the robot's window is already full."""
        if protocol not in _RATE_CODES:
            return False
        robot = {"wecom": query.get("key"), "dingtalk": query.get("access_token")}.get(protocol) or path
        with self._lock:
            if self._rate is None:
                return False
            limit, window, _ = self._rate
            now = time.monotonic()
            sent = self._sent_at.setdefault((protocol, robot), deque())
            while sent and sent[0] <= now - window:
                sent.popleft()
            if len(sent) >= limit:
                return True
            sent.append(now)
            return False

    def heal(self) -> None:
        """Drop every queued fault: the sink behaves again from the next request."""
        with self._lock:
            self._faults.clear()
        with self._gate:  # and open the gate of `hold_next`
            self._gate_open, self._tickets = True, 0
            self._gate.notify_all()

    def _queue(self, n: int, fault: Fault) -> None:
        with self._lock:
            self._faults.extend(fault for _ in range(n))

    def _next_fault(self, protocol: Protocol) -> Fault | None:
        """The first queued fault meant for this protocol (or for any)."""
        with self._lock:
            for fault in self._faults:
                if fault.protocol in (None, protocol):
                    self._faults.remove(fault)
                    return fault
            return None

    # -- reading what arrived -------------------------------------------------------

    def messages(self, protocol: Protocol | None = None) -> list[Received]:
        """Accepted requests, optionally of one protocol."""
        with self._lock:
            return [r for r in self.received if r.accepted and (protocol is None or r.protocol == protocol)]

    def delivered(self, protocol: Protocol | None = None) -> list[Received]:
        """Accepted requests that were not repeats: what the people in the group actually see."""
        return [r for r in self.messages(protocol) if not r.duplicate]

    def key_counts(self, protocol: Protocol | None = None) -> Counter[str | None]:
        """How often each idempotency key was accepted, repeats included."""
        return Counter(r.key for r in self.messages(protocol))

    @property
    def duplicates(self) -> int:
        """Accepted repeats of a message already accepted (same key, same content): what the key absorbed."""
        return len([r for r in self.messages() if r.duplicate])

    def _record(self, received: Received) -> None:
        with self._lock:
            if received.accepted and received.key is not None:
                identity = (received.protocol, received.key, _content(received.body))
                if identity in self._seen:
                    received = replace(received, duplicate=True)
                self._seen.add(identity)
            self.received.append(received)

    # -- protocol --------------------------------------------------------------------

    def answer(self, protocol: Protocol, path: str, query: dict[str, str], body: Any) -> tuple[bool, dict[str, Any]]:
        """What the real service would answer: (accepted, JSON body)."""
        if protocol == "wecom":
            return _wecom(self.robots.wecom, query, body)
        if protocol == "dingtalk":
            return _dingtalk(self.robots.dingtalk, query, body)
        if protocol == "feishu":
            return _feishu(self.robots.feishu, path.rsplit("/", 1)[-1], body)
        if protocol == "hook":
            return True, {"ok": True}
        return False, {"errcode": 404, "errmsg": "no such endpoint"}


_RATE_CODES: dict[str, int] = {"wecom": 45009, "dingtalk": 130101, "feishu": 11232}


def _content(body: Any) -> str:
    """A message's content without the per-request signature (Feishu signs inside the body)."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("timestamp", "sign")}
    return json.dumps(body, ensure_ascii=False, sort_keys=True)


def _protocol(path: str) -> Protocol:
    if path == "/cgi-bin/webhook/send":
        return "wecom"
    if path == "/robot/send":
        return "dingtalk"
    if path.startswith("/open-apis/bot/v2/hook/") and path.count("/") == 5:
        return "feishu"
    if path == "/hook" or path.startswith("/hook/"):
        return "hook"
    return "unknown"


def _wecom(keys: set[str], query: dict[str, str], body: Any) -> tuple[bool, dict[str, Any]]:
    if query.get("key") not in keys:
        return False, {"errcode": 93000, "errmsg": "invalid webhook url"}
    if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown", "markdown_v2"):
        return False, {"errcode": 40008, "errmsg": "invalid message type"}
    content = (body.get(body["msgtype"]) or {}).get("content")
    if not isinstance(content, str) or not content:
        return False, {"errcode": 44004, "errmsg": "empty content"}
    if len(content.encode()) > WECOM_MARKDOWN_LIMIT:
        return False, {"errcode": 40058, "errmsg": f"markdown.content exceed max length {WECOM_MARKDOWN_LIMIT}"}
    return True, {"errcode": 0, "errmsg": "ok"}


def _dingtalk(robots: dict[str, str | None], query: dict[str, str], body: Any) -> tuple[bool, dict[str, Any]]:
    token = query.get("access_token", "")
    if token not in robots:
        return False, {"errcode": 300001, "errmsg": "token is not exist"}
    secret = robots[token]
    if secret is not None:
        try:
            ts = int(query.get("timestamp", ""))
        except ValueError:
            return False, {"errcode": 310000, "errmsg": "sign not match"}
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        fresh = abs(time.time() * 1000 - ts) <= SIGNATURE_WINDOW_S * 1000
        if not fresh or not hmac.compare_digest(query.get("sign", ""), expected):
            return False, {
                "errcode": 310000,
                "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            }
    if not isinstance(body, dict) or body.get("msgtype") not in ("text", "markdown", "link", "actionCard", "feedCard"):
        return False, {"errcode": 40035, "errmsg": "缺少参数 msgtype"}
    if body["msgtype"] == "markdown":
        md = body.get("markdown") or {}
        if not md.get("title") or not md.get("text"):
            return False, {"errcode": 40035, "errmsg": "缺少参数 markdown.title/markdown.text"}
    return True, {"errcode": 0, "errmsg": "ok"}


def _feishu(robots: dict[str, str | None], token: str, body: Any) -> tuple[bool, dict[str, Any]]:
    if token not in robots:
        return False, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}}
    if not isinstance(body, dict):
        return False, {"code": 9499, "msg": "Bad Request", "data": {}}
    secret = robots[token]
    if secret is not None:
        try:
            ts = int(body.get("timestamp", ""))
        except (TypeError, ValueError):
            ts = 0
        expected = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
        fresh = abs(time.time() - ts) <= SIGNATURE_WINDOW_S
        if not fresh or not hmac.compare_digest(str(body.get("sign", "")), expected):
            return False, {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour from current time",
                "data": {},
            }
    kind = body.get("msg_type")
    if kind not in ("text", "post", "image", "share_chat", "interactive"):
        return False, {"code": 9499, "msg": "Bad Request", "data": {}}
    if kind == "interactive" and not isinstance(body.get("card"), dict):
        return False, {"code": 9499, "msg": "Bad Request", "data": {}}
    return True, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}


def _handler_for(sink: RobotSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "robot-sink/1"

        @override
        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            return

        def do_POST(self) -> None:
            split = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(split.query).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw or b"null")
            except ValueError:
                body = raw.decode(errors="replace")
            protocol = _protocol(split.path)
            fault = sink._next_fault(protocol)
            if fault and fault.delay:
                time.sleep(fault.delay)
            if fault and fault.hold:
                with sink._gate:
                    sink._held += 1
                    sink._gate.wait_for(lambda: sink._gate_open or sink._tickets > 0, timeout=600)
                    if not sink._gate_open and sink._tickets > 0:
                        sink._tickets -= 1
                    sink._held -= 1
            if fault and (fault.hang_up or fault.dribble):
                sink._record(Received(protocol, split.path, query, body, dict(self.headers), False, None))
                if fault.hang_up:
                    self._hang_up()
                else:
                    self._dribble({"errcode": -1, "errmsg": "system busy"}, fault.dribble)
                return
            if fault and fault.status:
                answer: Any = {"errcode": -1, "errmsg": "system busy"}
                sink._record(Received(protocol, split.path, query, body, dict(self.headers), False, answer))
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._reply(fault.status, answer, headers)
                return
            if fault and fault.errcode is not None:
                key = "code" if protocol == "feishu" else "errcode"
                answer = {key: fault.errcode, "errmsg" if key == "errcode" else "msg": fault.errmsg}
                sink._record(Received(protocol, split.path, query, body, dict(self.headers), False, answer))
                self._reply(200, answer)
                return
            if sink._over_rate(protocol, split.path, query):
                key = "code" if protocol == "feishu" else "errcode"
                answer = {key: _RATE_CODES[protocol], "errmsg" if key == "errcode" else "msg": "api freq out of limit"}
                sink._record(Received(protocol, split.path, query, body, dict(self.headers), False, answer))
                retry_after = sink._rate[2] if sink._rate else None
                self._reply(200, answer, {"Retry-After": retry_after} if retry_after else None)
                return
            accepted, answer = sink.answer(protocol, split.path, query, body)
            sink._record(Received(protocol, split.path, query, body, dict(self.headers), accepted, answer))
            self._reply(404 if protocol == "unknown" else 200, answer)

        def _hang_up(self) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _dribble(self, answer: Any, seconds_per_byte: float) -> None:
            """Status and headers at once, then the body one byte at a time until the client gives up."""
            payload = json.dumps(answer).encode()
            self.close_connection = True
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.flush()
                for i in range(len(payload)):
                    time.sleep(seconds_per_byte)
                    self.wfile.write(payload[i : i + 1])
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):  # the client gave up, as it should
                pass

        def _reply(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(answer, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

    return Handler
