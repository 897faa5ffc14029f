"""Reading a signed agreement's paragraphs: what each numbering and signature form becomes."""

from __future__ import annotations

import datetime as dt

from ruamel.yaml import YAML

from coop.agreement.check import check_text
from coop.agreement.draft import draft_yaml, read_paragraphs

PARAGRAPHS = [
    "  关于共建社区服务站的合作协议  ",
    "甲方：某某区民政局",
    "乙方：某某社会工作服务中心",
    "甲方：负责提供场地、水电，并指定专人对接服务站的日常运行，每季度听取一次工作汇报并提出改进意见。",
    "一、服务站建设",
    "1. 乙方派驻两名持证社工。",
    "每月至少开展四次小组活动；",
    "2. 双方每半年召开一次联席会议。",
    "二、经费保障",
    "甲方每年安排专项经费。",
    "甲方（盖章）：某某区民政局",
    "法定代表人：张三",
    "乙方（签章）：某某社会工作服务中心  委托代理人：李四",
    "签订日期：2025年3月1日",
]


def test_numbered_items_continuations_duties_and_signatures() -> None:
    reading = read_paragraphs(PARAGRAPHS)
    assert reading.title == "关于共建社区服务站的合作协议"
    assert reading.parties == {"甲方": "某某区民政局", "乙方": "某某社会工作服务中心"}
    assert reading.signed == dt.date(2025, 3, 1)
    first, second = reading.programmes
    assert first.title == "服务站建设"
    assert [c.text for c in first.clauses] == [
        "乙方派驻两名持证社工。\n每月至少开展四次小组活动；",
        "双方每半年召开一次联席会议。",
    ]
    assert second.clauses == [] and second.body == ["甲方每年安排专项经费。"]


def test_draft_is_yaml_whose_only_problems_are_its_todos() -> None:
    text = draft_yaml(PARAGRAPHS, "bad id with spaces")
    data = YAML(typ="safe", pure=True).load(text)
    assert "id" not in data and "# TODO 协议编号 id" in text
    assert [c["text"] for c in data["programmes"][1]["clauses"]] == ["甲方每年安排专项经费。"]
    assert "# TODO 任务类型 kind：按原文推测为 meeting；" in text  # 联席会议
    problems = check_text(text, "d.yaml")
    assert problems and all(p.message.startswith("待定事项：") for p in problems)


def test_a_document_without_structure_still_drafts_and_says_what_is_missing() -> None:
    text = draft_yaml(["合作意向书", "双方同意加强合作。"])
    assert "# TODO 参与方：文中未找到签署栏" in text and "# TODO 合作项目：文中未找到“一、二、”标题" in text
    assert "# TODO 签署日期 signed" in text and "（文中未找到有效期）" in text
    messages = [p.message for p in check_text(text, "d.yaml")]
    assert "'parties': 须是列表，如 [a, b] 或每行一个 - a (Input should be a valid list)" in messages
