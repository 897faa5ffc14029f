"""The Chinese Markdown each flow run leaves in the Prefect UI.

Counts that add up, links that resolve, errors in plain words.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
from collections import Counter

from conftest import FIXTURES

from coop.agreement.loader import load_agreement
from coop.artifacts import (
    OVERDUE_KEY,
    PLAN_INDEX_KEY,
    PlanRun,
    artifact_link,
    completion_key,
    completion_markdown,
    flow_run_link,
    plan_index_markdown,
    plan_key,
    plan_markdown,
    planned_counts,
    sweep_markdown,
    user_error_markdown,
    user_error_text,
)
from coop.calendar import WorkdayCalendar
from coop.errors import AgreementError, CoopError, Problem
from coop.occurrence_status import SweepResult
from coop.planning import PlanChange, PlanResult, expand
from coop.report import CompletionReport
from coop.store.status import OccurrenceDetail

LOADED = load_agreement(FIXTURES / "small.yaml")
PLANNED = expand(LOADED, WorkdayCalendar(), 1000)
DAY = dt.date(2026, 3, 20)


def detail(oid: int, due: dt.date, agreement: str = "test-small", title: str = "测试合作协议") -> OccurrenceDetail:
    return OccurrenceDetail(
        occurrence_id=oid,
        agreement_id=agreement,
        agreement_title=title,
        clause="1.1",
        clause_title="联合培训",
        party="渝北区",
        department="区委社会工作部",
        host="长寿区",
        due_date=due,
        status="overdue",
        targets={"participants": 50},
    )


def test_planned_counts_follow_the_planner_in_file_order() -> None:
    counts = planned_counts(LOADED, PLANNED)
    expected = Counter((p.programme, f"{p.party}/{p.department}") for p in PLANNED)
    assert {(c.programme, c.department): c.occurrences for c in counts} == expected
    assert [c.programme for c in counts] == sorted((c.programme for c in counts), key=["1", "6"].index)
    assert sum(c.occurrences for c in counts) == len(PLANNED) == 15


def test_plan_markdown_has_counts_total_and_links() -> None:
    result = PlanResult("test-small", 1, unchanged=False, created=15)
    text = plan_markdown(result, "测试合作协议", planned_counts(LOADED, PLANNED), [])
    assert text.startswith("# 计划结果：测试合作协议")
    assert "| 1 党建联建工程 | 渝北区/区委社会工作部 |" in text
    assert "| **合计** | | **15** |" in text
    for key in (PLAN_INDEX_KEY, OVERDUE_KEY, completion_key("test-small")):
        assert f"]({artifact_link(key)})" in text


def test_replan_shows_what_changed() -> None:
    result = PlanResult(
        "test-small",
        2,
        unchanged=False,
        updated=1,
        cancelled=1,
        kept=13,
        changes=[
            PlanChange("moved", "1.1", "1.1@2026-03-31", "渝北区", dt.date(2026, 3, 31), dt.date(2026, 4, 30)),
            PlanChange(
                "cancelled", "6.1", "6.1@2026-03-10", "渝北区", dt.date(2026, 3, 10), None, "条款已从协议中删除"
            ),
        ],
    )
    text = plan_markdown(result, "测试合作协议", planned_counts(LOADED, PLANNED), [])
    assert "调整 **1** 项，取消 **1** 项" in text
    assert "- 条款 1.1：调整日期 1 项：2026-03-31 → 2026-04-30" in text
    assert "- 条款 6.1：取消 1 项（条款已从协议中删除）：2026-03-10" in text


def test_plan_index_lists_failures_with_their_reason_and_links_to_each_run() -> None:
    ok = PlanRun(
        "agreements/a.yaml", "11111111-1111-1111-1111-111111111111", PlanResult("a", 3, unchanged=True, kept=7)
    )
    bad = PlanRun(
        "agreements/b.yaml", "22222222-2222-2222-2222-222222222222", None, "b.yaml:12: unknown party '渝中区'"
    )
    text = plan_index_markdown(DAY, [ok, bad])
    assert "共 2 份协议，成功 **1** 份，失败 **1** 份" in text
    assert "第 3 版，未变化" in text and f"[计划报告]({artifact_link(plan_key('a'))})" in text
    assert "**失败**：b.yaml:12: unknown party '渝中区'" in text
    assert f"[运行记录]({flow_run_link(bad.flow_run_id)})" in text


def test_sweep_groups_overdue_by_agreement_and_counts_days() -> None:
    items = [detail(7, dt.date(2026, 3, 10)), detail(9, dt.date(2026, 3, 19), "other", "另一协议")]
    text = sweep_markdown(DAY, SweepResult(became_due=2, became_overdue=1), 5, items)
    assert "本次：**2** 项进入办理期，**1** 项转为逾期" in text
    assert "## 逾期清单（共 5 项）" in text
    assert f"### [测试合作协议]({artifact_link(plan_key('test-small'))})（1 项）" in text
    # Overdue days are working days: 10 calendar days from Tue 10 March to Fri 20 March, two weekends off → 8.
    assert re.search(r"\| 7 \| 第1\.1条 \| 联合培训 \| 渝北区/区委社会工作部 \| 2026年3月10日（周二） \| 8 \|", text)
    assert "| 9 |" in text and "| 1 |" in text
    assert "另有 3 项逾期任务未列出" in text


def test_sweep_without_overdue_says_so() -> None:
    assert "目前没有逾期任务" in sweep_markdown(DAY, SweepResult(0, 0), 0, [])


def test_completion_shows_metrics_against_targets() -> None:
    report = CompletionReport(
        42,
        "渝北区/区委社会工作部",
        "partial",
        30,
        {"participants": 30},
        ["https://example.org/签到表.pdf"],
        "第二场待办",
    )
    text = completion_markdown(report, 17, detail(42, dt.date(2026, 3, 31)))
    assert "# 完成情况已登记：任务 #42" in text
    assert "| 完成情况 | 部分完成 |" in text and "| 台账事件 | #17 |" in text
    assert "| participants | 30 | 50 |" in text
    assert "- https://example.org/签到表.pdf" in text
    assert f"[测试合作协议]({artifact_link(plan_key('test-small'))})" in text


def test_table_cells_cannot_break_the_table() -> None:
    report = CompletionReport(1, "a/b", "cannot", None, {}, [], "原因 | 另起\n一行")
    assert "| 说明 | 原因 \\| 另起 一行 |" in completion_markdown(report, 1, None)


def test_user_errors_read_as_plain_lines_with_file_and_line() -> None:
    exc = AgreementError(
        [Problem("agreements/x.yaml", 12, "unknown party '渝中区'"), Problem("agreements/x.yaml", None, "bad")]
    )
    text = user_error_text(exc)
    assert text.splitlines()[0] == "协议文件有误（共 2 处），本次未写入任何数据："
    assert "  agreements/x.yaml:12: unknown party '渝中区'" in text.splitlines()
    assert "| agreements/x.yaml | 12 | unknown party '渝中区' |" in user_error_markdown(exc)
    assert user_error_text(CoopError("找不到任务 #9")) == "无法完成，本次未写入任何数据：找不到任务 #9"


def test_links_resolve_in_both_prefect_uis() -> None:
    """Every page that shows an artifact is three levels below the UI root (V1 at /, V2 at /v2/)."""
    for root in ("/", "/v2/"):
        for page in ("runs/flow-run/abc", "artifacts/artifact/abc", "artifacts/key/plan-x"):
            here = posixpath.dirname(root + page)
            assert (
                posixpath.normpath(posixpath.join(here, artifact_link("overdue-list")))
                == root + "artifacts/key/overdue-list"
            )
            assert posixpath.normpath(posixpath.join(here, flow_run_link("r1"))) == root + "runs/flow-run/r1"


def test_keys_are_what_prefect_accepts() -> None:
    assert plan_key("zhuzhou-elderly-room-2024") == "plan-zhuzhou-elderly-room-2024"
    assert plan_key("A.b_c") == "plan-a-b-c"
    assert completion_key("协议") == "completion-agreement"
