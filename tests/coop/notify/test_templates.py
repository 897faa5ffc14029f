"""Chinese digests: one message per recipient, every item saying what/when/where/who/which clause/how to report."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from digest_samples import sample_item
from peers.robot_sink import RobotSink

from coop.notify.channels import deliver, request_count
from coop.notify.digest import Digest, DigestItem
from coop.notify.templates import (
    clause_ref,
    cn_date,
    done_command,
    render_digest,
    render_digest_summary,
    render_weekly,
    section_of,
)
from coop.services.notifications import MAX_ROBOT_PARTS

TODAY = date(2025, 3, 13)  # a Thursday


def item(occurrence_id: int, notice: str = "due_today", due: date = TODAY, **changes: object) -> DigestItem:
    return sample_item(occurrence_id, notice, due, **changes)


def digest(*items: DigestItem, role: str = "department") -> Digest:
    return Digest("渝北区商务委", "渝北区", role, list(items), TODAY)  # type: ignore[arg-type]


def test_cn_date_has_weekday() -> None:
    assert cn_date(date(2025, 3, 14)) == "2025年3月14日（星期五）"
    assert cn_date(date(2025, 3, 16)) == "2025年3月16日（星期日）"


@pytest.mark.parametrize(
    ("raw", "shown"), [("2.1", "第2.1条"), ("3", "第3条"), ("第四条", "第四条"), ("A-2", "条款A-2")]
)
def test_clause_ref(raw: str, shown: str) -> None:
    assert clause_ref(raw) == shown


def test_one_message_covers_every_item_grouped_by_notice() -> None:
    items = [
        item(1, "planned", date(2025, 6, 10), window_start=date(2025, 6, 2)),
        item(2, "reminder_t7", date(2025, 3, 24), workdays_left=7),
        item(3, "reminder_t1", date(2025, 3, 14)),
        item(4, "due_today", clause_id="3.2", clause_title="人才交流"),
        item(5, "escalation", date(2025, 3, 7), days_overdue=4, escalation_round=0),
        item(6, "cancelled", date(2025, 4, 1)),
        item(7, "changed", date(2025, 4, 8)),
    ]

    subject, body = render_digest(digest(*items))

    assert all(f"#{i}" in body for i in range(1, 8))
    headings = re.findall(r"\*\*【(.+?)】\*\*", body)
    assert headings == ["已逾期4个工作日", "今日到期", "明日到期", "7个工作日后到期", "新任务", "任务变更", "任务取消"]
    assert subject.startswith("【逾期督办】渝北区商务委")
    assert "另有6项任务提醒" in subject


def test_item_says_what_when_where_who_which_clause_and_how_to_report() -> None:
    _, body = render_digest(digest(item(42, "reminder_t1", date(2025, 3, 14), window_start=date(2025, 3, 10))))

    assert "**联合招商推介会**（会议，任务编号 #42）" in body
    assert "2025年3月10日（星期一）至2025年3月14日（星期五）截止" in body
    assert "地点：渝北区政务服务中心" in body
    assert "承办方：广安市" in body
    assert "《川渝毗邻地区合作框架协议》第2.1条（产业协同）" in body
    assert "需提交材料：会议纪要、签到表" in body
    assert "参与人数不少于30" in body
    assert "`coop done 42 --department 渝北区商务委`" in body


def test_report_url_replaces_cli_instructions() -> None:
    _, body = render_digest(digest(item(9, report_url="https://coop.example.cn/o/9/report")))

    assert "完成后请登记：https://coop.example.cn/o/9/report" in body
    assert "coop done" not in body


def test_provisional_dates_are_marked() -> None:
    _, body = render_digest(digest(item(1, "planned", date(2027, 2, 5), provisional=True)))

    assert "暂定，节假日安排待国务院公布" in body


def test_cancelled_item_needs_no_report() -> None:
    _, body = render_digest(digest(item(6, "cancelled", date(2025, 4, 1))))

    assert "此任务已取消，无需再办理" in body and "coop done" not in body


def test_escalation_for_leader() -> None:
    subject, body = render_digest(digest(item(5, "escalation", date(2025, 3, 7), days_overdue=4), role="leader"))

    assert subject == "【逾期督办】渝北区商务委：1项任务逾期未办结（3月13日）"
    assert body.startswith("渝北区商务委负责同志：")
    assert "请督促尽快办理" in body and "已逾期4个工作日" in body


def test_ordinary_subject_summarises_sections() -> None:
    subject, _ = render_digest(digest(item(1), item(2), item(3, "planned", date(2025, 5, 1))))

    assert subject == "【协作通】渝北区商务委任务提醒：今日到期2项、新任务1项（3月13日）"


def test_coordinator_greeting() -> None:
    _, body = render_digest(digest(item(1), role="coordinator"))
    assert body.startswith("渝北区协调联络人：")


def test_heading_follows_dates_when_a_reminder_is_late() -> None:
    late_t7 = item(2, "reminder_t7", TODAY + timedelta(days=5), workdays_left=3)
    friday_t1_for_monday = item(3, "reminder_t1", date(2025, 3, 17))
    caught_up_due_today = item(4, "due_today", TODAY - timedelta(days=1), days_overdue=1)

    assert section_of(late_t7, TODAY)[0] == "3个工作日后到期"
    assert section_of(friday_t1_for_monday, TODAY)[0] == "下一个工作日到期"
    assert section_of(caught_up_due_today, TODAY)[0] == "已逾期1个工作日"


def test_done_command_quotes_unsafe_department_names() -> None:
    assert done_command(item(1), "渝北区商务委") == "coop done 1 --department 渝北区商务委"
    assert done_command(item(1), "Dept of Trade") == "coop done 1 --department 'Dept of Trade'"


def test_weekly_digest_lists_overdue_and_next_two_weeks() -> None:
    items = [
        item(1, "escalation", date(2025, 3, 5), days_overdue=6),
        item(2, "reminder_t1", date(2025, 3, 14)),
        item(3, "reminder_t7", date(2025, 3, 20)),
        item(4, "planned", date(2025, 6, 1)),  # beyond the horizon
        item(5, "cancelled", date(2025, 3, 18)),
    ]

    subject, body = render_weekly(digest(*items))

    assert subject == "【协作通周报】渝北区商务委：未来两周2项任务，逾期1项（3月13日）"
    assert re.findall(r"\*\*【(.+?)】\*\*", body) == ["已逾期", "本周", "下周"]
    assert "3月14日（星期五） #2" in body and "3月20日（星期四） #3" in body
    assert "#4" not in body and "#5" not in body
    assert "已逾期6个工作日" in body


def test_weekly_digest_when_nothing_is_due() -> None:
    _, body = render_weekly(digest())
    assert "未来两周没有到期任务" in body


def test_large_digest_reaches_wecom_intact(robot_sink: RobotSink) -> None:
    items = [item(i, "reminder_t7", TODAY + timedelta(days=10), workdays_left=7) for i in range(1, 41)]
    subject, body = render_digest(digest(*items))

    assert deliver(robot_sink.wecom_url(), subject, body).ok
    parts = [m.body["markdown"]["content"] for m in robot_sink.messages("wecom")]
    assert len(parts) > 1
    joined = "".join(parts)
    assert all(f"任务编号 #{i}）" in joined for i in range(1, 41))


def test_a_coordinator_digest_of_276_items_fits_one_robot_post_as_a_summary() -> None:
    """Issue 13, finding 7: 276 escalations were 45 WeCom posts; the summary is one, and names what matters."""
    clauses = [(f"{p}.{c}", f"条款任务{p}-{c}") for p in range(1, 7) for c in range(1, 5)]  # 24 clauses
    items = [
        item(
            1000 + i,
            "escalation",
            TODAY - timedelta(days=10 + i % 30),
            clause_id=clauses[i % len(clauses)][0],
            clause_title=clauses[i % len(clauses)][1],
            days_overdue=5 + i % 30,
            responsible=f"单位{i % 9}/部门{i % 4}",
        )
        for i in range(276)
    ]
    big = digest(*items, role="coordinator")
    subject, full = render_digest(big)
    assert request_count("coop-wecom://k", subject, full) > MAX_ROBOT_PARTS

    summary_subject, summary = render_digest_summary(big, first=10, list_url="http://127.0.0.1:8000/d/tok")

    assert summary_subject == subject
    assert request_count("coop-wecom://k", subject, summary) == 1
    assert "共有276项合作协议任务需要关注，其中276项已逾期" in summary
    assert "【最紧急的10项】" in summary and summary.count("任务编号 #") == 10
    assert "#1029" in summary  # the most overdue first: 34 working days (i = 29)
    assert "第1.1条 条款任务1-1：12项（已逾期12项）" in summary
    assert "……另有9个条款的" in summary  # 15 of 24 clauses listed, the rest counted
    assert "http://127.0.0.1:8000/d/tok" in summary
