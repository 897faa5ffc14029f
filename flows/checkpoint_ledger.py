"""Sign the ledger head on a schedule: a checkpoint in the file outside the database, the auditors' channel and
the table, so a later rewrite of any event up to here no longer matches what the key signed."""

from __future__ import annotations

from prefect import flow

from coop.services.verification import CheckpointResult
from coop.settings import get_settings
from flows.failure import explained
from tasks.audit import publish_checkpoint_artifact, sign_checkpoint
from tasks.database import check_schema


@flow(name="checkpoint-ledger", log_prints=True)
@explained
def checkpoint_ledger() -> CheckpointResult:
    """Verify the chain against the earlier checkpoints, then sign the current head with COOP_LEDGER_KEY_FILE.

    The key and the file are operator settings (COOP_LEDGER_KEY_FILE, COOP_CHECKPOINT_FILE, COOP_AUDITOR_CHANNEL),
    never form fields; a chain that no longer verifies is not signed and the run fails.
    """
    settings = get_settings()
    check_schema(settings.database_url)
    done = sign_checkpoint(settings, settings.actor)
    publish_checkpoint_artifact(done)
    return done
