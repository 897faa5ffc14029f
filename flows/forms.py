"""The run forms' vocabulary: Chinese titles, empty (not None) defaults, Chinese choices and typed metric rows.

Prefect titles each form field with the parameter's identifier and reads descriptions from the docstring's `Args:`
section; a `title` in `json_schema_extra` is applied last, so that is where the Chinese label goes. Text and list
fields default to empty rather than None. Dates and numbers that default to "today"/"the setting" stay nullable:
the UI submits a field's default, and a schema without null would refuse the run.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from coop.errors import FormInvalid
from coop.labels import METRIC_LABELS, OUTCOME_LABELS
from coop.report import Outcome


def label(title: str, description: str, **constraints: Any) -> Any:
    """A form field with a Chinese label and description (constraints as in `pydantic.Field`)."""
    return Field(title=title, description=description, json_schema_extra={"title": title}, **constraints)


Today = Annotated[
    dt.date | None,
    label("基准日", "默认今天（上海时区），格式 YYYY-MM-DD"),
]
WaitSeconds = Annotated[
    float | None,
    label("最长等待秒数", "本次运行等待重试的最长秒数（默认按系统设置 COOP_NOTIFY_WAIT_SECONDS）", ge=0, le=3600),
]
Coordinator = Annotated[
    str, label("协调人", "持有有效具名协调人令牌的协调人姓名（记入台账）", min_length=1, max_length=100)
]


class OutcomeChoice(StrEnum):
    """完成情况, shown in Chinese; the English codes (done/partial/cannot) are still accepted from the API and CLI."""

    DONE = OUTCOME_LABELS["done"]
    PARTIAL = OUTCOME_LABELS["partial"]
    CANNOT = OUTCOME_LABELS["cannot"]

    @classmethod
    def _missing_(cls, value: object) -> OutcomeChoice | None:
        label_ = OUTCOME_LABELS.get(str(value))
        return cls(label_) if label_ else None

    @property
    def code(self) -> Outcome:
        codes: dict[str, Outcome] = {"已完成": "done", "部分完成": "partial", "无法完成": "cannot"}
        return codes[self.value]


_METRIC_CODES = {name: code for code, name in METRIC_LABELS.items()}


class MetricEntry(BaseModel):
    """One row of the metrics table: which target, how many."""

    model_config = ConfigDict(extra="forbid")

    name: str = label("指标", "协议中指标的名称或代码，如 参与人数 或 participants", min_length=1, max_length=100)
    value: int = label("数值", "本次完成的数量", ge=0, le=2**31 - 1)

    @property
    def code(self) -> str:
        return _METRIC_CODES.get(self.name.strip(), self.name.strip())


def metrics_dict(rows: list[MetricEntry]) -> dict[str, int]:
    """The rows as the report's {code: value}; the same metric twice is a mistake, not a sum."""
    out: dict[str, int] = {}
    for row in rows:
        if row.code in out:
            raise FormInvalid(f"指标“{row.name}”填写了两次，请合并为一行")
        out[row.code] = row.value
    return out
