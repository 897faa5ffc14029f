"""Term targets (`total_targets`) rolled up clause → programme → agreement, and one Chinese name per metric —
in `coop audit progress`, the export and the audit report, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from coop.agreement.loader import parse_agreement
from coop.audit import TermPlan, roll_up, summary_markdown
from coop.calendar import WorkdayCalendar
from coop.cli import app
from coop.errors import AgreementError
from coop.labels import METRIC_LABELS, metric_label
from coop.notify.digest import Digest
from coop.notify.templates import render_digest, target_text
from coop.planning import calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.services import audit
from coop.settings import Settings, get_settings
from coop.store.audit import AuditFilter
from coop.store.notices import digest_items
from coop.store.occurrences import record_completion
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import Occurrence

AGREEMENT = """\
id: brands
title: 品牌共建协议
signed: 2025-01-01
term: {start: 2025-01-01, end: 2027-12-31}
metric_labels: {brand_projects: 社工品牌项目数, volunteers: 志愿服务人次}
total_targets: {brand_projects: 12}
parties:
  - name: 渝北区
    coordinator: 区委社会工作部
    departments: [{name: 区委社会工作部}]
  - name: 长寿区
    coordinator: 区委社会工作部
    departments: [{name: 区委社会工作部}]
programmes:
  - id: "1"
    title: 品牌建设工程
    total_targets: {brand_projects: 10}
    clauses:
      - id: 1.1
        title: 打造品牌项目
        kind: construction
        responsible: {party: 渝北区}
        recurrence: {every: year, day: 20}
        total_targets: {brand_projects: 6}
      - id: 1.2
        title: 品牌项目年度交流
        kind: exchange
        responsible: {party: 长寿区}
        recurrence: {every: year, day: 20}
        targets: {participants: 50}
        total_targets: {brand_projects: 4}
  - id: "2"
    title: 志愿服务工程
    clauses:
      - id: 2.1
        title: 志愿服务
        kind: volunteer_event
        responsible: {party: 长寿区}
        recurrence: {every: year, day: 20}
        targets: {volunteers: 30}
