"""The batch planner: grouped commits and read-ahead change nothing about what is stored, per agreement."""

from __future__ import annotations

import datetime as dt
import gc
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from conftest import AGREEMENTS, FIXTURES
from sqlalchemy import text
from typer.testing import CliRunner

from coop.cli import app
from coop.errors import AgreementError
from coop.planning import PlanDiff
from coop.services import staging
from coop.services.planning import GROUP_ROWS, agreement_files, plan_files, prepare
from coop.services.schema import upgrade
from coop.services.staging import plan_staged
from coop.settings import Settings
from coop.store.ledger import verify
from coop.store.plans import stored_fingerprints
from models.db import get_engine, session_scope

TODAY = dt.date(2026, 3, 1)
SETTINGS = Settings(plan_process_min_files=0)  # every file read and expanded in this process's helper thread
STAGED = Settings(plan_process_min_files=1)  # every batch read, expanded and staged by a helper process


@pytest.fixture(params=["thread", "process"])
def batch_settings(request: pytest.FixtureRequest) -> Settings:
    """A batch planned with its files prepared in a thread, or in a helper process (`coop.services.staging`)."""
    return STAGED if request.param == "process" else SETTINGS


def _folder(tmp_path: Path, bad: bool) -> Path:
    folder = tmp_path / "agreements"
    folder.mkdir()
    for path in AGREEMENTS.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copy(FIXTURES / "small.yaml", folder / "small.yaml")
    if bad:  # sorts between the good files, so it lands inside a group
        text_ = (
            (FIXTURES / "small.yaml")
            .read_text(encoding="utf-8")
            .replace("rotate: [渝北区, 长寿区, 广安市]", "rotate: [渝北区, 渝中区]")
        )
        (folder / "m-broken.yaml").write_text(text_.replace("id: test-small", "id: broken"), encoding="utf-8")
    return folder


def _stored(url: str) -> dict[str, list[tuple[object, ...]]]:
    """What was planned, without ids and timestamps (which differ between two databases)."""
    queries = {
        "occurrences": "SELECT o.agreement_id, o.key, o.due_date, o.host, o.status, c.code, a.key, d.key,"
        " o.nominal_date, o.window_start, o.location, o.provisional, o.targets, o.version, o.closed_at,"
        " o.planned_due_date, o.planned_department_id FROM occurrence o JOIN clause c ON c.id = o.clause_id"
        " JOIN department d ON d.id = o.department_id JOIN agency a ON a.id = d.agency_id",
        "agreements": "SELECT id, version, content_hash, calendar_version FROM agreement",
        "ledger": "SELECT kind, agreement_id, payload FROM ledger_event",
        "notices": "SELECT o.key, n.kind, n.recipient_role, n.days_overdue, n.workdays_left, n.batched, d.key"
        " FROM notice n JOIN occurrence o ON o.id = n.occurrence_id JOIN department d ON d.id = n.department_id",
    }
    with get_engine(url).connect() as conn:
        stored = {
            name: sorted((tuple(map(_plain, r)) for r in conn.execute(text(sql))), key=repr)
            for name, sql in queries.items()
        }
        # Events name rows by id, and ids follow the order agreements were written in: named by key instead.
        key_of = dict(conn.execute(text("SELECT id, key FROM occurrence")).all())
    stored["ledger"] = sorted(
        ((kind, agreement, _keyed(payload, key_of)) for kind, agreement, payload in stored["ledger"]), key=repr
    )
    return stored


