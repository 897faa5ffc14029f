"""Audit tasks: thin wrappers over `coop.services.audit`, and the step that publishes the report as artifacts.

`database_url=None` means the auditor login the settings name (see `coop.services.audit.auditor_login`).
"""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from coop.audit import GROUP_LABELS, AuditSummary, GroupBy, rates_table
from coop.services import audit, verification
from coop.services.audit import AuditDay
from coop.services.verification import CheckpointResult
from coop.settings import Settings
from coop.store.audit import AuditFilter
from coop.store.outbox import OutboxRow
from coop.verification import LedgerAudit


@task(name="校验台账 verify ledger", cache_policy=NO_CACHE)
def verify_ledger(settings: Settings, database_url: str | None = None) -> LedgerAudit:
    """Chain, signed checkpoints, and the tables against the ledger (coop.services.verification)."""
    return verification.verify_ledger(settings, database_url)


@task(name="签署台账检查点 sign ledger checkpoint", cache_policy=NO_CACHE)
def sign_checkpoint(settings: Settings, actor: str) -> CheckpointResult:
    return verification.checkpoint(settings, actor)


@task(name="发布检查点 publish checkpoint artifact", cache_policy=NO_CACHE)
def publish_checkpoint_artifact(done: CheckpointResult) -> str:
    cp = done.checkpoint
    markdown = "\n".join(
        [
            f"# 台账签名检查点：事件 #{cp.event_id}",
            "",
            f"- 哈希：`{cp.hash}`",
            f"- 签署时间（UTC）：{cp.at}",
            f"- 密钥编号：{cp.key_id}",
            f"- 检查点文件：{done.file or '未配置（COOP_CHECKPOINT_FILE）'}",
            f"- 审计渠道：{done.delivered or '未配置（COOP_AUDITOR_CHANNEL）'}",
            "",
            f"`{cp.to_json()}`",
        ]
    )
    create_markdown_artifact(key="ledger-checkpoint", markdown=markdown, description=f"台账检查点 #{cp.event_id}")
    return markdown


@task(name="汇总审计数据 collect audit", cache_policy=NO_CACHE)
def collect_audit(
    settings: Settings,
    flt: AuditFilter,
    day: AuditDay,
    group_by: GroupBy,
    overdue_limit: int,
    database_url: str | None = None,
) -> AuditSummary:
    """One streamed pass over every matching occurrence; past days are rebuilt from the ledger."""
    return audit.summarise(settings, flt, day, group_by, overdue_limit, database_url)


@task(name="列出通知死信 list dead letters", cache_policy=NO_CACHE)
def collect_dead_letters(settings: Settings, database_url: str | None = None) -> list[OutboxRow]:
    return audit.dead_letters(settings, database_url)


@task(name="发布审计报告 publish audit artifact", cache_policy=NO_CACHE)
def publish_audit_artifact(
    summary: AuditSummary, verification: LedgerAudit, dead: list[OutboxRow] | None = None
) -> str:
    markdown = audit.report_markdown(summary, verification, dead or [])
    create_markdown_artifact(key="audit-report", markdown=markdown, description=f"审计报告（截至 {summary.as_of}）")
    create_table_artifact(
        key="audit-rates",
        table=rates_table(summary),
        description=f"按{GROUP_LABELS[summary.group_by]}统计的完成率与按时率（截至 {summary.as_of}）",
    )
    return markdown
