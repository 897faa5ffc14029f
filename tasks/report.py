"""Tasks that tell people what happened: summaries and Prefect artifacts in Chinese."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from coop.store.plans import PlanResult
from coop.store.status import AgreementSummary, summarise
from coop.summary import plan_result_markdown, summary_markdown
from models.db import session_scope


@task(name="汇总协议执行情况 summarise agreements", cache_policy=NO_CACHE)
def summarise_agreements(today: dt.date, agreement_id: str | None = None, database_url: str | None = None) -> list[AgreementSummary]:
    with session_scope(database_url) as session:
        return summarise(session, today, agreement_id)


@task(name="发布计划报告 publish plan artifact", cache_policy=NO_CACHE)
def publish_plan_artifact(result: PlanResult, summaries: list[AgreementSummary]) -> str:
    title = summaries[0].title if summaries else result.agreement_id
    markdown = plan_result_markdown(result, title) + "\n" + summary_markdown(summaries)
    create_markdown_artifact(
        key=f"plan-{_artifact_key(result.agreement_id)}", markdown=markdown, description=f"计划结果：{title}"
    )
    return markdown


def _artifact_key(text: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower()).strip("-") or "agreement"