def _keyed(payload: str, key_of: dict[int, str]) -> str:
    data = json.loads(payload)
    if "occurrence_ids" in data:
        data["occurrence_ids"] = sorted(key_of[i] for i in data["occurrence_ids"])
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def _plain(value: object) -> str:
    """One stored value as text, alike on both databases (SQLite keeps flags as 0/1 and JSON as its text)."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if isinstance(value, dict) else str(value)


@pytest.mark.parametrize("group_rows", [1, 100_000])
def test_a_bad_file_is_reported_and_every_other_agreement_is_planned_whole(
    db_url: str, tmp_path: Path, group_rows: int, batch_settings: Settings
) -> None:
    folder = _folder(tmp_path, bad=True)
    paths = agreement_files(folder)  # every agreement, not the organisation registry beside them
    outcomes = list(plan_files(db_url, paths, TODAY, "tester", settings=batch_settings, group_rows=group_rows))
    assert [o.path for o in outcomes] == paths
    [bad] = [o for o in outcomes if o.result is None]
    assert bad.path.endswith("m-broken.yaml") and isinstance(bad.error, AgreementError)
    assert "m-broken.yaml:" in str(bad.error) and "渝中区" in str(bad.error)
    good = [o for o in outcomes if o.result is not None]
    stored = _stored(db_url)
    assert {row[0] for row in stored["occurrences"]} == {o.result.agreement_id for o in good if o.result}
    assert (
        len(stored["occurrences"])
        == sum(o.result.created for o in good if o.result)
        == sum(o.occurrences for o in good)
    )
    assert "broken" not in {row[0] for row in stored["agreements"]}
    with session_scope(db_url) as s:
        assert verify(s).ok


def test_grouped_commits_store_exactly_what_one_commit_per_agreement_stores(
    db_url: str, tmp_path: Path, batch_settings: Settings
) -> None:
    """Grouped commits, and a helper process staging the rows, store what one agreement at a time in this process
    stores: every column of every row, the notices and the ledger."""
    folder = _folder(tmp_path, bad=False)
    one_by_one = f"sqlite:///{tmp_path / 'one-by-one.db'}"
    upgrade(one_by_one)
    paths = agreement_files(folder)
    assert all(o.result for o in plan_files(one_by_one, paths, TODAY, "tester", settings=SETTINGS, group_rows=1))
    assert all(o.result for o in plan_files(db_url, paths, TODAY, "tester", settings=batch_settings))
    assert _stored(db_url) == _stored(one_by_one)

    # the same day again: nothing to re-plan, statuses already current, nothing written
    again = list(plan_files(db_url, paths, TODAY, "tester", settings=batch_settings))
    assert all(o.result and o.result.unchanged for o in again)
    assert _stored(db_url) == _stored(one_by_one)
    # a week later: still nothing to re-plan; only statuses move on, as `coop sweep` would move them
    week = TODAY + dt.timedelta(days=7)
    later = list(plan_files(db_url, paths, week, "tester", settings=batch_settings))
    assert all(o.result and o.result.unchanged for o in later)
    after, before = _stored(db_url), _stored(one_by_one)
    assert [r[:4] for r in after["occurrences"]] == [r[:4] for r in before["occurrences"]]
    assert sum(o.result.became_due + o.result.became_overdue for o in later if o.result) == sum(
        1 for a, b in zip(after["occurrences"], before["occurrences"], strict=True) if a[4] != b[4]
    )


def test_a_batch_lists_each_first_plans_rows_as_added_and_leaves_the_collector_as_it_found_it(
    db_url: str, tmp_path: Path, batch_settings: Settings
) -> None:
    paths = agreement_files(_folder(tmp_path, bad=True))
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    outcomes = []
    for outcome in plan_files(db_url, paths, TODAY, "tester", settings=batch_settings, group_rows=1):
        assert not gc.isenabled()  # collected between groups only
        outcomes.append(outcome)
    assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, frozen)
    good = [o for o in outcomes if o.result is not None]
    assert len(good) == len(paths) - 1
    for outcome in good:  # the change list, built when read, is the one a first plan always listed
        assert outcome.result is not None
        expected = PlanDiff(create=prepare(outcome.path, SETTINGS)[1]).changes([])
        assert outcome.result.changes == expected and len(expected) == outcome.result.created
    stopped = plan_files(db_url, paths, TODAY + dt.timedelta(days=1), "tester", settings=batch_settings, group_rows=1)
    next(stopped)
    stopped.close()  # a caller that stops early gets the collector back too
    assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, frozen)


def test_plan_batch_command_plans_a_folder_and_exits_2_when_a_file_is_bad(db_env: str, tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "ok").mkdir()
    (tmp_path / "bad").mkdir()
    good = runner.invoke(app, ["plan-batch", str(_folder(tmp_path / "ok", bad=False)), "--today", "2026-03-01"])
    assert good.exit_code == 0, good.output
    assert "份成功，0 份失败" in good.output
    bad = runner.invoke(app, ["plan-batch", str(_folder(tmp_path / "bad", bad=True)), "--today", "2026-03-01"])
    assert bad.exit_code == 2
    assert "m-broken.yaml" in bad.output and "1 份失败" in bad.output


def test_ids_named_by_the_sweep_events_and_notices_are_the_rows_the_plan_wrote(
    db_url: str, tmp_path: Path, batch_settings: Settings
) -> None:
    """A first plan takes its new rows' ids from the insert (not read back): the events and notices must name
    exactly those rows, also after the newest row was deleted (SQLite gives its id again, PostgreSQL does not)."""
    folder = _folder(tmp_path, bad=False)
    paths = agreement_files(folder)
    [first] = [
        o.result.agreement_id for o in plan_files(db_url, paths[:1], TODAY, "tester", settings=SETTINGS) if o.result
    ]
    with get_engine(db_url).begin() as conn:  # a gap: the newest row removed (no event or notice names it)
        newest = conn.execute(text("SELECT max(id) FROM occurrence")).scalar_one()
        conn.execute(text("DELETE FROM notice WHERE occurrence_id = :id"), {"id": newest})
        conn.execute(text("DELETE FROM occurrence WHERE id = :id"), {"id": newest})
    outcomes = list(plan_files(db_url, paths[1:], TODAY, "tester", settings=batch_settings))
    assert all(o.result for o in outcomes) and sum(o.result.created for o in outcomes if o.result) > 0
    with get_engine(db_url).connect() as conn:
        later = {"first": first}  # the rows and events of the agreements planned after the gap
        status = dict(conn.execute(text("SELECT id, status FROM occurrence WHERE agreement_id <> :first"), later).all())
        named = {"sweep_due": "due", "sweep_overdue": "overdue"}
        moved: dict[str, set[int]] = {"due": set(), "overdue": set()}
        for kind, payload in conn.execute(
            text(
                "SELECT kind, payload FROM ledger_event"
                " WHERE kind IN ('sweep_due', 'sweep_overdue') AND agreement_id <> :first"
            ),
            later,
        ):
            moved[named[kind]] |= set(json.loads(payload)["occurrence_ids"])
        assert moved["due"] and moved["overdue"]
        assert moved["due"] == {i for i, s in status.items() if s == "due"}
        assert moved["overdue"] == {i for i, s in status.items() if s == "overdue"}
        # every new-task notice names an open row of its own department, due from the plan's day on
        wrong = conn.execute(
            text(
                "SELECT count(*) FROM notice n LEFT JOIN occurrence o ON o.id = n.occurrence_id "
                "WHERE o.id IS NULL OR o.department_id <> n.department_id OR o.due_date < :today"
            ),
            {"today": TODAY},
        ).scalar_one()
        assert wrong == 0 and conn.execute(text("SELECT count(*) FROM notice")).scalar_one() > 0


def test_files_planned_since_the_batch_began_are_planned_the_usual_way(db_url: str, tmp_path: Path) -> None:
    """The helper process guesses from the fingerprints stored when the batch began; a guess that no longer holds
    when the writer gets there writes nothing staged, and the file is planned as `apply_plan` plans it."""
    folder = _folder(tmp_path, bad=False)
    paths = agreement_files(folder)
    assert all(o.result for o in plan_files(db_url, paths, TODAY, "tester", settings=SETTINGS))
    planned = _stored(db_url)
    # "new" as far as the helper knows: each first plan it staged finds the agreement planned already
    again = list(plan_staged(db_url, paths, TODAY, "tester", STAGED, GROUP_ROWS, stored={}))
    assert [o.path for o in again] == paths and all(o.result and o.result.unchanged for o in again)
    assert _stored(db_url) == planned

    # "unchanged" as far as the helper knows, but re-planned from another text meanwhile
    with session_scope(db_url) as session:
        before = stored_fingerprints(session)
    small = folder / "small.yaml"
    original = small.read_text(encoding="utf-8")
    small.write_text(original.replace("title:", "title: 修订稿", 1), encoding="utf-8")
    assert all(o.result for o in plan_files(db_url, [str(small)], TODAY, "tester", settings=SETTINGS))
    small.write_text(original, encoding="utf-8")
    back = list(plan_staged(db_url, paths, TODAY, "tester", STAGED, GROUP_ROWS, stored=before))
    assert all(o.result for o in back)
    assert [o.path for o in back if o.result and not o.result.unchanged] == [str(small)]
    with session_scope(db_url) as session:
        assert stored_fingerprints(session) == before and verify(session).ok


@pytest.mark.parametrize(
    "helper",
    [
        "import sys; sys.exit(3)",  # dies before answering
        # a bug in the helper: it answers with its traceback
        "import sys; from coop.services import staging as s; s.stage_group = lambda *a: 1 / 0; "
        "s.serve(sys.stdin.buffer.raw, sys.stdout.buffer)",
    ],
    ids=["dies", "fails"],
)
def test_the_batch_goes_on_in_this_process_when_the_helper_fails(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, helper: str
) -> None:
    folder = _folder(tmp_path, bad=True)
    paths = agreement_files(folder)
    one_by_one = f"sqlite:///{tmp_path / 'one-by-one.db'}"
    upgrade(one_by_one)
    expected = list(plan_files(one_by_one, paths, TODAY, "tester", settings=SETTINGS, group_rows=1))
    monkeypatch.setattr(staging, "HELPER", helper)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    outcomes = list(plan_files(db_url, paths, TODAY, "tester", settings=STAGED))
    assert [(o.path, o.result is None) for o in outcomes] == [(o.path, o.result is None) for o in expected]
    assert _stored(db_url) == _stored(one_by_one)
    assert "计划的辅助进程出错" in caplog.text
    assert ("ZeroDivisionError" in caplog.text) == ("1 / 0" in helper)
    assert not list((tmp_path / "tmp").iterdir())  # its staging folder removed


def test_a_re_plan_of_planned_files_needs_no_helper_process(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Only first plans pay for the helper's start: a batch whose files were all planned before (named as then, or
    by another spelling of the same path) is read in this process's thread."""
    folder = _folder(tmp_path, bad=False)
    paths = agreement_files(folder)
    assert all(o.result for o in plan_files(db_url, paths, TODAY, "tester", settings=STAGED))
    monkeypatch.setattr(staging, "HELPER", "import sys; sys.exit(3)")  # a helper started now would be noticed
    monkeypatch.chdir(folder)
    again = list(plan_files(db_url, [Path(p).name for p in paths], TODAY, "tester", settings=STAGED))
    assert all(o.result and o.result.unchanged for o in again)
    assert "辅助进程" not in caplog.text
