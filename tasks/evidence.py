"""Evidence tasks: thin wrappers over `coop.services.evidence`."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from coop.services import evidence
from coop.settings import Settings


@task(name="清理未引用的佐证上传 clean up uncited evidence", cache_policy=NO_CACHE)
def cleanup_uncited(settings: Settings) -> str:
    """Remove uploads no report cited within COOP_EVIDENCE_TTL_HOURS (cited files are never removed)."""
    return evidence.cleanup(settings).line()
