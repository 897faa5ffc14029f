"""The outbox as a coordinator handles it: a wrong status or ids that are not dead letters are refused, unwritten."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from coop.errors import CoopError
from coop.services.outbox import list_outbox, requeue_dead_letters
from models.db import session_scope
from models.tables import LedgerEvent


def test_an_empty_outbox_lists_nothing_and_refuses_what_it_cannot_do(db_url: str) -> None:
    listing = list_outbox(db_url, None)
    assert listing.rows == [] and sum(listing.counts.values()) == 0
    with pytest.raises(CoopError, match="bogus"):
        list_outbox(db_url, "bogus")
    with pytest.raises(CoopError, match="不是死信"):
        requeue_dead_letters(db_url, [7, 7], "协调人")
    assert requeue_dead_letters(db_url, None, "协调人").count == 0
    with session_scope(db_url) as s:
        assert s.execute(select(func.count()).select_from(LedgerEvent)).scalar_one() == 0
