"""`coop feed url|revoke` in-process: a URL on stdout, revocation in the ledger, Chinese errors with exit 2."""

from __future__ import annotations

import datetime as dt

from conftest import FIXTURES
from sqlalchemy import select
from typer.testing import CliRunner

from coop.cli import app
from coop.services.planning import plan_agreement
from coop.settings import Settings
from models.db import session_scope
from models.tables import LedgerEvent

runner = CliRunner()
TUANQUWEI = "渝北区/团区委"


def test_feed_url_and_revoke(db_env: str) -> None:
    settings = Settings(database_url=db_env, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]
    plan_agreement(db_env, FIXTURES / "small.yaml", dt.date(2026, 3, 1), "测试", settings=settings)
    nothing = runner.invoke(app, ["feed", "revoke", "--department", TUANQUWEI, "--reason", "外泄"])
    assert nothing.exit_code == 2 and "还没有发放过日历订阅链接" in nothing.output
    made = runner.invoke(app, ["feed", "url", "--department", TUANQUWEI])
    assert made.exit_code == 0, made.output
    url = made.output.strip().splitlines()[-1]
    assert "/ical/" in url and url.endswith(".ics")
    coordinator = runner.invoke(app, ["feed", "url", "--agreement", "test-small"])
    assert coordinator.exit_code == 0 and coordinator.output.strip().splitlines()[-1] != url
    neither = runner.invoke(app, ["feed", "url"])
    assert neither.exit_code == 2 and "请指定部门" in neither.output and "Traceback" not in neither.output
    revoked = runner.invoke(app, ["feed", "revoke", "--department", TUANQUWEI, "--reason", "外泄"])
    assert revoked.exit_code == 0 and "已撤销" in revoked.output, revoked.output
    renewed = runner.invoke(app, ["feed", "url", "--department", TUANQUWEI])
    assert renewed.output.strip().splitlines()[-1] != url
    with session_scope(db_env) as s:
        kinds = [e.kind for e in s.execute(select(LedgerEvent)).scalars()]
    assert kinds.count("calendar_feed_issued") == 2 and kinds.count("calendar_feed_revoked") == 1
