"""Signed department links: only for the department's own occurrences; the demo finds the soonest open one."""

from __future__ import annotations

import pytest
from conftest_web import CHANGSHOU, YUBEI, plan_small

from coop.access import LinkSigner
from coop.errors import Forbidden, UnknownOccurrence
from coop.services.links import demo_links, department_link
from coop.settings import Settings

SECRET = "links-test-secret-0123456789abcdef"


def test_a_report_link_names_one_occurrence_of_that_department(db_url: str) -> None:
    ids = plan_small(db_url)
    settings = Settings(database_url=db_url, secret_key=SECRET, public_base_url="https://coop.example.cn/")
    oid = ids["1.1@2026-12-31"]
    link = department_link(db_url, settings, YUBEI, oid)
    assert link.url.startswith("https://coop.example.cn/r/") and link.purpose == "report"
    claims = LinkSigner(SECRET).read(link.url.rsplit("/", 1)[1], "report")
    assert (claims.occurrence_id, claims.department_id) == (oid, link.department_id)
    listing = department_link(db_url, settings, YUBEI)
    assert listing.url.startswith("https://coop.example.cn/d/") and listing.occurrence_id is None
    with pytest.raises(UnknownOccurrence):
        department_link(db_url, settings, CHANGSHOU, oid)
    with pytest.raises(Forbidden):
        department_link(db_url, settings, "无此区/无此部门")


def test_demo_links_point_at_the_open_occurrence_due_soonest(db_url: str) -> None:
    settings = Settings(database_url=db_url, secret_key=SECRET)
    assert demo_links(db_url, settings) is None
    plan_small(db_url)
    links = demo_links(db_url, settings)
    assert links is not None
    claims = LinkSigner(SECRET).read(links.report.url.rsplit("/", 1)[1], "report")
    assert claims.occurrence_id == links.occurrence_id
    assert LinkSigner(SECRET).read(links.listing.url.rsplit("/", 1)[1], "list").department_id == claims.department_id
