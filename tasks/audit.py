"""Audit tasks: verify the ledger, compute the report on a read-only connection, publish it as artifacts."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from coop.audit import (
    GROUP_LABELS,
    AuditSummary,
    GroupBy,
    percent,
    summarise_states,
    summary_markdown,
)
from coop.notify.channels import redact
from coop.store.audit import AuditFilter, auditor_session, occurrence_states
from coop.store.ledger import Verification, verify
from coop.store.outbox import OutboxRow, dead_letters
from coop.summary import dead_letters_markdown


@task(name="校验台账 verify ledger", cache_policy=NO_CACHE)
def verify_ledger(database_url: str | None = None) -> Verification:
    with auditor_session(url=database_url) as session:
        return verify(session)


@task(name="汇总审计数据 collect audit", cache_policy=NO_CACHE)
def collect_audit(
    flt: AuditFilter,
    as_of: dt.date,
    today: dt.date,
    group_by: GroupBy,
    overdue_limit: int,
    database_url: str | None = None,
) -> AuditSummary:
    """One streamed pass over every matching occurrence; past days are rebuilt from the ledger."""
    with auditor_session(url=database_url) as session:
        states = occurrence_states(session, flt, as_of, from_ledger=as_of < today)
        summary = summarise_states(states, as_of, group_by, overdue_limit)
    summary.filters = {k: v for k, v in flt.__dict__.items() if v is not None}
    return summary


@task(name="列出通知死信 list dead letters", cache_policy=NO_CACHE)
def collect_dead_letters(database_url: str | None = None) -> list[OutboxRow]:
    with auditor_session(url=database_url) as session:
        return dead_letters(session)


@task(name="发布审计报告 publish audit artifact", cache_policy=NO_CACHE)
def publish_audit_artifact(
    summary: AuditSummary, verification: Verification, dead: list[OutboxRow] | None = None
) -> str:
    markdown = summary_markdown(summary, verification) + "\n" + redact(dead_letters_markdown(dead or []))
    create_markdown_artifact(key="audit-report", markdown=markdown, description=f"审计报告（截至 {summary.as_of}）")
    label = GROUP_LABELS[summary.group_by]
    create_table_artifact(
        key="audit-rates",
        table=[
            {
                label: r.group,
                "任务": r.total,
                "应完成": r.expected,
                "已完成": r.done,
                "完成率": percent(r.completion_rate),
                "按时率": percent(r.on_time_rate),
                "逾期": r.overdue,
            }
            for r in [*summary.groups, summary.overall]
        ],
        description=f"按{label}统计的完成率与按时率（截至 {summary.as_of}）",
    )
    return markdown
