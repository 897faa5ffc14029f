"""Party identity (SQLite and PostgreSQL): two provinces' 省委社会工作部 stay apart; the same id is one party."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from coop.access import Role
from coop.agreement.loader import LoadedAgreement, load_agreement, parse_agreement
from coop.calendar import WorkdayCalendar
from coop.errors import AgreementError, Forbidden, UnknownOccurrence
from coop.planning import PlanResult, calendar_fingerprint, expand
from coop.report import CompletionReport
from coop.store.access import issue_token, occurrences_for_department
from coop.store.occurrences import record_completion, resolve_department
from coop.store.parties import agreement_departments
from coop.store.plans import apply_plan
from models.db import session_scope
from models.tables import Agency, Department, Occurrence

CAL = WorkdayCalendar()
TODAY = dt.date(2026, 3, 2)


def province(agreement_id: str, full_name: str, channel: str, party_line: str = "") -> str:
    """A provincial agreement whose first party is called 省委社会工作部, as every province's is."""
    return f"""
id: {agreement_id}
title: {full_name}合作协议
signed: 2026-01-05
term: {{start: 2026-01-05, end: 2026-12-31}}
parties:
  - name: 省委社会工作部{party_line}
    full_name: {full_name}
    coordinator: 综合处
    departments:
      - name: 综合处
        leader: 处长
        channels: [{channel}]
  - name: 省民政厅
    coordinator: 办公室
    departments:
      - name: 办公室
programmes:
  - id: "1"
    title: 联建
    clauses:
      - id: "1.1"
        title: 季度会商
        kind: meeting
        responsible: {{each_party: true}}
        recurrence: {{every: quarter}}
"""


JILIN = province("jilin-2026", "中共吉林省委社会工作部", "jilin-swd-wecom")
HUNAN = province("hunan-2026", "中共湖南省委社会工作部", "hunan-swd-email")


def plan(url: str, loaded: LoadedAgreement) -> PlanResult:
    with session_scope(url) as s:
        return apply_plan(s, loaded, expand(loaded, CAL, 1000), TODAY, "tester", calendar_fingerprint(CAL))


def swd_of(url: str, agreement_id: str) -> int:
    with session_scope(url) as s:
        return agreement_departments(s, agreement_id)[(agreement_id, "省委社会工作部", "综合处")]


def test_two_provinces_with_the_same_short_names_stay_apart(db_url: str) -> None:
    plan(db_url, parse_agreement(JILIN, "jilin.yaml"))
    plan(db_url, parse_agreement(HUNAN, "hunan.yaml"))
    jilin, hunan = swd_of(db_url, "jilin-2026"), swd_of(db_url, "hunan-2026")
    assert jilin != hunan
    with session_scope(db_url) as s:
        agencies = s.execute(select(Agency.key, Agency.full_name).where(Agency.name == "省委社会工作部")).all()
        assert sorted(agencies) == [
            ("hunan-2026:省委社会工作部", "中共湖南省委社会工作部"),
            ("jilin-2026:省委社会工作部", "中共吉林省委社会工作部"),
        ]
        # Each keeps the channels its own file gives: planning Hunan last did not overwrite Jilin's.
        assert s.get(Department, jilin).channels == ["jilin-swd-wecom"]  # type: ignore[union-attr]
        assert s.get(Department, hunan).channels == ["hunan-swd-email"]  # type: ignore[union-attr]
        # Each task list holds only its own province's tasks.
        for dept, agreement in ((jilin, "jilin-2026"), (hunan, "hunan-2026")):
            tasks = occurrences_for_department(s, dept, open_only=False, limit=1000)
            assert tasks and {t.agreement_id for t in tasks} == {agreement}
        owners = dict(
            s.execute(
                select(Occurrence.agreement_id, Occurrence.department_id)
                .join(Department, Department.id == Occurrence.department_id)
                .where(Department.name == "综合处")
                .distinct()
            ).all()
        )
        assert owners == {"jilin-2026": jilin, "hunan-2026": hunan}


def test_a_short_name_shared_by_two_agreements_is_refused_as_ambiguous_and_keys_resolve(db_url: str) -> None:
    plan(db_url, parse_agreement(JILIN, "jilin.yaml"))
    plan(db_url, parse_agreement(HUNAN, "hunan.yaml"))
    jilin, hunan = swd_of(db_url, "jilin-2026"), swd_of(db_url, "hunan-2026")
    with session_scope(db_url) as s:
        with pytest.raises(Forbidden, match="不唯一.*hunan-2026:省委社会工作部/综合处"):
            issue_token(s, Role.department, "联络员", "省委社会工作部/综合处")
        token = issue_token(s, Role.department, "联络员", "jilin-2026:省委社会工作部/综合处")
        assert token.department == "省委社会工作部/综合处"
        assert resolve_department(s, "hunan-2026:省委社会工作部/综合处").id == hunan
        # Within one agreement the short name is enough, and means that agreement's department.
        assert resolve_department(s, "省委社会工作部/综合处", "jilin-2026").id == jilin
        hunan_task, jilin_task = (
            s.execute(
                select(Occurrence.id).where(Occurrence.department_id == dept).order_by(Occurrence.id).limit(1)
            ).scalar_one()
            for dept in (hunan, jilin)
        )
    with session_scope(db_url) as s:
        record_completion(s, CompletionReport(hunan_task, "省委社会工作部/综合处", note="湖南"), "湖南联络员")
    with session_scope(db_url) as s, pytest.raises(UnknownOccurrence):
        # Jilin's department reporting Hunan's task: unknown to it, exactly as a missing id would be.
        record_completion(s, CompletionReport(hunan_task, str(jilin)), "吉林联络员")
    with session_scope(db_url) as s, pytest.raises(Forbidden, match="属于另一个部门"):
        record_completion(s, CompletionReport(jilin_task, str(hunan)), "协调人", coordinator=True)


