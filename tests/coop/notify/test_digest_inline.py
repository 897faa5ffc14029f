"""Issue 16: the digest writes each item inline instead of `{% include %}`-ing it (a quarter of the rendering at
province scale). The output must not change by a byte: every branch of the item, every role, hostile text, against
the include-based templates as they were (`reference_templates/`, kept only for this comparison).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

from digest_samples import sample_item
from jinja2 import FileSystemLoader

from coop.notify.digest import Digest, DigestItem
from coop.notify.templates import _tidy, environment, render_digest, section_of, sections

REFERENCE = Path(__file__).parent / "reference_templates"
TODAY = date(2026, 3, 20)
SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(1)>"
ROBOT_TRAPS = '[点我](http://evil.invalid/x)![x](http://evil.invalid/x.png)<font color="warning">紧急</font>@all'
# Text that would mean something to Jinja, markdown or a line-oriented reader if it were not taken as text.
HOSTILE = [
    SCRIPT,
    ROBOT_TRAPS,
    "{{ digest.department }}{% if true %}块{% endif %}{# 注释 #}",
    "第一行\n# 注入标题\r\n- 注入列表\u2028`代码` *强调* \\反斜杠 ＃",
    "",
]


def _reference(digest: Digest) -> str:
    """The body as the include-based templates rendered it, with the shipped environment's filters and finalize."""
    env = environment().overlay(loader=FileSystemLoader(REFERENCE))
    today = digest.generated_on
    body = env.get_template("digest.md.j2").render(
        digest=digest,
        sections=sections(digest.items, today),
        escalation=any(i.notice == "escalation" for i in digest.items),
        overdue=sum(1 for i in digest.items if section_of(i, today)[1] < 0),
    )
    return _tidy(body)


def _items() -> list[DigestItem]:
    """Every branch of the item template at least once, hostile text in every text field along the way."""
    base = sample_item(1, "due_today", TODAY)
    kinds = ["cancelled", "changed", "planned", "reminder_t7", "reminder_t1", "due_today", "escalation"]
    out = []
    for n, (kind, operations, provisional, windowed, overdue, responsible, text) in enumerate(
        itertools.product(
            kinds,
            [(), ("延期至 2026-05-08（原因：场地改造；协调人：张协调）", SCRIPT)],
            [False, True],
            [False, True],
            [0, 3],
            [None, "渝北区/区委社会工作部"],
            HOSTILE,
        )
    ):
        due = TODAY - timedelta(days=4) if overdue else TODAY + timedelta(days=n % 9)
        out.append(
            replace(
                base,
                occurrence_id=1000 + n,
                notice=kind,  # type: ignore[arg-type]
                operations=operations,
                provisional=provisional,
                due_date=due,
                window_start=due - timedelta(days=7) if windowed else due,
                days_overdue=overdue,
                workdays_left=None if n % 3 else n % 5,
                responsible=responsible if responsible is None else f"{responsible}{text}",
                clause_title=f"联合招商推介会{text}",
                agreement_title=f"框架协议{text}",
                programme_title=text or "产业协同",
                clause_id=["2.1", "第3条", f"附件{text}"][n % 3],
                host=None if n % 4 == 0 else f"广安市{text}",
                location=None if n % 5 == 0 else f"政务服务中心{text}",
                evidence=[] if n % 2 else ["会议纪要", text],
                targets=[{}, {"participants": 30}, {"participants": 0, "sessions": 2}][n % 3],
                metric_labels={"sessions": f"场次{text}"} if n % 7 == 0 else {},
                report_url=None if n % 2 else f"https://coop.example/r/tok{n}.sig-_",
            )
        )
    return out


def test_inline_items_render_byte_for_byte_as_the_included_ones() -> None:
    items = _items()
    checked = 0
    for role, department in itertools.product(
        ["department", "leader", "coordinator"], ["渝北区商务委", f"渝北区商务委{ROBOT_TRAPS}", "广安 市'局"]
    ):
        for start in range(0, len(items), 97):  # digests of ~100 items, each section with several
            digest = Digest(department, f"渝北区{SCRIPT}", role, items[start : start + 97], TODAY)  # type: ignore[arg-type]
            _, body = render_digest(digest)
            assert body == _reference(digest)
            checked += 1
    assert checked > 100
