"""A YAML draft from the paragraphs of a signed agreement: what the text says is filled in, every decision left as
a `# TODO` comment that `coop check` reports (schedule, responsible department, kind, the parties' departments)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import get_args

from coop.agreement.schema import ClauseKind

_NUMERALS = "一二三四五六七八九十"
_HEADING = re.compile(rf"^\s*([{_NUMERALS}]{{1,3}})\s*[、.．]\s*(.+)$")
_ITEM = re.compile(rf"^\s*(?:[（(]\s*([{_NUMERALS}]{{1,3}})\s*[）)]|(\d{{1,2}})\s*[.．、](?!\d))\s*(.+)$")
# 甲方：XX（盖章）, 乙方（盖章）：XX, 丙方代表：XX — the roles of a Chinese contract, first to eighth party.
_PARTY = re.compile(r"^\s*([甲乙丙丁戊己庚辛]方)\s*(?:[（(][^）)]*[）)])?\s*[:：]\s*(.+?)\s*$")
_SEAL = re.compile(r"[（(]\s*(?:盖章|签章|公章|签字|签名|章)\s*[）)]|(?:法定)?代表人?\s*[:：].*$|\s{2,}.*$")
_SIGNATORY = re.compile(r"^\s*(?:法定代表人|委托代理人|授权代表|代表|负责人|签字|签名|盖章)[^：:]{0,6}[:：]")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_SIGNED = re.compile(r"签[订署约]|日期")
_TERM = re.compile(r"有效期[^。；;]*")
_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")

# Keywords of a clause's text → the kind it most likely is: a hint in the TODO, never written as a value.
_KIND_WORDS: tuple[tuple[str, ClauseKind], ...] = (
    ("培训", "training"),
    ("交流", "exchange"),
    ("调研", "survey"),
    ("普查", "survey"),
    ("联席会", "meeting"),
    ("会议", "meeting"),
    ("志愿", "volunteer_event"),
    ("试点", "pilot_reform"),
    ("改革", "pilot_reform"),
    ("巡查", "patrol"),
    ("巡河", "patrol"),
    ("宣传", "campaign"),
    ("报送", "report"),
    ("报告", "report"),
    ("研究", "research"),
    ("服务", "service"),
    ("建设", "construction"),
)


@dataclass
class DraftClause:
    number: str
    text: str


@dataclass
class DraftProgramme:
    title: str
    clauses: list[DraftClause] = field(default_factory=list)
    body: list[str] = field(default_factory=list)


@dataclass
class Reading:
    """What the document says, before it is written out."""

    title: str = ""
    parties: dict[str, str] = field(default_factory=dict)
    signed: dt.date | None = None
    term: str | None = None
    programmes: list[DraftProgramme] = field(default_factory=list)


def read_paragraphs(paragraphs: Iterable[str]) -> Reading:
    """Title; parties (the signature block wins over the preamble); programmes `一、`; clauses `（一）`, `1.`."""
    reading = Reading()
    current: DraftProgramme | None = None
    last: DraftClause | None = None
    for raw in paragraphs:
        text = raw.strip().replace("\u3000", " ")
        if not text:
            continue
        if not reading.title:
            reading.title = text
            continue
        if party := _PARTY.match(text):
            name = _SEAL.sub("", party.group(2)).strip(" ：:")
            if 0 < len(name) <= 60:  # longer is a duty of that party written as `甲方：负责……`, not a name
                reading.parties[party.group(1)] = name
                if reading.programmes:  # the signature block: nothing after it belongs to a clause
                    current, last = None, None
                continue
        if _SIGNATORY.match(text):
            continue
        if (date := _DATE.search(text)) and _SIGNED.search(text) and len(text) < 40:
            with contextlib.suppress(ValueError):  # an impossible date in the document stays a TODO
                reading.signed = dt.date(*(int(g) for g in date.groups()))
            continue
        if reading.term is None and (term := _TERM.search(text)):
            reading.term = term.group().strip()
        if heading := _HEADING.match(text):
            current = DraftProgramme(heading.group(2).strip().rstrip("。：:"))
            reading.programmes.append(current)
            last = None
        elif current is not None and (item := _ITEM.match(text)):
            last = DraftClause(str(len(current.clauses) + 1), item.group(3).strip())
            current.clauses.append(last)
        elif last is not None:
            # A line that ends mid-sentence was wrapped by the page (PDF); a finished sentence ends a paragraph.
            last.text += ("\n" if last.text[-1] in "。；;！!？?：:" else "") + text
        elif current is not None:
            current.body.append(text)
    return reading


def draft_yaml(paragraphs: Iterable[str], agreement_id: str | None = None, source: str | None = None) -> str:
    """The draft agreement file: valid YAML that `coop check` rejects until every TODO is decided and removed."""
    reading = read_paragraphs(paragraphs)
    out = [
        "# yaml-language-server: $schema=./agreement.schema.json",
        f"# 由 coop draft 从 {source or '签署文本'} 生成的草稿：原文已填入，凡须决定之处均以 TODO 注释标出。",
        "# 逐条决定并删去 TODO 后，用 coop check 检查，通过后再 coop plan。",
    ]
    if agreement_id and _IDENT.match(agreement_id):
        out.append(f"id: {_q(agreement_id)}")
    else:
        out.append("# TODO 协议编号 id：字母、数字和 -，如 yugang-social-work-2024")
    out.append(f"title: {_q(reading.title)}")
    if reading.signed:
        out.append(f"signed: {reading.signed.isoformat()}")
    else:
        out.append("# TODO 签署日期 signed：YYYY-MM-DD（文中未找到签订日期）")
    hint = f"（原文：“{reading.term}”）" if reading.term else "（文中未找到有效期）"
    out.append(f"# TODO 协议期 term：start/end，YYYY-MM-DD{hint}")
    if source:
        out.append(f"source: {_q(source)}")
    out.append("parties:")
    if not reading.parties:
        out.append("  # TODO 参与方：文中未找到签署栏（甲方：…… 乙方：……）")
    for role, name in reading.parties.items():
        out += [
            f"  - name: {_q(name)}  # {role}；简称可改短，条款中用简称",
            f"    full_name: {_q(name)}",
            "    # TODO 牵头联络部门 coordinator 与部门 departments（或改写为 ref: 组织名录中的标识）",
        ]
    out.append("programmes:")
    if not reading.programmes:
        out.append("  # TODO 合作项目：文中未找到“一、二、”标题")
    for pi, programme in enumerate(reading.programmes, 1):
        out += [f"  - id: {_q(str(pi))}", f"    title: {_q(programme.title)}", "    clauses:"]
        clauses = programme.clauses or (
            [DraftClause("1", "\n".join(programme.body))] if programme.body else [DraftClause("1", programme.title)]
        )
        for clause in clauses:
            out += _clause(f"{pi}.{clause.number}", clause.text)
    return "\n".join(out) + "\n"


def _clause(clause_id: str, text: str) -> list[str]:
    kind = next((k for word, k in _KIND_WORDS if word in text), None)
    kinds = " / ".join(get_args(ClauseKind))
    guess = f"按原文推测为 {kind}；" if kind else ""
    return [
        f"      - id: {_q(clause_id)}",
        f"        title: {_q(_title(text))}",
        f"        text: {_q(text)}",
        f"        # TODO 任务类型 kind：{guess}可选 {kinds}",
        "        # TODO 责任部门 responsible：如 {party: 简称, department: 部门} 或 {each_party: true}",
        "        # TODO 日程 recurrence：如 {every: quarter} 或 {workday: {n: 5, of: quarter}} 或 {once: YYYY-MM-DD}",
    ]


def _title(text: str) -> str:
    """The clause's first phrase, as a title the coordinator will likely shorten."""
    first = re.split(r"[。；;：:\n]", text, maxsplit=1)[0].strip()
    return first if len(first) <= 40 else first[:39] + "…"


def _q(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is one), so no document text can break the file."""
    return json.dumps(value, ensure_ascii=False)