"""


def _plan(db_url: str) -> dict[str, int]:
    cal = WorkdayCalendar()
    loaded = parse_agreement(AGREEMENT, "brands.yaml")
    with session_scope(db_url) as s:
        apply_plan(s, loaded, expand(loaded, cal, 1000), dt.date(2025, 1, 2), "tester", calendar_fingerprint(cal))
        ids = {o.key: o.id for o in s.execute(select(Occurrence)).scalars()}
        record_completion(
            s, CompletionReport(ids["1.1@2025-12-20"], "渝北区/区委社会工作部", metrics={"brand_projects": 2}), "t"
        )
        record_completion(
            s,
            CompletionReport(
                ids["1.2@2025-12-20"], "长寿区/区委社会工作部", participants=40, metrics={"brand_projects": 1}
            ),
            "t",
        )
    return ids


def _rows(summary: audit.AuditSummary) -> dict[tuple[str, str, str], tuple[int, int, bool]]:
    return {(r.level, r.scope, r.metric): (r.reported, r.target, r.declared) for r in summary.rollup}


def test_term_targets_roll_up_clause_programme_agreement(db_url: str) -> None:
    _plan(db_url)
    settings = Settings(database_url=db_url)
    summary = audit.summarise(settings, AuditFilter(), audit.audit_day())
    rows = _rows(summary)
    assert rows[("agreement", "", "brand_projects")] == (3, 12, True)
    assert rows[("programme", "1", "brand_projects")] == (3, 10, True)
    assert rows[("clause", "1.1", "brand_projects")] == (2, 6, True)
    assert rows[("clause", "1.2", "brand_projects")] == (1, 4, True)
    # Not written at a level: the sum below it; a clause's sum of its occurrences' targets (3 years × 50).
    assert rows[("clause", "1.2", "participants")] == (40, 150, False)
    assert rows[("programme", "1", "participants")] == (40, 150, False)
    assert rows[("programme", "2", "volunteers")] == (0, 90, False)
    assert rows[("agreement", "", "volunteers")] == (0, 90, False)
    assert [r.level for r in summary.rollup][:1] == ["agreement"]
    brand = next(r for r in summary.rollup if r.metric == "brand_projects")
    assert brand.label == "社工品牌项目数" and brand.ratio == 0.25

    markdown = summary_markdown(summary)
    assert "## 协议期目标进度（条款 → 工程 → 协议）" in markdown
    assert "| 协议 | brands | 全协议 | 品牌共建协议 | 社工品牌项目数 | 3 | 12 | 25.0% | 协议期总目标 |" in markdown
    assert "| 条款 | brands | 第1.2条 | 品牌项目年度交流 | 参与人数 | 40 | 150 | 26.7% | 各次任务目标之和 |" in markdown
    assert "brand_projects" not in markdown and "volunteers" not in markdown

    # A filter narrower than an agreement rolls up only what it let through.
    narrow = audit.summarise(settings, AuditFilter(programme="2"), audit.audit_day())
    assert {(r.level, r.scope) for r in narrow.rollup} == {("agreement", ""), ("programme", "2"), ("clause", "2.1")}


def test_export_and_cli_show_chinese_metric_names_and_term_targets(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _plan(db_url)
    settings = Settings(database_url=db_url)
    target = tmp_path / "export.csv"
    audit.export_file(settings, AuditFilter(agreement="brands"), audit.audit_day(), target)
    rows = list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines()))
    header = rows[0]
    by_clause = {r[header.index("条款")]: r for r in rows[1:] if r[header.index("报告次数")] == "1"}
    assert by_clause["1.2"][header.index("指标（已报告/目标）")] == "社工品牌项目数=1/0；参与人数=40/50"
    assert by_clause["1.1"][header.index("条款协议期总目标")] == "社工品牌项目数=6"
    assert "brand_projects" not in target.read_text(encoding="utf-8-sig")

    monkeypatch.setenv("COOP_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["audit", "progress", "--agreement", "brands"], env={"COLUMNS": "250"})
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "协议期目标进度" in result.output and "社工品牌项目数" in result.output
    assert "全协议" in result.output and "协议期总目标" in result.output


def test_one_label_table_and_agreement_labels_win() -> None:
    assert METRIC_LABELS["participants"] == "参与人数"
    for raw in ("cases", "volunteers", "cities", "brand_projects"):
        assert metric_label(raw) != raw
    assert metric_label("brand_projects", {"brand_projects": "品牌"}) == "品牌"
    assert metric_label("unheard_of") == "unheard_of"
    assert target_text({"cases": 3, "participants": 30}) == "案例数不少于3；参与人数不少于30"


def test_total_targets_are_checked_and_leave_old_hashes_alone() -> None:
    plain = parse_agreement(AGREEMENT.replace("        total_targets: {brand_projects: 6}\n", ""), "a.yaml")
    assert TermPlan.of(plain.agreement).clause_totals == {"1.2": {"brand_projects": 4}}
    with pytest.raises(AgreementError):
        parse_agreement(AGREEMENT.replace("{brand_projects: 6}", "{BrandProjects: 6}"), "a.yaml")
    with pytest.raises(AgreementError):
        parse_agreement(AGREEMENT.replace("{brand_projects: 6}", "{brand_projects: -1}"), "a.yaml")


def test_roll_up_without_reports_shows_declared_targets_at_zero() -> None:
    plan = TermPlan.of(parse_agreement(AGREEMENT, "a.yaml").agreement)
    rows = {(r.level, r.scope, r.metric): (r.reported, r.target) for r in roll_up([], {"brands": plan})}
    assert rows[("clause", "1.1", "brand_projects")] == (0, 6)
    assert rows[("agreement", "", "brand_projects")] == (0, 12)


def test_notifications_name_metrics_as_the_agreement_does(db_url: str) -> None:
    ids = _plan(db_url)
    with session_scope(db_url) as s:
        items = digest_items(s, [ids["2.1@2026-12-20"], ids["1.1@2026-12-20"]])
    (_, volunteers), (_, brands) = items[ids["2.1@2026-12-20"]], items[ids["1.1@2026-12-20"]]
    assert volunteers.metric_labels == {"brand_projects": "社工品牌项目数", "volunteers": "志愿服务人次"}
    _, body = render_digest(Digest("长寿区区委社会工作部", "长寿区", "department", [volunteers, brands]))
    assert "目标：志愿服务人次不少于30" in body
    assert "volunteers" not in body and "brand_projects" not in body
    assert body.count("目标：") == 1  # a term target's metric has no per-occurrence quota to show
