"""Remove evidence uploads no report cited in time, on a schedule (`coop evidence cleanup` by hand)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from coop.settings import get_settings
from flows.failure import explained
from tasks.database import check_schema
from tasks.evidence import cleanup_uncited


@flow(name="cleanup-evidence", log_prints=True)
@explained
def cleanup_evidence() -> str:
    """Delete uploads older than COOP_EVIDENCE_TTL_HOURS that no report cites, and the files nothing holds any more.

    A file a report cites is never removed; the TTL and the per-department quota are operator settings.
    """
    settings = get_settings()
    check_schema(settings.database_url)
    line = cleanup_uncited(settings)
    get_run_logger().info(line)
    return line
