"""The coordinators' run forms as Prefect stores them: read the ones that offer agreement files, and rewrite one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import DeploymentUpdate

from coop.agreement.catalogue import ChoicesSync, choice_fields, sync_markdown

SYNC_KEY = "sync-deployments"


@dataclass(frozen=True)
class AgreementForm:
    """A deployment whose run form offers the agreement files, with its stored parameter schema."""

    deployment_id: UUID
    name: str
    schema: dict[str, Any]


@task(name="读取含协议选项的部署 read agreement forms", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def read_agreement_forms() -> list[AgreementForm]:
    forms: list[AgreementForm] = []
    offset = 0
    with get_client(sync_client=True) as client:
        while page := client.read_deployments(offset=offset, limit=200):
            for deployment in page:
                schema = deployment.parameter_openapi_schema or {}
                if choice_fields(schema):
                    forms.append(AgreementForm(deployment.id, deployment.name, schema))
            offset += len(page)
    return sorted(forms, key=lambda f: f.name)


@task(name="重新注册部署表单 re-register a form", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def update_form(deployment_id: UUID, schema: dict[str, Any]) -> None:
    with get_client(sync_client=True) as client:
        client.update_deployment(deployment_id, DeploymentUpdate(parameter_openapi_schema=schema))


@task(name="发布同步报告 publish the sync report", cache_policy=NO_CACHE)
def publish_sync_artifact(sync: ChoicesSync, folder: str) -> None:
    create_markdown_artifact(
        key=SYNC_KEY, markdown=sync_markdown(sync, folder), description="部署表单与协议文件夹的同步"
    )
