"""Write a plan: agencies, departments, clauses and occurrences, in bulk, with ledger events."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from operator import attrgetter, itemgetter
from typing import Any

from sqlalchemy import bindparam, case, func, insert, select, update
from sqlmodel import Session, col

from coop.agreement.loader import LoadedAgreement
from coop.agreement.schema import Party
from coop.ledger import EventDraft
from coop.notify.policy import clause_policies
from coop.occurrence_status import status_by_date
from coop.planning import (
    DeferredChanges,
    PlanChange,
    PlanDiff,
    PlannedOccurrence,
    PlanResult,
    StoredOccurrence,
    diff,
    effective_date,
)
from coop.store import ledger
from coop.store.notices import record_plan_notices
from coop.store.occurrences import record_first_statuses, sweep
from coop.store.parties import LEGACY_PREFIX
from coop.store.queries import join_clause, join_department
from models.tables import (
    OPEN_STATUSES,
    Agency,
    AgreementParty,
    AgreementRecord,
    AgreementVersion,
    ClauseRecord,
    Department,
    LedgerEvent,
    Occurrence,
    OccurrenceStatus,
    ProgrammeRecord,
    utcnow,
)

BATCH = 5000


# The default of Settings.notify_horizon_days (a test keeps them equal); services pass the configured value.
DEFAULT_HORIZON_DAYS = 60


def plan_fingerprint(loaded: LoadedAgreement, calendar_fingerprint: str) -> str:
    """Content plus calendar: new official holiday data must re-plan even an unchanged file."""
    return hashlib.sha256(f"{loaded.content_hash}:{calendar_fingerprint}".encode()).hexdigest()


@dataclass(frozen=True)
class PreparedPlan:
    """What writing a plan needs that depends on the expanded rows alone, so `plan_files` makes it in its helper
    thread, beside the database, instead of the writer (profiled in bench/: ~20 % of the writer's time)."""

    occurrences_digest: str  # the plan event's digest of every planned row
    all_keys_digest: str  # of every planned key, sorted: a first plan's `created_keys_digest`


def prepare_plan(planned: list[PlannedOccurrence]) -> PreparedPlan:
    """The plan event's digests of `planned` (a first plan's change list is built only when read: `apply_plan`)."""
    ordered = sorted(planned, key=attrgetter("key"))
    day = _Converted(str)  # a few hundred distinct dates: each formatted once, not once per row
    digest = hashlib.sha256(
        "".join([f"{p.key}|{day[p.due_date]}|{p.host}|{p.party}|{p.department}\n" for p in ordered]).encode()
    ).hexdigest()
    keys = hashlib.sha256("\n".join([p.key for p in ordered]).encode()).hexdigest()
    return PreparedPlan(digest, keys)


def stored_fingerprints(session: Session) -> dict[str, str]:
    """Agreement id → the fingerprint its last plan stored (`plan_fingerprint`): tells a batch which files are new."""
    return dict(session.execute(select(col(AgreementRecord.id), col(AgreementRecord.content_hash))).all())


def stored_paths(session: Session) -> set[str]:
    """The files agreements were last planned from, as they were named then."""
    return set(session.execute(select(col(AgreementRecord.path))).scalars())


def apply_plan(
    session: Session,
    loaded: LoadedAgreement,
    planned: list[PlannedOccurrence],
    today: dt.date,
    actor: str,
    calendar_fingerprint: str,
    *,
    notify_horizon_days: int = DEFAULT_HORIZON_DAYS,
    prepared: PreparedPlan | None = None,
) -> PlanResult:
    """Caller owns the transaction: either the whole plan lands or nothing does.

    `notify_horizon_days` is the deployment's `Settings.notify_horizon_days` (new-task notices reach that far).
    `prepared`: `prepare_plan(planned)`, when the caller made it already.
    """
    agreement = loaded.agreement
    fingerprint = plan_fingerprint(loaded, calendar_fingerprint)
    record = session.get(AgreementRecord, agreement.id, with_for_update=True)
    if record is not None and record.content_hash == fingerprint:
        return _unchanged(session, record, calendar_fingerprint, len(planned), today, actor)

    first = record is None
    content_changed = first or not _version_exists(session, agreement.id, loaded.content_hash)
    version = 1 if record is None else record.version + (1 if content_changed else 0)
    if first:
        effective: dt.date | None = None
        amendment = None
    else:
        effective, amendment = effective_date(agreement.amended, _applied_amendments(session, agreement.id), today)
    departments, clauses = _record_plan(
        session, record, loaded, version, fingerprint, calendar_fingerprint, content_changed
    )
    # A new agreement has no rows yet (occurrence.agreement_id references it): no query for them.
    stored = [] if first else _stored_occurrences(session, agreement.id, departments)
    on_demand = {c.id for p in agreement.programmes for c in p.clauses if c.recurrence.on_demand}
    plan = diff(planned, stored, set(clauses), effective, agreement.tracking_from, on_demand)
    # A first plan writes each row with its status as of `today` (what the sweep below would set): updating half a
    # million just-inserted rows cost as much as inserting them (profiled in bench/).
    # The highest id before the insert: SQLite's new ids follow from it. PostgreSQL's COPY takes its ids first.
    newest = _newest_occurrence_id(session) if first and not _copies(session.connection().dialect) else 0
    statuses: list[str] = []  # a first plan's created rows' statuses, as written
    created_untracked, created_ids = _write_occurrences(
        session,
        agreement.id,
        plan,
        clauses,
        departments,
        version,
        today if first else None,
        newest if first else None,
        statuses,
    )
    # A first plan's rows with their ids (as the insert gave them, else read back once by id range): for the
    # sweep's events and the new-task notices.
    moved, upcoming = (
        _first_rows(session, newest, agreement.id, plan, departments, today, notify_horizon_days, created_ids, statuses)
        if first
        else (None, None)
    )
    _decide_notices(session, loaded, version, plan, stored, departments, today, notify_horizon_days, upcoming)

    result = PlanResult(
        agreement.id,
        version,
        unchanged=False,
        created=len(plan.create),
        updated=len(plan.update),
        cancelled=len(plan.cancel),
        kept=plan.kept,
        restored=len(plan.restore),
        untracked=len(plan.untrack) + len(created_untracked),
        tracked=len(plan.track),
        not_created=plan.not_created,
        effective_from=effective,
        amendment=amendment.ref if amendment else None,
        # Nothing stored (a first plan): every row is added, a list of thousands that only some callers read.
        changes=DeferredChanges(partial(plan.changes, ())) if not stored else plan.changes(stored),
    )
    events = _events(
        agreement.id,
        actor,
        version,
        loaded,
        plan,
        len(planned),
        stored,
        created_untracked,
        result,
        prepared or prepare_plan(planned),
    )
    return _close_plan(session, events, result, today, actor, moved if first else None)


def keep_if_unchanged(
    session: Session, loaded: LoadedAgreement, calendar_fingerprint: str, occurrences: int, today: dt.date, actor: str
) -> PlanResult | None:
    """`apply_plan` of an unchanged file, which needs only how many rows the text plans (`occurrences`); None when
    the file changed since its last plan (then nothing is written: plan it with `apply_plan`)."""
    record = session.get(AgreementRecord, loaded.agreement.id, with_for_update=True)
    if record is None or record.content_hash != plan_fingerprint(loaded, calendar_fingerprint):
        return None
    return _unchanged(session, record, calendar_fingerprint, occurrences, today, actor)


def _unchanged(
    session: Session, record: AgreementRecord, calendar_fingerprint: str, occurrences: int, today: dt.date, actor: str
) -> PlanResult:
    if record.calendar_version != calendar_fingerprint:  # planned before versions were stored (migration 0010)
        record.calendar_version = calendar_fingerprint
        session.add(record)
    unchanged = PlanResult(record.id, record.version, unchanged=True, kept=occurrences)
    # nothing to re-plan, but statuses still come up to date as of this plan's today (nothing written if current)
    swept = sweep(session, today, actor, agreement_id=record.id)
    unchanged.became_due, unchanged.became_overdue = swept.became_due, swept.became_overdue
    return unchanged


def _record_plan(
    session: Session,
    record: AgreementRecord | None,
    loaded: LoadedAgreement,
    version: int,
    fingerprint: str,
    calendar_fingerprint: str,
    content_changed: bool,
) -> tuple[dict[tuple[str, str], int], dict[str, int]]:
    """The agreement's row (`record` None: a new agreement) and, when the text is new, its version; then its
    parties' departments and its clauses: (party, department) → department id, clause code → clause id."""
    agreement = loaded.agreement
    first = record is None
    # calendar_version: what `refresh-calendar` compares with the data now installed
    _upsert_agreement(session, record, loaded, version, fingerprint, calendar_fingerprint)
    if content_changed:
        session.add(
            AgreementVersion(
                agreement_id=agreement.id,
                version=version,
                content_hash=loaded.content_hash,
                document=agreement.model_dump(mode="json", exclude_unset=True),  # keeps which rules were written
            )
        )
    # A new agreement has no parties' links, programmes or clauses yet either (they reference it): not queried.
    return _upsert_parties(session, loaded, first), _upsert_clauses(session, loaded, first)


def _close_plan(
    session: Session,
    events: list[EventDraft],
    result: PlanResult,
    today: dt.date,
    actor: str,
    first_moved: Mapping[str, list[int]] | None,
) -> PlanResult:
    """The plan's ledger events, then its rows' statuses as of this plan's today, in its transaction: no stale
    planned/due rows until the next sweep. A first plan's rows (`first_moved`: its due and overdue ones, id order)
    were written so; the ledger names them as the sweep would have moved them."""
    ledger.append(session, events)
    agreement_id = result.agreement_id
    swept = (
        record_first_statuses(session, today, actor, agreement_id, first_moved)
        if first_moved is not None
        else sweep(session, today, actor, agreement_id=agreement_id)
    )
    result.became_due, result.became_overdue = swept.became_due, swept.became_overdue
    return result


@dataclass(frozen=True)
class FirstRows:
    """What a staged first plan's insert reports: its rows' ids and the per-row facts the plan's events need."""

    created: int
    untracked: list[tuple[int, str]]  # (id, key) of rows created as untracked history, id order
    moved: dict[str, list[int]]  # status → ids (id order) of the rows written due or overdue
    upcoming: list[tuple[int, int, dt.date, str]]  # (id, department id, due, clause code): new-task notices


def apply_first_plan(
    session: Session,
    loaded: LoadedAgreement,
    calendar_fingerprint: str,
    occurrences: int,
    prepared: PreparedPlan,
    insert: Callable[[Session, dict[str, int], dict[tuple[str, str], int], int], FirstRows],
    changes: Callable[[], list[PlanChange]],
    today: dt.date,
    actor: str,
    *,
    notify_horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> PlanResult | None:
    """A new agreement's first plan whose rows were prepared elsewhere (`coop.store.staging`): the same rows,
    statuses, notices and ledger events as `apply_plan`, but the writer handles no Python object per row.

    `insert(session, clause ids, department ids, newest id)` writes the `occurrences` rows. `changes` builds the
    change list when someone reads it. None: the agreement has a plan already (planned since the caller looked),
    nothing written: plan it with `apply_plan`."""
    agreement = loaded.agreement
    if session.get(AgreementRecord, agreement.id, with_for_update=True) is not None:
        return None
    fingerprint = plan_fingerprint(loaded, calendar_fingerprint)
    departments, clauses = _record_plan(session, None, loaded, 1, fingerprint, calendar_fingerprint, True)
    newest = 0 if _copies(session.connection().dialect) else _newest_occurrence_id(session)
    rows = insert(session, clauses, departments, newest)
    plan = PlanDiff(tracking_from=agreement.tracking_from)  # the rows are created, not listed: `rows.created`
    _decide_notices(session, loaded, 1, plan, [], departments, today, notify_horizon_days, rows.upcoming)
    result = PlanResult(
        agreement.id,
        1,
        unchanged=False,
        created=rows.created,
        untracked=len(rows.untracked),
        changes=DeferredChanges(changes),
    )
    events = _events(agreement.id, actor, 1, loaded, plan, occurrences, [], rows.untracked, result, prepared)
    return _close_plan(session, events, result, today, actor, rows.moved)


def _applied_amendments(session: Session, agreement_id: str) -> set[tuple[dt.date, str]]:
    """(date, ref) of every `amended:` entry some earlier plan of this agreement has already seen."""
    seen: set[tuple[dt.date, str]] = set()
    for (document,) in session.execute(
        select(col(AgreementVersion.document)).where(col(AgreementVersion.agreement_id) == agreement_id)
    ):
        for entry in (document or {}).get("amended") or []:
            seen.add((dt.date.fromisoformat(str(entry["date"])), str(entry["ref"])))
    return seen


def _version_exists(session: Session, agreement_id: str, content_hash: str) -> bool:
    found = session.execute(
        select(col(AgreementVersion.id)).where(
            col(AgreementVersion.agreement_id) == agreement_id, col(AgreementVersion.content_hash) == content_hash
        )
    ).first()
    return found is not None


def _upsert_agreement(
    session: Session,
    record: AgreementRecord | None,
    loaded: LoadedAgreement,
    version: int,
    fingerprint: str,
    calendar_version: str,
) -> AgreementRecord:
    """The agreement's row, every column in one INSERT or UPDATE."""
    a = loaded.agreement
    values: dict[str, Any] = {
        "title": a.title,
        "signed": a.signed,
        "term_start": a.term.start,
        "term_end": a.term.end,
        "source": a.source,
        "path": loaded.path,
        "version": version,
        "content_hash": fingerprint,
        "calendar_version": calendar_version,
        "metric_labels": dict(a.metric_labels),
        "planned_at": utcnow(),
    }
    if record is None:
        record = AgreementRecord(id=a.id, **values)
    else:
        for k, v in values.items():
            setattr(record, k, v)
    session.add(record)
    session.flush()
    return record


def _table(model: type[Any]) -> Any:
    """A model's Core table: the plan's per-agreement statements run on the session's connection, not through the
    ORM session (no ORM objects are involved; its per-statement cost was most of these statements', bench/)."""
    return model.__table__


def _upsert_parties(session: Session, loaded: LoadedAgreement, first: bool = False) -> dict[tuple[str, str], int]:
    """(party short name, department name) → department id of this agreement, creating what is new.

    A party is found by its key (organisation id, or `<agreement>:<name>` when declared only here), never by its
    short name; a department by its key within the party (its `id`, else its name). Contacts and channels follow
    the latest plan. Core statements, one per kind of change: building SQLModel objects row by row cost ~0.5 ms each.
    `first`: the agreement has no row before this plan, so nothing links to it yet.
    """
    agreement = loaded.agreement
    agency_ids = _agency_ids(session, agreement.id, agreement.parties, first)
    table = Department.__table__  # type: ignore[attr-defined]
    rows = list(
        session.connection().execute(
            select(
                table.c.id,
                table.c.agency_id,
                table.c.key,
                table.c.name,
                table.c.leader,
                table.c.contact,
                table.c.channels,
                table.c.escalation_channels,
            ).where(table.c.agency_id.in_(set(agency_ids.values())))
        )
    )
    by_key = {(r.agency_id, r.key): r for r in rows}
    # Names are unique within a party too: a department found by name takes the id the text gives it, if any.
    by_name = {(r.agency_id, r.name): r for r in rows}
    ids: dict[tuple[str, str], int] = {}
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for party in agreement.parties:
        agency_id = agency_ids[party.name]
        for dept in party.departments:
            row = (by_key.get((agency_id, dept.id)) if dept.id else None) or by_name.get((agency_id, dept.name))
            values = {
                "key": dept.id or (row.key if row is not None else dept.name),
                "name": dept.name,
                "leader": dept.leader,
                "contact": dept.contact,
                "channels": list(dept.channels),
                "escalation_channels": list(dept.escalation_channels),
            }
            if row is None:
                new_rows.append({"agency_id": agency_id, **values})
                continue
            ids[(party.name, dept.name)] = row.id
            stored = (row.key, row.name, row.leader, row.contact, list(row.channels or []))
            if (*stored, list(row.escalation_channels or [])) != tuple(values.values()):
                changed.append({**values, "department_id": row.id})
    if changed:
        stmt = update(table).where(table.c.id == bindparam("department_id"))
        session.connection().execute(stmt, changed)
    if new_rows:
        session.connection().execute(insert(table), new_rows)
        wanted: dict[tuple[int, str], str] = {(r["agency_id"], r["key"]): r["name"] for r in new_rows}
        names = {agency_id: party for party, agency_id in agency_ids.items()}
        for did, agency_id, key in session.connection().execute(
            select(table.c.id, table.c.agency_id, table.c.key).where(table.c.agency_id.in_({a for a, _ in wanted}))
        ):
            if (agency_id, key) in wanted:
                ids[(names[agency_id], wanted[(agency_id, key)])] = did
    return ids


def _agency_ids(session: Session, agreement_id: str, parties: list[Party], first: bool = False) -> dict[str, int]:
    """Party short name → agency id, found by key; records which agency each name of this agreement means.

    A party that migration 0007 found shared by several agreements (key `legacy:…`) stays linked to the
    agreements that used it, so its history stays whole: a party declared only here keeps it, and the first
    agreement that names an organisation id for it gives it that id. A party declared only here that later
    names an id (`id:` or `ref:`) keeps its rows too, unless another agreement already has a party with that id.
    """
    keys = {p.name: p.key(agreement_id) for p in parties}
    agency = _table(Agency)
    found = {
        key: (aid, name, full_name)
        for aid, key, name, full_name in session.connection().execute(
            select(agency.c.id, agency.c.key, agency.c.name, agency.c.full_name).where(
                agency.c.key.in_(set(keys.values()))
            )
        )
    }
    linked = (
        {}
        if first  # agreement_party references the agreement: a new one has no links
        else {
            name: (agency_id, key)
            for name, agency_id, key in session.connection().execute(
                select(col(AgreementParty.name), col(AgreementParty.agency_id), col(Agency.key))
                .join(Agency, col(Agency.id) == col(AgreementParty.agency_id))
                .where(col(AgreementParty.agreement_id) == agreement_id)
            )
        }
    )
    ids: dict[str, int] = {}
    new: dict[str, dict[str, str | None]] = {}  # key → a new agency's row
    named: dict[str, str] = {}  # party name → key, of the new ones
    for p in parties:
        key = keys[p.name]
        row = found.get(key)
        if row is not None:
            ids[p.name] = row[0]
            if row[1:] != (p.name, p.full_name):  # an organisation's names follow the latest plan naming it
                session.connection().execute(
                    update(Agency).where(col(Agency.id) == row[0]).values(name=p.name, full_name=p.full_name)
                )
            continue
        before = linked.get(p.name)
        # The party this name meant until now, if it may take the new key: one shared before identities existed,
        # or one declared only in this agreement that now names its organisation id (same rows, same history).
        if before is not None and (before[1].startswith(LEGACY_PREFIX) or before[1] == f"{agreement_id}:{p.name}"):
            ids[p.name] = before[0]
            if p.ref or p.id:
                session.connection().execute(
                    update(Agency)
                    .where(col(Agency.id) == before[0])
                    .values(key=key, name=p.name, full_name=p.full_name)
                )
            continue
        new[key] = {"key": key, "name": p.name, "full_name": p.full_name}
        named[p.name] = key
    if new:  # one statement for every new organisation, one to read their ids (a first plan names five or so)
        session.connection().execute(insert(agency), list(new.values()))
        created: dict[str, int] = dict(
            session.connection().execute(select(agency.c.key, agency.c.id).where(agency.c.key.in_(new))).all()
        )
        ids = {p.name: ids[p.name] if p.name in ids else created[named[p.name]] for p in parties}  # party order
    links = [
        {"agreement_id": agreement_id, "name": name, "agency_id": agency_id}
        for name, agency_id in ids.items()
        if name not in linked
    ]
    if links:
        session.connection().execute(insert(_table(AgreementParty)), links)
    for name, agency_id in ids.items():
        if name not in linked:
            continue
        if linked[name][0] != agency_id:
            session.connection().execute(
                update(AgreementParty)
                .where(col(AgreementParty.agreement_id) == agreement_id, col(AgreementParty.name) == name)
                .values(agency_id=agency_id)
            )
    return ids


def _upsert_clauses(session: Session, loaded: LoadedAgreement, first: bool = False) -> dict[str, int]:
    """Programmes and clauses follow the text; clauses no longer in it stay, marked inactive, for history.

    `first`: the agreement has no row before this plan, so no programme or clause of it is stored (not queried)."""
    agreement = loaded.agreement
    programmes = (
        {}
        if first
        else {
            r.code: r
            for r in session.connection().execute(
                select(col(ProgrammeRecord.id), col(ProgrammeRecord.code), col(ProgrammeRecord.title)).where(
                    col(ProgrammeRecord.agreement_id) == agreement.id
                )
            )
        }
    )
    new_programmes = [
        {"agreement_id": agreement.id, "code": p.id, "title": p.title}
        for p in agreement.programmes
        if p.id not in programmes
    ]
    for p in agreement.programmes:
        if p.id in programmes and programmes[p.id].title != p.title:
            session.connection().execute(
                update(ProgrammeRecord).where(col(ProgrammeRecord.id) == programmes[p.id].id).values(title=p.title)
            )
    if new_programmes:
        session.connection().execute(insert(_table(ProgrammeRecord)), new_programmes)

    fields = (
        "programme_code",
        "title",
        "text",
        "kind",
        "lead",
        "co_organisers",
        "sign_off",
        "rotate",
        "location",
        "targets",
        "evidence",
        "recurrence",
        "active",
    )
    table = ClauseRecord.__table__  # type: ignore[attr-defined]
    stored = (
        {}
        if first
        else {
            r.code: r
            for r in session.connection().execute(
                select(table.c.id, table.c.code, *(table.c[f] for f in fields)).where(
                    table.c.agreement_id == agreement.id
                )
            )
        }
    )
    new_rows, changed = [], []
    seen: set[str] = set()
    for programme in agreement.programmes:
        for clause in programme.clauses:
            seen.add(clause.id)
            values = {
                "programme_code": programme.id,
                "title": clause.title,
                "text": clause.text,
                "kind": clause.kind,
                "lead": clause.lead,
                "co_organisers": list(clause.co_organisers),
                "sign_off": clause.sign_off,
                "rotate": list(clause.rotate),
                "location": clause.location,
                "targets": clause.occurrence_targets(),
                "evidence": list(clause.evidence),
                "recurrence": clause.recurrence.model_dump(mode="json", exclude_none=True),
                "active": True,
            }
            row = stored.get(clause.id)
            if row is None:
                new_rows.append(dict(values, agreement_id=agreement.id, code=clause.id))
            elif tuple(getattr(row, f) for f in fields) != tuple(values.values()):
                changed.append(dict(values, clause_id=row.id))
    for code, row in stored.items():
        if code not in seen and row.active:
            changed.append({**{f: getattr(row, f) for f in fields}, "active": False, "clause_id": row.id})
    if changed:
        session.connection().execute(update(table).where(table.c.id == bindparam("clause_id")), changed)
    if new_rows:
        session.connection().execute(insert(table), new_rows)
    ids = session.connection().execute(
        select(table.c.code, table.c.id).where(table.c.agreement_id == agreement.id, table.c.active.is_(True))
    )
    return {code: cid for code, cid in ids if code in seen}


def _stored_occurrences(
    session: Session, agreement_id: str, departments: dict[tuple[str, str], int]
) -> list[StoredOccurrence]:
    """Compared as the plan last wrote them: a coordinator's extension or reassignment is not the plan's word.

    A row whose department is not the one its names now mean (the party got an id of its own) is compared
    under its party's key, so the plan moves it — if it is open and due on or after the effective date.
    """
    plan_department = func.coalesce(Occurrence.planned_department_id, Occurrence.department_id)
    query = join_department(
        join_clause(
            select(
                col(Occurrence.id),
                col(Occurrence.key),
                col(Occurrence.status),
                col(ClauseRecord.code),
                col(Occurrence.due_date),
                func.coalesce(Occurrence.planned_due_date, Occurrence.due_date),
                col(Occurrence.window_start),
                col(Occurrence.host),
                col(Agency.name),
                col(Department.name),
                col(Occurrence.provisional),
                col(Occurrence.targets),
                col(Department.id),
                col(Agency.key),
                col(Occurrence.location),
            )
        ),
        plan_department,
    )
    rows = session.execute(query.where(col(Occurrence.agreement_id) == agreement_id).execution_options(yield_per=BATCH))
    stored = [
        StoredOccurrence(
            id=r[0],
            key=r[1],
            status=str(r[2]),
            clause=r[3],
            due_date=r[4],
            comparable=(
                _day(r[5]),
                r[6],
                r[7],
                r[8] if departments.get((r[8], r[9])) == r[12] else r[13],
                *r[9:12],
                r[14],
            ),
        )
        for r in rows
    ]
    cancelled = [s.id for s in stored if s.status == OccurrenceStatus.cancelled]
    if not cancelled:
        return stored
    by_plan = _cancelled_by_plan(session, cancelled)
    return [
        StoredOccurrence(s.id, s.key, s.status, s.clause, s.due_date, s.comparable, restorable=True)
        if s.id in by_plan
        else s
        for s in stored
    ]


def _day(value: Any) -> dt.date:
    """COALESCE loses the column type on SQLite, which then returns the ISO text."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _cancelled_by_plan(session: Session, occurrence_ids: list[int]) -> set[int]:
    """Cancelled rows whose latest cancellation was a re-plan's (its event carries the plan `version`)."""
    latest: dict[int, bool] = {}
    for start in range(0, len(occurrence_ids), BATCH):
        for oid, payload in session.execute(
            select(col(LedgerEvent.occurrence_id), col(LedgerEvent.payload))
            .where(
                col(LedgerEvent.kind) == "occurrence_cancelled",
                col(LedgerEvent.occurrence_id).in_(occurrence_ids[start : start + BATCH]),
            )
            .order_by(col(LedgerEvent.id))
        ):
            latest[oid] = "version" in json.loads(payload)
    return {oid for oid, by_plan in latest.items() if by_plan}


def _write_occurrences(
    session: Session,
    agreement_id: str,
    plan: PlanDiff,
    clauses: dict[str, int],
    departments: dict[tuple[str, str], int],
    version: int,
    today: dt.date | None = None,
    newest: int | None = None,
    statuses: list[str] | None = None,
) -> tuple[list[tuple[int, str]], Sequence[int] | None]:
    """Returns (id, key) of the rows created as untracked history, which the ledger names one by one, and the
    created rows' ids in `plan.create` order when the insert knows them (None: read them back).

    `today`: created rows start with their status as of that day (a first plan); None: planned (a re-plan's sweep
    moves them). `newest`: the highest occurrence id before the insert (a first plan), else None. `statuses`: filled
    with each created row's status, in `plan.create` order."""
    now = utcnow()
    created_untracked: list[tuple[int, str]] = []
    created_ids: Sequence[int] | None = None
    if plan.create:
        created_ids = _insert_created(
            session, agreement_id, plan.create, clauses, departments, version, now, plan, today, newest, statuses
        )
        if created_ids is not None:
            created_untracked = sorted(
                (oid, p.key) for oid, p in zip(created_ids, plan.create, strict=True) if plan.is_untracked(p.due_date)
            )
        elif untracked_keys := {p.key for p in plan.create if plan.is_untracked(p.due_date)}:
            created_untracked = sorted(
                (oid, key)
                for oid, key in session.execute(
                    select(col(Occurrence.id), col(Occurrence.key)).where(
                        col(Occurrence.agreement_id) == agreement_id,
                        col(Occurrence.status) == OccurrenceStatus.untracked,
                    )
                )
                if key in untracked_keys
            )
    if plan.update or plan.restore:
        session.connection().execute(
            _follow_text_statement(),
            [
                _follow_text_params(oid, p, plan, clauses, departments, version, now)
                for oid, p in [*plan.update, *plan.restore]
            ],
        )
    for ids, values in (
        ([oid for oid, _ in plan.cancel], {"status": OccurrenceStatus.cancelled, "updated_at": now, "closed_at": now}),
        (plan.untrack, {"status": OccurrenceStatus.untracked, "updated_at": now}),
        (plan.track, {"status": OccurrenceStatus.planned, "updated_at": now}),
    ):
        for start in range(0, len(ids), BATCH):
            session.execute(
                update(Occurrence).where(Occurrence.id.in_(ids[start : start + BATCH])).values(**values)  # type: ignore[union-attr]
            )
    session.flush()
    return created_untracked, created_ids


def _follow_text_statement() -> Any:
    """A moved or restored row takes the text's values.

    A coordinator's extension (planned_due_date set) or reassignment (planned_department_id set) stands: the
    plan's new word goes to the planned_* column and the row keeps its extended date / reassigned department.
    Status restarts from planned (or untracked before tracking_from) and the sweep that follows brings it up to
    date, so an overdue task moved into the future is no longer overdue; a suspended task stays suspended.
    """
    t = Occurrence.__table__  # type: ignore[attr-defined]
    extended = t.c.planned_due_date.isnot(None)
    reassigned = t.c.planned_department_id.isnot(None)
    suspended = t.c.status == OccurrenceStatus.suspended
    return (
        update(t)
        .where(t.c.id == bindparam("oid"))
        .values(
            clause_id=bindparam("p_clause"),
            due_date=case((extended, t.c.due_date), else_=bindparam("p_due", type_=t.c.due_date.type)),
            planned_due_date=case((extended, bindparam("p_due", type_=t.c.due_date.type)), else_=None),
            window_start=bindparam("p_window"),
            host=bindparam("p_host"),
            location=bindparam("p_location"),
            department_id=case(
                (reassigned, t.c.department_id), else_=bindparam("p_department", type_=t.c.department_id.type)
            ),
            planned_department_id=case(
                (reassigned, bindparam("p_department", type_=t.c.department_id.type)), else_=None
            ),
            provisional=bindparam("p_provisional"),
            targets=bindparam("p_targets", type_=t.c.targets.type),
            version=bindparam("p_version"),
            status=case((suspended, t.c.status), else_=bindparam("p_status", type_=t.c.status.type)),
            closed_at=None,
            updated_at=bindparam("p_now"),
        )
    )


def _follow_text_params(
    oid: int,
    p: PlannedOccurrence,
    plan: PlanDiff,
    clauses: dict[str, int],
    departments: dict[tuple[str, str], int],
    version: int,
    now: dt.datetime,
) -> dict[str, Any]:
    return {
        "oid": oid,
        "p_clause": clauses[p.clause],
        "p_due": p.due_date,
        "p_window": p.window_start,
        "p_host": p.host,
        "p_location": p.location,
        "p_department": departments[(p.party, p.department)],
        "p_provisional": p.provisional,
        "p_targets": dict(p.targets),
        "p_version": version,
        "p_status": OccurrenceStatus.untracked if plan.is_untracked(p.due_date) else OccurrenceStatus.planned,
        "p_now": now,
    }


CREATE_COLUMNS = (
    "agreement_id",
    "clause_id",
    "key",
    "nominal_date",
    "due_date",
    "window_start",
    "host",
    "location",
    "department_id",
    "status",
    "provisional",
    "targets",
    "version",
    "updated_at",
)


class _Converted(dict[Any, Any]):
    """Database form of each distinct value, converted once: a million rows hold a few thousand dates."""

    def __init__(self, convert: Callable[[Any], Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, value: Any) -> Any:
        converted = self[value] = self.convert(value)
        return converted


# Dates in their database form, per dialect and driver, kept across plans: each agreement's five-year term shares
# most of its days with the last one's (converting ~1,500 days per agreement was 5 % of the writer, bench/).
_DAYS: dict[tuple[str, str], _Converted] = {}
_DAYS_MAX = 100_000  # distinct days kept (about 270 years): bounds the cache in a long-lived process


def created_rows(
    dialect: Any,
    agreement_id: str,
    created: list[PlannedOccurrence],
    clauses: Mapping[str, int],
    departments: Mapping[tuple[str, str], int],
    version: int,
    now: dt.datetime,
    tracking_from: dt.date | None,
    today: dt.date | None,
    statuses: list[str] | None = None,
    *,
    as_text: bool = False,
) -> list[tuple[Any, ...]]:
    """A first plan's rows in `CREATE_COLUMNS` order, each value in the form `dialect`'s driver stores.

    `clauses` and `departments` give the ids to write (a staged plan gives its own indexes: `coop.store.staging`).
    `as_text`: the JSON column as text, as COPY takes it. `statuses`: filled with each row's status as written."""
    table = Occurrence.__table__  # type: ignore[attr-defined]

    def processor(name: str) -> Callable[[Any], Any]:
        proc = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        return proc or (lambda v: v)

    day = _DAYS.get((dialect.name, dialect.driver))
    if day is None or len(day) > _DAYS_MAX:
        day = _DAYS[(dialect.name, dialect.driver)] = _Converted(processor("due_date"))

    # COPY takes text for the JSON column; psycopg's Json would serialise with json.dumps too.
    targets_proc = (lambda v: json.dumps(v)) if as_text else processor("targets")
    targets_of: dict[str, Any] = {}
    status_proc = processor("status")

    def status(value: OccurrenceStatus) -> tuple[str, Any]:
        return str(value), status_proc(value)

    planned_status, untracked_status = status(OccurrenceStatus.planned), status(OccurrenceStatus.untracked)
    # Status as of `today` per (window, due) pair, converted once; a few thousand pairs for a million rows.
    dated: dict[tuple[dt.date, dt.date], tuple[str, Any]] = {}
    updated_at, provisional = processor("updated_at")(now), processor("provisional")
    flags = {True: provisional(True), False: provisional(False)}
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    record = statuses.append if statuses is not None else None
    for p in created:
        targets = targets_of.get(p.clause)
        if targets is None:
            targets = targets_of[p.clause] = targets_proc(dict(p.targets))
        if tracking_from is not None and p.due_date < tracking_from:
            state = untracked_status
        elif today is None:
            state = planned_status
        else:
            pair = (p.window_start, p.due_date)
            state = dated.get(pair) or dated.setdefault(pair, status(status_by_date(*pair, today)))
        if record is not None:
            record(state[0])
        append(
            (
                agreement_id,
                clauses[p.clause],
                p.key,
                day[p.nominal_date],
                day[p.due_date],
                day[p.window_start],
                p.host,
                p.location,
                departments[(p.party, p.department)],
                state[1],
                flags[p.provisional],
                targets,
                version,
                updated_at,
            )
        )
    return rows


def _insert_created(
    session: Session,
    agreement_id: str,
    created: list[PlannedOccurrence],
    clauses: dict[str, int],
    departments: dict[tuple[str, str], int],
    version: int,
    now: dt.datetime,
    plan: PlanDiff,
    today: dt.date | None = None,
    newest: int | None = None,
    statuses: list[str] | None = None,
) -> Sequence[int] | None:
    """The bulk path of a first plan: rows go to the driver as plain tuples (COPY on PostgreSQL).

    Per-row ORM/Core parameter processing cost more than the database itself (profiled in bench/);
    values are converted with SQLAlchemy's own bind processors, once per distinct value, so the
    stored form is exactly what `insert(Occurrence)` would have written.

    Returns the new rows' ids in `created` order when known without reading them back (reading them back cost
    10–20 % of the writer, profiled in bench/), else None. PostgreSQL: ids are taken from the table's sequence
    first and copied with the rows. SQLite, given `newest` (the highest id before, this transaction holding the
    write lock): each new rowid is above every id before it, so n rows ending at `newest` + n are exactly
    `newest` + 1 … `newest` + n in insert order; any other last rowid (AUTOINCREMENT after deletes) reads back.
    Either way the ids ascend in `created` order. `statuses`: filled with each row's status as written.
    """
    conn = session.connection()
    dialect = conn.dialect
    table = Occurrence.__table__  # type: ignore[attr-defined]
    copy = _copies(dialect)
    rows = created_rows(
        dialect,
        agreement_id,
        created,
        clauses,
        departments,
        version,
        now,
        plan.tracking_from,
        today,
        statuses,
        as_text=copy,
    )
    if copy:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        ids = sequence_ids(cursor, len(rows))
        with cursor.copy(f"COPY occurrence (id, {', '.join(CREATE_COLUMNS)}) FROM STDIN") as sink:
            for oid, row in zip(ids, rows, strict=True):
                sink.write_row((oid, *row))
        return ids
    compiled = insert(table).values({c: bindparam(c) for c in CREATE_COLUMNS}).compile(dialect=dialect)
    params: list[Any] = rows
    if not (dialect.positional and tuple(compiled.positiontup or ()) == CREATE_COLUMNS):
        params = [dict(zip(CREATE_COLUMNS, row, strict=True)) for row in rows]
    conn.exec_driver_sql(compiled.string, params)
    if newest is not None and dialect.name == "sqlite":
        last = conn.exec_driver_sql("SELECT last_insert_rowid()").scalar_one()
        if last == newest + len(rows):
            return range(newest + 1, last + 1)
    return None


def sequence_ids(cursor: Any, count: int) -> list[int]:
    """PostgreSQL: `count` new occurrence ids taken from the table's sequence, ascending (the rows' order)."""
    cursor.execute("SELECT nextval(pg_get_serial_sequence('occurrence', 'id')) FROM generate_series(1, %s)", (count,))
    return sorted(oid for (oid,) in cursor.fetchall())


def _decide_notices(
    session: Session,
    loaded: LoadedAgreement,
    version: int,
    plan: PlanDiff,
    stored: list[StoredOccurrence],
    departments: dict[tuple[str, str], int],
    today: dt.date,
    horizon_days: int,
    upcoming: list[tuple[int, int, dt.date, str]] | None = None,
) -> None:
    """Same transaction as the plan: a changed task and the decision to tell its department land together.

    `upcoming`: a first plan's open rows due within the horizon, as `_first_rows` found them (no query then)."""
    before = {s.id: s for s in stored}
    cancelled = []
    for oid, _ in plan.cancel:
        old = before[oid].comparable
        dept = departments.get((str(old[3]), str(old[4])))
        if dept is not None:
            cancelled.append((oid, before[oid].due_date, dept, before[oid].clause))
    record_plan_notices(
        session,
        loaded.agreement.id,
        version,
        {oid for oid, _ in [*plan.update, *plan.restore]} | set(plan.track),
        cancelled,
        today,
        horizon_days,
        clause_policies(loaded.agreement),
        upcoming=upcoming,
    )


def _copies(dialect: Any) -> bool:
    """A first plan's rows go in by COPY with ids taken from the sequence first (psycopg on PostgreSQL)."""
    return bool(dialect.name == "postgresql" and dialect.driver == "psycopg")


def _newest_occurrence_id(session: Session) -> int:
    """The highest occurrence id so far (0 if none): rows this transaction inserts next have higher ids."""
    return session.connection().execute(select(func.max(col(Occurrence.id)))).scalar_one() or 0


def _first_rows(
    session: Session,
    after_id: int,
    agreement_id: str,
    plan: PlanDiff,
    departments: dict[tuple[str, str], int],
    today: dt.date,
    horizon_days: int,
    created_ids: Sequence[int] | None,
    statuses: list[str],
) -> tuple[dict[str, list[int]], list[tuple[int, int, dt.date, str]]]:
    """A first plan's rows, in id order, in one pass: the due and overdue ones' ids by status (the sweep's
    events), and (id, department, due, clause code) of the open ones due from `today` to the horizon (the
    new-task notices).

    Ids as the insert gave them (`created_ids`, ascending in `plan.create` order), else read back by a primary-key
    range above `after_id`; statuses as `_insert_created` wrote them (`statuses`, same order)."""
    rows: Iterable[tuple[int, PlannedOccurrence, str]] = zip(
        created_ids if created_ids is not None else _read_back_ids(session, after_id, agreement_id, plan),
        plan.create,
        statuses,
        strict=True,
    )
    if created_ids is None:
        rows = sorted(rows, key=itemgetter(0))
    return first_rows_of(rows, departments, today, horizon_days)


def first_rows_of(
    rows: Iterable[tuple[int, PlannedOccurrence, str]],
    departments: Mapping[tuple[str, str], int],
    today: dt.date,
    horizon_days: int,
) -> tuple[dict[str, list[int]], list[tuple[int, int, dt.date, str]]]:
    """`_first_rows` of (id, occurrence, status) rows in id order; a staged plan passes row indexes for ids and
    department indexes for departments (`coop.store.staging`)."""
    horizon = today + dt.timedelta(days=horizon_days)
    opened = {str(s) for s in OPEN_STATUSES}
    moved: dict[str, list[int]] = {str(OccurrenceStatus.due): [], str(OccurrenceStatus.overdue): []}
    upcoming: list[tuple[int, int, dt.date, str]] = []
    for oid, p, status in rows:
        ids = moved.get(status)
        if ids is not None:
            ids.append(oid)
        if today <= p.due_date <= horizon and status in opened:
            upcoming.append((oid, departments[(p.party, p.department)], p.due_date, p.clause))
    return moved, upcoming


def _read_back_ids(session: Session, after_id: int, agreement_id: str, plan: PlanDiff) -> list[int]:
    """The created rows' ids in `plan.create` order, read back by a primary-key range above `after_id`.

    Through the (agreement, key) index, one table lookup per row cost 15 % of a first plan (profiled in bench/);
    agreement is compared here, not in SQL, so no database prefers that index to the range."""
    table = _table(Occurrence)
    ids = {
        key: oid
        for oid, key, aid in session.connection().execute(
            select(table.c.id, table.c.key, table.c.agreement_id).where(table.c.id > after_id)
        )
        if aid == agreement_id
    }
    return [ids[p.key] for p in plan.create]


def _events(
    agreement_id: str,
    actor: str,
    version: int,
    loaded: LoadedAgreement,
    plan: PlanDiff,
    occurrences: int,
    stored: list[StoredOccurrence],
    created_untracked: list[tuple[int, str]],
    result: PlanResult,
    prepared: PreparedPlan,
) -> list[EventDraft]:
    """One event for the plan (with a digest of every planned row), one per occurrence it moved, cancelled,
    restored, untracked or tracked again — each with the effective date and the amendment behind it.

    `occurrences`: how many rows the text plans; `result.created` of them are new (all of them in a first plan,
    whose created keys' digest is then the digest of all keys)."""
    created_keys_digest = (
        prepared.all_keys_digest
        if result.created == occurrences
        else hashlib.sha256("\n".join(sorted(p.key for p in plan.create)).encode()).hexdigest()
    )
    effective = str(plan.effective_from) if plan.effective_from else None
    tracking_from = str(plan.tracking_from) if plan.tracking_from else None
    events = [
        EventDraft(
            kind="agreement_planned",
            actor=actor,
            agreement_id=agreement_id,
            payload={
                "version": version,
                "content_hash": loaded.content_hash,
                "created": result.created,
                "updated": len(plan.update),
                "cancelled": len(plan.cancel),
                "restored": len(plan.restore),
                "untracked": result.untracked,
                "tracked": len(plan.track),
                "not_created": plan.not_created,
                "effective_from": effective,
                "amendment": result.amendment,
                "tracking_from": tracking_from,
                "occurrences": occurrences,
                "occurrences_digest": prepared.occurrences_digest,
                "created_keys_digest": created_keys_digest,
            },
        )
    ]
    before = {s.id: s for s in stored}

    def event(kind: str, oid: int, payload: dict[str, Any]) -> EventDraft:
        base = {"version": version, "effective_from": effective, "amendment": result.amendment}
        return EventDraft(kind=kind, actor=actor, agreement_id=agreement_id, occurrence_id=oid, payload=base | payload)

    def moved(oid: int, p: PlannedOccurrence) -> dict[str, Any]:
        old = before[oid].comparable
        return {
            "before": {"due_date": str(old[0]), "host": old[2], "party": old[3], "department": old[4]},
            "after": {"due_date": str(p.due_date), "host": p.host, "party": p.party, "department": p.department},
            **({"location": {"before": old[7], "after": p.location}} if old[7] != p.location else {}),
        }

    for oid, p in plan.update:
        events.append(event("occurrence_replanned", oid, moved(oid, p)))
    for oid, reason in plan.cancel:
        events.append(event("occurrence_cancelled", oid, {"reason": reason, "key": before[oid].key}))
    for oid, p in plan.restore:
        reason = "协议修订后该任务重新安排（此前因修订取消）"
        events.append(event("occurrence_restored", oid, {"reason": reason, "key": p.key} | moved(oid, p)))
    untrack: list[tuple[int, str, str | None]] = [(oid, before[oid].key, before[oid].status) for oid in plan.untrack]
    untrack += [(oid, key, None) for oid, key in created_untracked]
    for oid, key, previous in untrack:
        reason = f"到期日早于 tracking_from {tracking_from}：作为历史记录保留，不算逾期、不督办、不计入完成率"
        payload = {"reason": reason, "key": key, "tracking_from": tracking_from, "previous_status": previous}
        events.append(event("occurrence_untracked", oid, payload))
    for oid in plan.track:
        reason = f"到期日不早于 tracking_from {tracking_from or '（已删除）'}：恢复跟踪"
        events.append(event("occurrence_tracked", oid, {"reason": reason, "key": before[oid].key}))
    return events
