"""The run forms' vocabulary: Chinese titles, empty (not None) defaults, Chinese choices and typed metric rows.

Prefect titles each form field with the parameter's identifier and reads descriptions from the docstring's `Args:`
section; a `title` in `json_schema_extra` is applied last, so that is where the Chinese label goes. Text and list
fields default to empty rather than None. Dates and numbers that default to "today"/"the setting" are `Blank`: their
form field is the plain date or number, without the "Property is type None" toggle, and may be left empty.
"""

from __future__ import annotations

import datetime as dt
import inspect
from enum import StrEnum
from typing import Annotated, Any, get_origin

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import MISSING, CoreSchema

from coop.errors import FormInvalid
from coop.labels import METRIC_LABELS, OUTCOME_LABELS
from coop.report import Outcome


def label(title: str, description: str, **constraints: Any) -> Any:
    """A form field with a Chinese label and description (constraints as in `pydantic.Field`)."""
    return Field(title=title, description=description, json_schema_extra={"title": title}, **constraints)


# The default of a `Blank` field as the form sees it: pydantic's MISSING is the one default it leaves out of the schema.
UNSET: Any = MISSING


def _unset_is_none(value: object) -> object:
    return None if value is MISSING else value


class Blank:
    """A date or number the form may leave empty, meaning the flow's default (today, the setting, "not counted").

    Its JSON schema is the plain type with neither the `null` choice (which Prefect's UI draws as a "Property is type
    None" toggle) nor a default (the UI would fill in null and the server refuse it): Prefect's server accepts null or
    nothing for an optional property without a default. The Python default stays None (see `form_signature`).
    """

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        kinds = [option for option in json_schema.get("anyOf", []) if option.get("type") != "null"]
        if len(kinds) == 1:
            del json_schema["anyOf"]
            json_schema.update(kinds[0])
        return json_schema

    def __hash__(self) -> int:
        return hash(type(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Blank)


# An `X | None` the form may leave empty (spelled out for mypy): the form's UNSET default validates to None.
OptionalDate = Annotated[dt.date | None, BeforeValidator(_unset_is_none), Blank(), Field(validate_default=True)]
Today = Annotated[OptionalDate, label("基准日", "默认今天（上海时区），格式 YYYY-MM-DD")]
# A task number the form may leave empty (an operation that creates the task has none yet).
OptionalOccurrenceId = Annotated[
    Annotated[int, Field(ge=1, le=2**31 - 1)] | None,
    BeforeValidator(_unset_is_none),
    Blank(),
    Field(validate_default=True),
]
WaitSeconds = Annotated[
    Annotated[float, Field(ge=0, le=3600)] | None,
    BeforeValidator(_unset_is_none),
    Blank(),
    Field(validate_default=True),
    label("最长等待秒数", "本次运行等待重试的最长秒数（默认按系统设置 COOP_NOTIFY_WAIT_SECONDS）"),
]
Participants = Annotated[
    Annotated[int, Field(ge=0, le=2**31 - 1)] | None,
    BeforeValidator(_unset_is_none),
    Blank(),
    Field(validate_default=True),
    label("参与人数", "不填表示未统计"),
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


def is_blank(annotation: object) -> bool:
    return get_origin(annotation) is Annotated and any(
        isinstance(m, Blank) for m in getattr(annotation, "__metadata__", ())
    )


def form_signature(signature: inspect.Signature) -> inspect.Signature:
    """The flow's signature as Prefect reads it for the form: a `Blank` parameter's None default becomes UNSET."""
    return signature.replace(
        parameters=[
            p.replace(default=UNSET) if p.default is None and is_blank(p.annotation) else p
            for p in signature.parameters.values()
        ]
    )
