"""Synthetic agreements for the benchmark: real YAML files in the shipped format, deterministic per seed.

A province-wide deployment: hundreds of five-year agreements among ~600 agencies (about 3,000
departments), each with weekly patrols, monthly reports and quarterly and half-yearly exchanges, many of
them owed by every party. The agencies are shared across agreements the way a deployment shares them: each
party names its organisation id (`id:`), so an agency in seven agreements is one set of department records
with one task list and one daily digest per department, not seven (issue 16: without ids, every agreement
made its own copies, whose digests all went to the same robots). One agreement yields ~5,000
occurrences, so 200 agreements give ~1,000,000.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

AGENCIES = 600
DEPARTMENTS = ["社会工作部", "民政局", "生态环境局", "团委", "教育局"]
PARTIES_PER_AGREEMENT = 5
TERM_YEARS = 5
EARLIEST_START = dt.date(2023, 1, 1)
START_SPREAD_DAYS = 4 * 365

# (kind, title, responsible, recurrence, targets) — each_party clauses yield one task per party per date.
CLAUSES: list[tuple[str, str, str, str, str]] = [
    (
        "patrol",
        "河小青净滩巡护",
        "{each_party: true, department: 团委}",
        "{every: week, day: 5, window_days: 5, adjust: previous}",
        "{volunteers: 20}",
    ),
    (
        "patrol",
        "生态环境联合巡查",
        "{each_party: true, department: 生态环境局}",
        '{rrule: "FREQ=WEEKLY;BYDAY=TU", window_days: 3, adjust: next}',
        "{sites: 3}",
    ),
    (
        "service",
        "社区养老服务",
        "{each_party: true, department: 民政局}",
        "{every: month, day: 25, window_days: 20}",
        "{households: 30}",
    ),
    ("report", "工作进展报送", "{each_party: true}", "{every: month, window_days: 10}", "{}"),
    ("training", "社会工作联合培训", "{party: P0}", "{every: quarter, day: 20, window_days: 30}", "{participants: 50}"),
    (
        "exchange",
        "基层治理经验交流",
        "{party: P1}",
        '{rrule: "FREQ=YEARLY;BYMONTH=4,10;BYMONTHDAY=25", window_days: 21}',
        "{participants: 40}",
    ),
    ("meeting", "联席会议", "{each_party: true}", "{every: half_year, day: 15, window_days: 30, adjust: next}", "{}"),
    (
        "volunteer_event",
        "志愿服务活动",
        "{each_party: true, department: 团委}",
        "{every: quarter, adjust: none}",
        "{participants: 100}",
    ),
    (
        "survey",
        "社区需求调查",
        "{party: P2, department: 民政局}",
        "{every: year, day: 30, window_days: 90}",
        "{questionnaires: 2000}",
    ),
    (
        "campaign",
        "金点子征集",
        "{each_party: true}",
        '{rrule: "FREQ=YEARLY;BYMONTH=9;BYMONTHDAY=30", window_days: 60}',
        "{suggestions: 20}",
    ),
    ("construction", "观察联系点建设", "{each_party: true}", "{deadline: DEADLINE}", "{observation_points: 1}"),
    ("research", "联合调研报告", "{party: P3, department: 教育局}", "{once: ONCE, window_days: 92}", "{}"),
    (
        "patrol",
        "河长制联合巡河",
        "{each_party: true, department: 生态环境局}",
        '{rrule: "FREQ=WEEKLY;BYDAY=TH", window_days: 3, adjust: previous}',
        "{reaches: 2}",
    ),
    (
        "report",
        "台账数据报送",
        "{each_party: true, department: 民政局}",
        '{rrule: "FREQ=MONTHLY;BYMONTHDAY=10", window_days: 7}',
        "{}",
    ),
]
OCCURRENCES_PER_AGREEMENT = 5_000  # approximate; the bench reports the exact count it planned


def agency_name(i: int) -> str:
    return f"第{i:03d}区"


def agreement_yaml(index: int, rng: random.Random) -> str:
    """One agreement; parties are drawn from the shared agency pool, terms staggered over four years."""
    parties = rng.sample(range(AGENCIES), PARTIES_PER_AGREEMENT)
    start = EARLIEST_START + dt.timedelta(days=rng.randrange(START_SPREAD_DAYS))
    end = dt.date(start.year + TERM_YEARS, start.month, min(start.day, 28)) - dt.timedelta(days=1)
    names = [agency_name(p) for p in parties]
    lines = [
        f"id: synthetic-{index:05d}",
        f"title: 第{index}号区域社会工作合作协议（基准测试）",
        f"signed: {start}",
        "term:",
        f"  start: {start}",
        f"  end: {end}",
        "source: 基准测试合成数据",
        "parties:",
    ]
    for name, p in zip(names, parties, strict=True):
        lines += [
            f"  - id: bench/a{p:03d}",
            f"    name: {name}",
            f"    full_name: 某省{name}",
            "    coordinator: 社会工作部",
            "    departments:",
        ]
        for d, dept in enumerate(DEPARTMENTS):
            lines += [f"      - name: {dept}", f"        channels: [a{p:03d}-d{d}-wecom]"]
            if d == 0:
                lines += ["        leader: 分管副部长", f"        escalation_channels: [a{p:03d}-lead-email]"]
    lines += ["programmes:"]
    per_programme = 7
    for c, (kind, title, responsible, recurrence, targets) in enumerate(CLAUSES):
        if c % per_programme == 0:
            prog = c // per_programme + 1
            lines += [f'  - id: "{prog}"', f"    title: 第{prog}项合作工程", "    clauses:"]
        responsible = (
            responsible.replace("P0", names[0]).replace("P1", names[1]).replace("P2", names[2]).replace("P3", names[3])
        )
        recurrence = recurrence.replace("DEADLINE", str(start + dt.timedelta(days=540))).replace(
            "ONCE", str(start + dt.timedelta(days=400))
        )
        lines += [
            f'      - id: "{prog}.{c % per_programme + 1}"',
            f"        title: {title}",
            f"        kind: {kind}",
            f"        responsible: {responsible}",
            f"        recurrence: {recurrence}",
            f"        targets: {targets}",
            "        evidence: [活动方案, 签到表, 活动照片]",
        ]
        if responsible.startswith("{party"):
            lines += [f"        rotate: [{', '.join(names)}]"]
    return "\n".join(lines) + "\n"


def write_agreements(directory: Path, occurrences: int, seed: int = 7) -> list[Path]:
    """Enough agreements for about `occurrences` occurrences; returns their paths in order."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    count = max(1, round(occurrences / OCCURRENCES_PER_AGREEMENT))
    paths = []
    for i in range(count):
        path = directory / f"synthetic-{i:05d}.yaml"
        path.write_text(agreement_yaml(i, rng), encoding="utf-8")
        paths.append(path)
    return paths
