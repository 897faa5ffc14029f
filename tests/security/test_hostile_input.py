"""Issue 13, findings 2, 3, 6: hostile input gets a fast Chinese 4xx that never echoes it; tokens stay out of logs.

Against the real server (uvicorn on 127.0.0.1) on SQLite and PostgreSQL, and the real `coop` command.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn
from conftest_web import YUBEI, Live, plan_small, web_settings

from coop.access import signer
from coop.settings import Settings
from coop.web import create_app

REPORTS = "/api/v1/occurrences/{}/reports"
TEN_MB = 10 * 1024 * 1024
CHINESE = "请求"


def _first(live: Live) -> int:
    return min(live.occurrences.values())


def _assert_plain_refusal(response: httpx.Response, status: int | tuple[int, ...], marker: str | None = None) -> None:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert len(response.content) < 2000, "the refusal must not echo the body"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and any("\u4e00" <= c <= "\u9fff" for c in detail), detail
    if marker is not None:
        assert marker not in response.text


# -- finding 2: the body cap comes before parsing and before the token check -----------------------------------


@pytest.mark.parametrize("who", [None, "yubei"])
def test_ten_megabyte_json_is_refused_fast_without_echo(live: Live, who: str | None) -> None:
    marker = "HOSTILE-MARKER-"
    body = ('{"outcome":"done","note":"' + marker + "x" * TEN_MB + '"}').encode()
    with live.client(who) as client:
        started = time.monotonic()
        response = client.post(REPORTS.format(_first(live)), content=body, headers={"content-type": "application/json"})
        elapsed = time.monotonic() - started
    _assert_plain_refusal(response, 413, marker)
    assert "64 KB" in response.json()["detail"]
    assert elapsed < 3, elapsed


def _raw_post(live: Live, head: bytes) -> socket.socket:
    host, port = live.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(head)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("size", [65 * 1024, 4 * 1024 * 1024])
def test_a_client_that_sends_its_whole_declared_body_before_reading_gets_the_413(live: Live, size: int) -> None:
    """The server reads and drops the refused body before answering, so closing leaves nothing unread (no reset).

    Cut off after the headers instead, the body's bytes reach a closed socket, the kernel answers with a reset
    and this client's read fails (or finds the 413 destroyed) — what a plain HTTP client that sends first sees.
    """
    head = (
        f"POST {REPORTS.format(_first(live))} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nAuthorization: Bearer {live.tokens['yubei']}\r\n\r\n"
    ).encode()
    with _raw_post(live, head) as sock:
        piece = b"x" * 65536
        for start in range(0, size, len(piece)):
            sock.sendall(piece[: size - start])
        answer = _read_all(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
    detail = json.loads(rest.partition(b"\r\n\r\n")[2])["detail"]
    assert "64 KB" in detail and "x" * 100 not in rest.decode()


def test_a_client_waiting_for_100_continue_gets_the_413_without_sending_the_body(live: Live) -> None:
    size = 4 * 1024 * 1024
    head = (
        f"POST {REPORTS.format(_first(live))} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\nExpect: 100-continue\r\nAuthorization: Bearer {live.tokens['yubei']}\r\n\r\n"
    ).encode()
    with _raw_post(live, head) as sock:
        answer = _read_all(sock)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:200]
    detail = json.loads(rest.partition(b"\r\n\r\n")[2])["detail"]
    assert "64 KB" in detail


def test_chunked_json_is_cut_off_at_the_cap_and_healthz_stays_responsive(live: Live) -> None:
    """No Content-Length: the server stops reading at 64 KiB; meanwhile /healthz answers at once."""
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"outcome":"done","note":"'
        while sent < TEN_MB:
            sent += 64 * 1024
            yield b"y" * (64 * 1024)
        yield b'"}'

    outcome: dict[str, object] = {}

    def post() -> None:
        try:
            with live.client("yubei") as client:
                outcome["response"] = client.post(
                    REPORTS.format(_first(live)), content=chunks(), headers={"content-type": "application/json"}
                )
        except httpx.HTTPError as exc:  # the server may close the connection once it has answered 413
            outcome["error"] = exc

    thread = threading.Thread(target=post)
    thread.start()
    with live.client() as client:
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        assert time.monotonic() - started < 2
    thread.join(timeout=60)
    assert not thread.is_alive()
    if "response" in outcome:
        _assert_plain_refusal(outcome["response"], 413)  # type: ignore[arg-type]
    assert sent < TEN_MB, "the server kept reading past the cap"


def test_json_under_the_cap_still_works_and_uploads_keep_their_own_limit(live: Live) -> None:
    with live.client("yubei") as client:
        ok = client.post(REPORTS.format(_first(live)), json={"outcome": "partial", "note": "进行中" * 600})
        assert ok.status_code == 201, ok.text
        # A 60 KB file is over the JSON cap but within the upload limit (64 KB in these tests' settings).
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * (60 * 1024)
        upload = client.post("/api/v1/evidence", files={"file": ("big.png", png, "image/png")})
        assert upload.status_code == 201, upload.text


def test_the_upload_limit_is_only_for_upload_routes(live: Live) -> None:
    """A multipart body to a JSON route gets the JSON cap, not the upload limit (10 files of 64 KB here)."""
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (200 * 1024)
    with live.client("yubei") as client:
        response = client.post(REPORTS.format(_first(live)), files={"file": ("x.png", big, "image/png")})
        upload = client.post("/api/v1/evidence", files={"file": ("x.png", big[: 60 * 1024], "image/png")})
    _assert_plain_refusal(response, 413)
    assert upload.status_code == 201, upload.text


# -- finding 3: bad values are a Chinese 4xx, never a 500, never echoed -------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b'{"outcome":"done","participants":NaN}',
        b'{"outcome":"done","participants":Infinity}',
        b'{"outcome":"done","participants":-Infinity}',
        b'{"outcome":"done","metrics":{"participants":1e400}}',
        b'{"outcome":"done","participants":1e400}',
        b'{"outcome":"done","note":"\\ud800"}',
        b'{"outcome":"done","evidence":["\\udfff"]}',
        b'{"outcome":"done","metrics":{"\\ud800":1}}',
    ],
)
def test_non_finite_numbers_and_lone_surrogates_are_a_chinese_4xx(live: Live, raw: bytes) -> None:
    with live.client("yubei") as client:
        response = client.post(REPORTS.format(_first(live)), content=raw, headers={"content-type": "application/json"})
    _assert_plain_refusal(response, (400, 422))


def test_duplicate_keys_are_refused_not_last_one_wins(live: Live) -> None:
    raw = b'{"outcome":"partial","outcome":"done"}'
    occurrence = _first(live)
    with live.client("yubei") as client:
        response = client.post(REPORTS.format(occurrence), content=raw, headers={"content-type": "application/json"})
        _assert_plain_refusal(response, (400, 422))
        assert "重复" in response.json()["detail"]
        nested = client.post(
            REPORTS.format(occurrence),
            content=b'{"outcome":"done","metrics":{"a":1,"a":2}}',
            headers={"content-type": "application/json"},
        )
        _assert_plain_refusal(nested, (400, 422))
        still_open = client.get(f"/api/v1/occurrences/{occurrence}").json()
    assert still_open["status"] != "done"


def test_validation_errors_name_the_field_but_never_echo_the_input(live: Live) -> None:
    marker = "<script>ECHO-ME</script>"
    with live.client("yubei") as client:
        response = client.post(REPORTS.format(_first(live)), json={"outcome": marker, "participants": marker})
    _assert_plain_refusal(response, 422, marker)
    detail = response.json()["detail"]
    assert "body.outcome" in detail and "body.participants" in detail
    assert "请求内容不符合要求" in detail


@pytest.mark.parametrize(
    "path",
    ["/api/v1/audit/occurrences/{occ}/history", "/api/v1/audit/agreements/test-small/clauses/1.1/history"],
)
def test_far_future_as_of_on_history_is_a_4xx(live: Live, path: str) -> None:
    with live.client("auditor") as client:
        response = client.get(path.format(occ=_first(live)), params={"as_of": "9999-12-31"})
    _assert_plain_refusal(response, 422)


@pytest.mark.parametrize("department", ["²", "①", "１２"])
@pytest.mark.parametrize("path", ["/api/v1/audit/rates", "/api/v1/audit/overdue", "/api/v1/audit/export.csv"])
def test_unicode_digits_as_department_are_a_chinese_4xx(live: Live, path: str, department: str) -> None:
    with live.client("auditor") as client:
        response = client.get(path, params={"department": department})
    _assert_plain_refusal(response, 422)


def test_department_filter_by_name_and_by_id_still_work(live: Live) -> None:
    with live.client("auditor") as client:
        by_name = client.get("/api/v1/audit/rates", params={"department": YUBEI, "group_by": "department"})
        by_id = client.get("/api/v1/audit/rates", params={"department": str(live.departments[YUBEI])})
    assert by_name.status_code == 200 and by_id.status_code == 200, (by_name.text, by_id.text)


def test_openapi_documents_the_validation_error_as_a_sentence(live: Live) -> None:
    with live.client() as client:
        schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["HTTPValidationError"]["properties"]["detail"]["type"] == "string"


# -- finding 6: tokens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["x", "short-token", "a" * 15])
def test_short_bearer_tokens_are_refused(live: Live, token: str) -> None:
    response = httpx.get(f"{live.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_link_tokens_are_redacted_in_the_access_log(db_url: str, tmp_path: Path) -> None:
    settings = web_settings(db_url, tmp_path, 0)
    report_link = signer(settings).issue("report", 1, 1)
    list_link = signer(settings).issue("list", 1, None)
    collected = _Collect()
    access = logging.getLogger("uvicorn.access")
    with _server_with_access_log(settings) as url:
        access.addHandler(collected)  # after uvicorn has configured its loggers (which drops foreign handlers)
        try:
            httpx.get(f"{url}/r/{report_link}")
            httpx.get(f"{url}/d/{list_link}?page=2")
            httpx.get(f"{url}/healthz")
        finally:
            access.removeHandler(collected)
    lines = "\n".join(collected.lines)
    assert "/healthz" in lines, lines
    assert report_link not in lines and list_link not in lines, lines
    assert "/r/****" in lines and "/d/****" in lines, lines


@contextmanager
def _server_with_access_log(settings: Settings) -> Iterator[str]:
    """A real uvicorn server with the access log on (the shared fixture runs at warning level)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_level="info", access_log=True, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- the CLI: the same inputs, no traceback --------------------------------------------------------------------

COOP = str(Path(sys.executable).parent / "coop")


@pytest.mark.parametrize(
    "args",
    [
        ["audit", "rates", "--department", "①"],
        ["audit", "overdue", "--department", "²"],
        ["audit", "rates", "--as-of", "9999-12-31"],
        ["audit", "history", "1", "--as-of", "9999-12-31"],
        ["audit", "history", "--agreement", "test-small", "--clause", "1.1", "--as-of", "9999-12-31"],
    ],
)
def test_cli_answers_hostile_input_in_chinese_with_exit_2(db_url: str, tmp_path: Path, args: list[str]) -> None:
    env = {**os.environ, "COOP_DATABASE_URL": db_url, "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    plan_small(db_url)  # a planned database: on an empty one the filter never reaches a query
    proc = subprocess.run([COOP, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "错误" in proc.stderr, proc.stderr
