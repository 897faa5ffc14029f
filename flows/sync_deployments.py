"""Keep the run forms' agreement choices in step with the agreements folder, without restarting `make ui`."""

from __future__ import annotations

from prefect import flow, get_run_logger

from coop.agreement.catalogue import ChoicesSync, offered, shipped_agreements, with_choices
from coop.settings import get_settings
from flows.failure import explained
from tasks.deployments import publish_sync_artifact, read_agreement_forms, update_form


@flow(name="sync-deployments", log_prints=True)
@explained
def sync_deployments() -> ChoicesSync:
    """Re-register the forms that list agreement files when files were added or removed; otherwise write nothing."""
    folder = get_settings().agreements_dir
    files = shipped_agreements(folder)
    added: set[str] = set()
    removed: set[str] = set()
    updated: list[str] = []
    for form in read_agreement_forms():
        before = offered(form.schema)
        if before == set(files):
            continue
        update_form(form.deployment_id, with_choices(form.schema, files))
        added |= set(files) - before
        removed |= before - set(files)
        updated.append(form.name)
    sync = ChoicesSync(tuple(files), tuple(sorted(added)), tuple(sorted(removed)), tuple(updated))
    publish_sync_artifact(sync, str(folder))
    get_run_logger().info(
        "协议文件 %d 份；新增 %d，移除 %d；重新注册部署 %d 个",
        len(files),
        len(sync.added),
        len(sync.removed),
        len(updated),
    )
    return sync