REGISTRY = """
organisations:
  - id: sichuan/swd
    name: 四川省委社会工作部
    full_name: 中共四川省委社会工作部
    coordinator: 综合处
    departments:
      - id: office
        name: 综合处
        leader: 处长
        channels: [sichuan-swd-wecom]
      - id: volunteers
        name: 志愿服务处
"""


def with_registry_party(agreement_id: str, coordinator: str = "") -> str:
    extra = f"\n    coordinator: {coordinator}" if coordinator else ""
    return f"""
id: {agreement_id}
title: 协议 {agreement_id}
signed: 2026-01-05
term: {{start: 2026-01-05, end: 2026-12-31}}
parties:
  - ref: sichuan/swd{extra}
  - name: 广安市
    coordinator: 市委社会工作部
    departments:
      - name: 市委社会工作部
programmes:
  - id: "1"
    title: 联建
    clauses:
      - id: "1.1"
        title: 志愿服务
        kind: volunteer_event
        responsible: {{party: 四川省委社会工作部, department: 志愿服务处}}
        recurrence: {{every: half_year}}
"""


def test_agreements_naming_the_same_registry_id_share_the_party(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "organisations.yaml").write_text(REGISTRY, encoding="utf-8")
    for agreement_id in ("chengdu-2026", "guangan-2026"):
        (tmp_path / f"{agreement_id}.yaml").write_text(with_registry_party(agreement_id), encoding="utf-8")
        loaded = load_agreement(tmp_path / f"{agreement_id}.yaml")
        [party, _] = loaded.agreement.parties
        assert (party.key(agreement_id), party.name, party.coordinator) == (
            "sichuan/swd",
            "四川省委社会工作部",
            "综合处",
        )
        plan(db_url, loaded)
    with session_scope(db_url) as s:
        depts = agreement_departments(s)
        shared = {depts[(a, "四川省委社会工作部", "志愿服务处")] for a in ("chengdu-2026", "guangan-2026")}
        own = {depts[(a, "广安市", "市委社会工作部")] for a in ("chengdu-2026", "guangan-2026")}
        assert len(shared) == 1 and len(own) == 2  # the registered party is one; the agreement-scoped ones are two
        [(key, dept_key)] = s.execute(
            select(Agency.key, Department.key).join(Agency).where(Department.id.in_(shared))  # type: ignore[attr-defined]
        ).all()
        assert (key, dept_key) == ("sichuan/swd", "volunteers")


def test_a_registry_department_renamed_keeps_its_row_and_history(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "organisations.yaml").write_text(REGISTRY, encoding="utf-8")
    (tmp_path / "a.yaml").write_text(with_registry_party("chengdu-2026"), encoding="utf-8")
    plan(db_url, load_agreement(tmp_path / "a.yaml"))
    with session_scope(db_url) as s:
        volunteers = agreement_departments(s, "chengdu-2026")[("chengdu-2026", "四川省委社会工作部", "志愿服务处")]
    (tmp_path / "organisations.yaml").write_text(REGISTRY.replace("志愿服务处", "志愿服务工作处"), encoding="utf-8")
    renamed = with_registry_party("chengdu-2026").replace("志愿服务处", "志愿服务工作处")
    (tmp_path / "a.yaml").write_text(renamed, encoding="utf-8")
    result = plan(db_url, load_agreement(tmp_path / "a.yaml"))
    with session_scope(db_url) as s:
        after = agreement_departments(s, "chengdu-2026")
    assert after[("chengdu-2026", "四川省委社会工作部", "志愿服务工作处")] == volunteers
    assert result.created == 0


@pytest.mark.parametrize(
    ("party", "message"),
    [
        ("  - ref: sichuan/nobody", "没有组织 'sichuan/nobody'"),
        ("  - ref: sichuan/swd\n    name: 省委社会工作部", "简称是 '四川省委社会工作部'"),
        ("  - ref: sichuan/swd\n    departments: [{name: 办公室}]", "以组织名录为准"),
    ],
)
def test_a_bad_reference_is_a_clear_error_with_its_line(tmp_path: Path, party: str, message: str) -> None:
    (tmp_path / "organisations.yaml").write_text(REGISTRY, encoding="utf-8")
    text = with_registry_party("x-2026").replace("  - ref: sichuan/swd", party)
    (tmp_path / "x.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(AgreementError) as err:
        load_agreement(tmp_path / "x.yaml")
    [problem] = err.value.problems
    assert message in problem.message and problem.line is not None and problem.line >= 6


def test_a_reference_without_a_registry_says_where_the_registry_belongs(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(with_registry_party("x-2026"), encoding="utf-8")
    with pytest.raises(AgreementError, match="organisations.yaml"):
        load_agreement(tmp_path / "x.yaml")


def test_a_bad_registry_is_reported_with_its_own_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "organisations.yaml").write_text(REGISTRY + REGISTRY.split("organisations:\n", 1)[1], encoding="utf-8")
    (tmp_path / "x.yaml").write_text(with_registry_party("x-2026"), encoding="utf-8")
    with pytest.raises(AgreementError, match=r"organisations\.yaml.*机构编号重复：sichuan/swd"):
        load_agreement(tmp_path / "x.yaml")
