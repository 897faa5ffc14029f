"""The CLI's web, token, link and audit commands: in-process for the queries, real processes for serve and demo."""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES
from conftest_web import YUBEI, plan_small
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from coop.access import LinkSigner
from coop.cli import app
from coop.report import CompletionReport
from coop.settings import get_settings
from coop.store.occurrences import record_completion
from models.db import session_scope
from models.tables import LedgerEvent

COOP = str(Path(sys.executable).parent / "coop")
SECRET = "cli-test-secret-0123456789abcdef"
runner = CliRunner()


@pytest.fixture
def cli_db(db_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    monkeypatch.setenv("COOP_SECRET_KEY", SECRET)
    monkeypatch.setenv("COOP_PUBLIC_BASE_URL", "https://coop.example.cn")
    get_settings.cache_clear()
    ids = plan_small(db_env)
    with session_scope(db_env) as s:
        record_completion(
            s,
            CompletionReport(
                ids["1.1@2026-03-31"], YUBEI, participants=40, metrics={"participants": 40}, evidence=["https://x.cn/1"]
            ),
            YUBEI,
        )
    yield ids
    get_settings.cache_clear()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_tokens_issue_list_revoke(cli_db: dict[str, int]) -> None:
    out = invoke("token", "issue", "--department", YUBEI)
    token = out.strip().splitlines()[-1]
    assert token.startswith("coop_") and "只显示这一次" in out
    invoke("token", "issue", "--auditor", "张三")
    listing = invoke("token", "list")
    assert "渝北区/区委社会工作部" in listing and "审计 张三" in listing and token not in listing
    assert "令牌 #1 已撤销" in invoke("token", "revoke", "1", "--reason", "人员调离")
    assert invoke("token", "list").count("已撤销") == 1
    bad = runner.invoke(app, ["token", "issue"])
    assert bad.exit_code == 2 and "--department" in bad.output


def test_link_prints_a_signed_url_for_that_department_only(cli_db: dict[str, int]) -> None:
    oid = cli_db["1.1@2026-12-31"]
    url = invoke("link", "--department", YUBEI, "--occurrence", str(oid)).strip()
    assert url.startswith("https://coop.example.cn/r/")
    claims = LinkSigner(SECRET).read(url.rsplit("/", 1)[1], "report")
    assert claims.occurrence_id == oid
    listing = invoke("link", "--department", YUBEI).strip()
    assert LinkSigner(SECRET).read(listing.rsplit("/", 1)[1], "list").occurrence_id is None
    foreign = runner.invoke(app, ["link", "--department", "长寿区/区委社会工作部", "--occurrence", str(oid)])
    assert foreign.exit_code == 2 and "找不到任务" in foreign.output


def test_audit_queries_print_tables(cli_db: dict[str, int], db_env: str) -> None:
    rates = invoke("audit", "rates", "--by", "party")
    assert "完成率与按时率" in rates and "渝北区" in rates and "合计" in rates
    overdue = invoke("audit", "overdue", "--department", YUBEI)
    assert "逾期任务" in overdue and "共 5 项" in overdue
    progress = invoke("audit", "progress")
    assert "参与人数" in progress and "400" in progress and "10.0%" in progress
    history = invoke("audit", "history", str(cli_db["1.1@2026-03-31"]))
    # Each event told in a Chinese sentence (issue 15), not its JSON payload; the hash only when asked for.
    assert "提交完成报告：已完成" in history and "参与人数 40" in history and "https://x.cn/1" in history
    assert '"outcome"' not in history and "sha256" not in history
    with session_scope(db_env) as s:
        head = s.execute(select(LedgerEvent.hash).order_by(LedgerEvent.id.desc()).limit(1)).scalar_one()
    assert head not in history
    assert head in invoke("audit", "history", str(cli_db["1.1@2026-03-31"]), "--hash")
    assert '"outcome": "done"' in invoke("audit", "history", str(cli_db["1.1@2026-03-31"]), "--raw")
    clause = invoke("audit", "history", "--agreement", "test-small", "--clause", "1.1")
    assert "生成协议计划第 1 版" in clause and "提交完成报告：已完成" in clause
    assert runner.invoke(app, ["audit", "rates", "--by", "week"]).exit_code == 2
    assert runner.invoke(app, ["audit", "rates", "--as-of", "2999-01-01"]).exit_code == 2
    assert runner.invoke(app, ["audit", "history"]).exit_code == 2


def test_audit_export_csv_and_xlsx(cli_db: dict[str, int], tmp_path: Path) -> None:
    out = invoke("audit", "export", str(tmp_path / "a.csv"), "--party", "渝北区")
    assert "已导出 13 行" in out
    with (tmp_path / "a.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 14
    invoke("audit", "export", str(tmp_path / "a.xlsx"))
    book = load_workbook(tmp_path / "a.xlsx", read_only=True)  # read-only keeps the file open until closed
    assert len(list(book.active.iter_rows())) == 16
    book.close()
    assert runner.invoke(app, ["audit", "export", str(tmp_path / "a.pdf")]).exit_code == 2


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_demo_prints_a_link_that_coop_serve_accepts(tmp_path: Path) -> None:
    """The README path: `coop demo` prints a department link; `coop serve` answers it and records the report."""
    agreements = tmp_path / "agreements"
    agreements.mkdir()
    shutil.copy(FIXTURES / "small.yaml", agreements)
    port = _free_port()
    env = {
        **os.environ,
        "COOP_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "COOP_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "COOP_SECRET_KEY_FILE": str(tmp_path / "secret_key"),
        "COOP_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    for key in ("PREFECT_API_URL", "COOP_SECRET_KEY"):
        env.pop(key, None)
    demo = subprocess.run(
        [COOP, "demo", "--directory", str(agreements), "--today", "2026-11-25"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    # The sample notification above also carries a report link; the demo's own links come last.
    assert "完成后请登记：http://127.0.0.1:" in demo.stdout
    links = re.findall(rf"http://127\.0\.0\.1:{port}/[rd]/\S+", demo.stdout.split("部门报告链接")[-1])
    assert len(links) == 2, demo.stdout[-2000:]
    server = subprocess.Popen(
        [COOP, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, "coop serve did not start"
            time.sleep(0.3)
        report, listing = links
        form = httpx.get(report, timeout=30)
        assert form.status_code == 200 and 'name="outcome"' in form.text
        assert httpx.get(listing, timeout=30).status_code == 200
        done = httpx.post(
            report,
            data={"outcome": "done", "participants": "12"},
            files=[("files", ("", b"", "application/octet-stream"))],
            timeout=30,
        )
        assert done.status_code == 201 and "已记录" in done.text
        assert httpx.post(report, data={"outcome": "done"}, timeout=30).status_code == 410
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
    verify = subprocess.run(
        [COOP, "audit", "verify"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert verify.returncode == 0 and "台账完整" in verify.stdout
