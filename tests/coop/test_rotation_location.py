"""Rotation hands over the place: each round of a `location_from_host` clause stores its host's location, a re-plan
moves a changed location onto open rounds from the effective date on (never onto history), and the place is shown
wherever the host is — status, digest, iCal feed, export. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import FIXTURES
from sqlalchemy import select

from coop.services.audit import audit_day, export_rows
from coop.services.feeds import feed_ics, feed_url
from coop.services.planning import plan_agreement
from coop.services.status import agreement_summaries
from coop.settings import Settings
from coop.store.audit import AuditFilter
from coop.store.notices import digest_items
from models.db import session_scope
from models.tables import Occurrence

PLACES = {"渝北区": "渝北区民政局会议室", "长寿区": "长寿区委党校", "广安市": "广安市委党校"}
ROTATING = """
  - id: "7"
    title: 轮值工程
    clauses:
      - id: "7.5"
        title: 轮值联席会议
        kind: meeting
        responsible: {from_host: true}
        rotate: [长寿区, 广安市]
        location_from_host: true
        recurrence: {every: quarter}
"""


def _write(tmp_path: Path, places: dict[str, str]) -> Path:
    text = (FIXTURES / "small.yaml").read_text(encoding="utf-8")
    for party, place in places.items():
        text = text.replace(f"  - name: {party}\n", f"  - name: {party}\n    location: {place}\n", 1)
    path = tmp_path / "small.yaml"
    path.write_text(text + ROTATING, encoding="utf-8")
    return path


def _settings(db_url: str) -> Settings:
    return Settings(database_url=db_url, secret_key="test-secret-key-for-links-0123456789")  # type: ignore[arg-type]


def _rounds(db_url: str) -> dict[str, tuple[str | None, str | None]]:
    with session_scope(db_url) as s:
        rows = s.execute(select(Occurrence).where(Occurrence.key.startswith("7.5@"))).scalars()  # type: ignore[attr-defined]
        return {o.key: (o.host, o.location) for o in rows}


def test_each_round_stores_its_hosts_location_and_a_replan_moves_only_open_future_rounds(
    db_url: str, tmp_path: Path
) -> None:
    settings = _settings(db_url)
    plan_agreement(db_url, _write(tmp_path, PLACES), dt.date(2025, 9, 1), "测试", settings=settings)
    first = _rounds(db_url)
    assert len(first) == 8
    assert all(location == PLACES[str(host)] for host, location in first.values())
    assert first["7.5@2025-09-30"] == ("长寿区", "长寿区委党校")
    assert first["7.5@2025-12-31"] == ("广安市", "广安市委党校")

    # 长寿区 moves its venue; re-planned as of 2026-01-15, only rounds due from then on follow the new text.
    moved = {**PLACES, "长寿区": "长寿区新城会场"}
    result = plan_agreement(db_url, _write(tmp_path, moved), dt.date(2026, 1, 15), "测试", settings=settings).result
    after = _rounds(db_url)
    for key, (host, location) in after.items():
        due = dt.date.fromisoformat(key.split("@")[1])
        expected = moved[str(host)] if due >= dt.date(2026, 1, 15) else PLACES[str(host)]
        assert location == expected, key
    changed = {c.key for c in result.changes if c.kind == "changed"}
    assert changed == {k for k, (h, _) in after.items() if h == "长寿区" and k >= "7.5@2026-01-15"}
    assert any("7.5" in line and "调整内容" in line for line in result.change_lines())
    assert after["7.5@2025-09-30"] == ("长寿区", "长寿区委党校")  # history is never rewritten


def test_the_place_is_shown_where_the_host_is(db_url: str, tmp_path: Path) -> None:
    settings = _settings(db_url)
    plan_agreement(db_url, _write(tmp_path, PLACES), dt.date(2026, 3, 1), "测试", settings=settings)
    with session_scope(db_url) as s:
        ids = {
            o.key: o.id
            for o in s.execute(select(Occurrence).where(Occurrence.key.startswith("7.5@"))).scalars()  # type: ignore[attr-defined]
        }
        items = digest_items(s, [i for i in ids.values() if i is not None])
    # the notice a department receives (its template prints 地点 and 承办方)
    digest = items[ids["7.5@2026-03-31"] or 0][1]
    assert (digest.host, digest.location) == ("长寿区", "长寿区委党校")
    # 1.1 rotates too, but without location_from_host: no place, as before
    [summary] = agreement_summaries(db_url, dt.date(2026, 3, 1), "test-small", upcoming=50)
    shown = {(i.clause, i.host, i.location) for i in summary.next_due if i.clause in ("1.1", "7.5")}
    assert ("7.5", "广安市", "广安市委党校") in shown and ("1.1", "长寿区", None) in shown
    # the iCal feed: LOCATION of the round is its host's place
    url = feed_url(db_url, settings, "测试", agreement_id="test-small").url
    ics = feed_ics(db_url, settings, url.rsplit("/", 1)[1].removesuffix(".ics")).decode()
    assert "LOCATION:长寿区委党校" in ics and "LOCATION:广安市委党校" in ics
    # the export: the place is the last column
    rows = list(export_rows(settings, AuditFilter(clause="7.5"), audit_day(), db_url))
    assert {(r[8], r[-1]) for r in rows} == {("长寿区", "长寿区委党校"), ("广安市", "广安市委党校")}
