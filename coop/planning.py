"""Expand an agreement into dated occurrences and work out what a re-plan changes. Pure logic."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from itertools import repeat
from operator import attrgetter
from typing import TYPE_CHECKING, Literal, overload

from coop.agreement.loader import LoadedAgreement
from coop.agreement.schema import Amendment, Clause, Party
from coop.calendar import SeasonCalendar, WorkdayCalendar
from coop.errors import AgreementError
from coop.recurrence import nominal_dates, scheduled_dates
from coop.seasons import RegionalSeasons, regional_seasons
from models.tables import OPEN_STATUSES as OPEN


@dataclass(frozen=True)
class PlannedOccurrence:
    """What the agreement says one occurrence should look like; `key` is its identity across re-plans."""

    key: str
    programme: str
    clause: str
    nominal_date: dt.date
    due_date: dt.date
    window_start: dt.date
    host: str | None
    party: str
    department: str
    provisional: bool
    targets: Mapping[str, int] = field(default_factory=dict)
    # Where this round takes place when the clause takes it from the host (`location_from_host`); else None.
    # Compared (last): a host party's new location moves to its open future rounds like any other field.
    location: str | None = None

    def comparable(self) -> tuple[object, ...]:
        """Fields whose change makes a re-plan touch the stored row."""
        return (
            self.due_date,
            self.window_start,
            self.host,
            self.party,
            self.department,
            self.provisional,
            dict(self.targets),
            self.location,
        )


def rotate_host(rotation: list[str], index: int) -> str | None:
    """The n-th occurrence of a clause is hosted by rotation[n mod len]; no rotation, no host."""
    return rotation[index % len(rotation)] if rotation else None


def _owners(clause: Clause, parties: list[Party]) -> list[tuple[str, str]]:
    """Who owes every occurrence; empty for a hand-over clause, whose owner is each round's host."""
    resp = clause.responsible
    if resp.from_host:
        return []
    if resp.each_party:
        return [(p.name, resp.department or p.coordinator) for p in parties]
    party = next(p for p in parties if p.name == resp.party)
    return [(party.name, resp.department or party.coordinator)]


def expand(
    loaded: LoadedAgreement, calendar: WorkdayCalendar, limit: int, seasons: SeasonCalendar | None = None
) -> list[PlannedOccurrence]:
    """All occurrences over the term; a clause that yields too many raises an error at its line.

    `seasons` (寒暑假 table) defaults to the packaged one. `on_demand` clauses yield nothing here: their
    occurrences are opened one at a time by a coordinator or department.
    The inner loop runs once per occurrence (millions province-wide), so everything that is the
    same for a whole clause is worked out before it, and occurrences of a clause share one
    `targets` mapping (read-only by contract, like the frozen dataclass holding it).
    """
    agreement = loaded.agreement
    term = agreement.term
    by_name = {p.name: p for p in agreement.parties}
    planned: list[PlannedOccurrence] = []
    append = planned.append
    # Each occurrence built with every field at once: the frozen dataclass's __init__ sets its twelve fields one
    # object.__setattr__ at a time, half of this loop's cost (profiled in bench/). Same fields, same object.
    new, set_fields = object.__new__, object.__setattr__
    for programme in agreement.programmes:
        for clause in programme.clauses:
            rec = clause.recurrence
            if rec.on_demand:
                continue
            try:
                if rec.fixed_form:
                    dates = nominal_dates(rec, term, limit)
                    # Due dates come from `adjust`; nothing is provisional by the rule itself.
                    items: Iterable[tuple[dt.date, dt.date | None, bool]] = zip(
                        dates, repeat(None), repeat(False), strict=False
                    )
                else:
                    scheduled = scheduled_dates(rec, term, limit, calendar, seasons or regional_seasons())
                    dates = [nominal for nominal, _, _ in scheduled]
                    items = scheduled
            except ValueError as exc:
                raise loaded.problem(clause.id, f"'recurrence': {exc}") from None
            if not dates:
                # e.g. BYMONTH=2;BYMONTHDAY=30, or a year-end date in a short term: the clause would never be tracked.
                raise loaded.problem(
                    clause.id,
                    f"'recurrence'（{rec.describe()}）在协议期 {term.start} – {term.end} 内没有任何日期；请检查规则 "
                    "(yields no date within the term)",
                )
            owners = _owners(clause, agreement.parties)
            suffixed = [(party, department, f"/{party}" if len(owners) > 1 else "") for party, department in owners]
            targets = clause.occurrence_targets()
            window = dt.timedelta(days=rec.window_days)
            rotation, clause_id, programme_id = clause.rotate, clause.id, programme.id
            hand_over, place_from_host = clause.responsible.from_host, clause.location_from_host
            for index, (nominal, fixed_due, rule_provisional) in enumerate(items):
                if fixed_due is None:
                    due, provisional = calendar.adjust(nominal, rec.adjust)
                    provisional = provisional or rule_provisional
                else:  # already a working day by the rule: `adjust` must not move it again
                    due, provisional = fixed_due, rule_provisional
                window_start = term.start if rec.deadline is not None else max(term.start, due - window)
                if window_start > due:
                    window_start = due
                host = rotate_host(rotation, index)
                location = None
                if hand_over or place_from_host:
                    assert host is not None  # the schema requires `rotate` for a hand-over
                    host_party = by_name[host]
                    location = host_party.location if place_from_host else None
                    if hand_over:
                        suffixed = [(host, clause.responsible.department or host_party.coordinator, "")]
                stem = f"{clause_id}@{nominal.isoformat()}"
                for party, department, suffix in suffixed:
                    occurrence = new(PlannedOccurrence)
                    set_fields(
                        occurrence,
                        "__dict__",
                        {
                            "key": stem + suffix,
                            "programme": programme_id,
                            "clause": clause_id,
                            "nominal_date": nominal,
                            "due_date": due,
                            "window_start": window_start,
                            "host": host,
                            "party": party,
                            "department": department,
                            "provisional": provisional,
                            "targets": targets,
                            "location": location,
                        },
                    )
                    append(occurrence)
    return planned


@dataclass(frozen=True)
class StoredOccurrence:
    """The parts of a stored row a re-plan compares against.

    `due_date` is the row's real due date (a coordinator's extension included): it decides whether the row is
    history. `comparable` holds what the plan last said (the plan's due date and department, not an extension's).
    `restorable`: a cancelled row whose last cancellation was a re-plan's, which a later text may bring back;
    a coordinator's cancellation is a decision and stays.
    """

    id: int
    key: str
    status: str
    clause: str
    due_date: dt.date
    comparable: tuple[object, ...]
    restorable: bool = False


UNTRACKED = "untracked"
CANCELLED = "cancelled"
SUSPENDED = "suspended"
# Rows a re-plan may move or cancel when due on or after the effective date; done and waived rows never change.
FOLLOWS_TEXT = OPEN | {UNTRACKED, SUSPENDED}

ChangeKind = Literal["added", "moved", "changed", "cancelled", "restored", "untracked", "tracked"]
CHANGE_LABELS: dict[str, str] = {  # in the order a clause's changes are listed
    "moved": "调整日期",
    "changed": "调整内容",
    "cancelled": "取消",
    "restored": "恢复",
    "added": "新增",
    "untracked": "不再跟踪",
    "tracked": "恢复跟踪",
}


@dataclass(frozen=True)
class PlanChange:
    """One occurrence a re-plan touched, in words a coordinator reads clause by clause."""

    kind: ChangeKind
    clause: str
    key: str
    party: str
    due_before: dt.date | None = None
    due_after: dt.date | None = None
    reason: str = ""

    def line(self) -> str:
        label = CHANGE_LABELS[self.kind]
        if self.kind == "moved":
            when = f"{self.due_before} → {self.due_after}"
        else:
            when = str(self.due_after or self.due_before)
        tail = f"：{self.reason}" if self.reason else ""
        return f"条款 {self.clause} {label} {self.key}（截止 {when}）{tail}"


def render_changes(changes: Sequence[PlanChange], per_clause: int = 12) -> list[str]:
    """One line per clause and kind of change, with the dates (from → to for a move), clauses in text order.

    An each-party clause changes one row per party on the same dates; those collapse into `date ×N`.
    """
    order: dict[str, None] = {}
    grouped: dict[tuple[str, str, str], dict[str, int]] = {}
    for c in changes:
        order.setdefault(c.clause)
        when = f"{c.due_before} → {c.due_after}" if c.kind == "moved" else str(c.due_after or c.due_before)
        dates = grouped.setdefault((c.clause, c.kind, c.reason), {})
        dates[when] = dates.get(when, 0) + 1
    kinds = list(CHANGE_LABELS)
    lines = []
    for clause in order:
        for (code, kind, reason), dates in sorted(grouped.items(), key=lambda kv: kinds.index(kv[0][1])):
            if code != clause:
                continue
            shown = [f"{d} ×{n}" if n > 1 else d for d, n in sorted(dates.items())]
            more = f" 等（共 {len(shown)} 个日期）" if len(shown) > per_clause else ""
            why = f"（{reason}）" if reason else ""
            total = sum(dates.values())
            lines.append(f"条款 {clause}：{CHANGE_LABELS[kind]} {total} 项{why}：{'、'.join(shown[:per_clause])}{more}")
    return lines


@dataclass
class PlanDiff:
    """What a re-plan does. `effective_from` None: a first plan, which creates every occurrence of the term."""

    create: list[PlannedOccurrence] = field(default_factory=list)
    update: list[tuple[int, PlannedOccurrence]] = field(default_factory=list)
    cancel: list[tuple[int, str]] = field(default_factory=list)  # (occurrence id, reason)
    restore: list[tuple[int, PlannedOccurrence]] = field(default_factory=list)
    untrack: list[int] = field(default_factory=list)
    track: list[int] = field(default_factory=list)
    kept: int = 0
    not_created: int = 0  # wanted by the new text but due before the effective date: history is not rewritten
    effective_from: dt.date | None = None
    tracking_from: dt.date | None = None

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.cancel or self.restore or self.untrack or self.track)

    def is_untracked(self, due: dt.date) -> bool:
        """The status a row due on `due` starts with, or returns to: untracked history before tracking_from."""
        return self.tracking_from is not None and due < self.tracking_from

    def changes(self, stored: Iterable[StoredOccurrence]) -> list[PlanChange]:
        """Every touched occurrence as a PlanChange, for the coordinator's output and the plan artifact."""
        if not (self.update or self.cancel or self.restore or self.untrack or self.track):
            return self._added()
        before = {s.id: s for s in stored}
        out: list[PlanChange] = []
        for oid, p in self.update:
            old = before[oid]
            moved = old.comparable[0] != p.due_date
            out.append(
                PlanChange(
                    "moved" if moved else "changed",
                    p.clause,
                    p.key,
                    p.party,
                    _plan_due(old),
                    p.due_date,
                    "" if moved else _what_changed(old.comparable, p.comparable()),
                )
            )
        for oid, reason in self.cancel:
            old = before[oid]
            out.append(PlanChange("cancelled", old.clause, old.key, str(old.comparable[3]), old.due_date, None, reason))
        for oid, p in self.restore:
            out.append(PlanChange("restored", p.clause, p.key, p.party, before[oid].due_date, p.due_date))
        for p in self.create:
            out.append(PlanChange("added", p.clause, p.key, p.party, None, p.due_date))
        for kind, ids in (("untracked", self.untrack), ("tracked", self.track)):
            for oid in ids:
                old = before[oid]
                out.append(PlanChange(kind, old.clause, old.key, str(old.comparable[3]), old.due_date))  # type: ignore[arg-type]
        order = {s.key: i for i, s in enumerate(sorted(before.values(), key=lambda s: (s.clause, s.key)))}
        # Each clause's order once: a first plan lists every one of its thousands of rows (profiled in bench/).
        clause_order = {code: _clause_order(code) for code in {c.clause for c in out}}
        return sorted(out, key=lambda c: (clause_order[c.clause], c.kind != "cancelled", order.get(c.key, -1), c.key))

    def _added(self) -> list[PlanChange]:
        """`changes` when the plan only creates (a first plan: every one of its thousands of rows), in the same
        order: by clause, then key (a created key is never a stored one, so no stored order applies).

        Sorted on each clause's rank and built with every field at once, not through the frozen dataclass's
        __init__ (one object.__setattr__ per field): this list cost a third of reading a new agreement (bench/)."""
        orders = {code: _clause_order(code) for code in {p.clause for p in self.create}}
        ranks = sorted(set(orders.values()))
        by_rank: list[list[PlannedOccurrence]] = [[] for _ in ranks]  # clauses in order, each one's rows by key
        slot = {code: by_rank[ranks.index(order)] for code, order in orders.items()}
        for p in self.create:
            slot[p.clause].append(p)
        new, set_fields = object.__new__, object.__setattr__
        out: list[PlanChange] = []
        append = out.append
        for p in [p for rows in by_rank for p in sorted(rows, key=attrgetter("key"))]:
            change = new(PlanChange)
            set_fields(
                change,
                "__dict__",
                {
                    "kind": "added",
                    "clause": p.clause,
                    "key": p.key,
                    "party": p.party,
                    "due_before": None,
                    "due_after": p.due_date,
                    "reason": "",
                },
            )
            append(change)
        return out


def _plan_due(s: StoredOccurrence) -> dt.date:
    due = s.comparable[0]
    return due if isinstance(due, dt.date) else s.due_date


def _clause_order(code: str) -> tuple[tuple[int, object], ...]:
    """1.2 before 1.10: numeric parts compare as numbers."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in code.split("."))


_FIELD_LABELS = ("截止日期", "开放日期", "承办方", "责任方", "责任部门", "暂定标记", "数量指标", "地点")


def _what_changed(before: tuple[object, ...], after: tuple[object, ...]) -> str:
    return "、".join(label for label, b, a in zip(_FIELD_LABELS, before, after, strict=True) if b != a)


def effective_date(
    amended: Sequence[Amendment], applied: Collection[tuple[dt.date, str]], today: dt.date
) -> tuple[dt.date, Amendment | None]:
    """The day from which a re-plan follows the new text, and the amendment that set it.

    Only an entry not applied by an earlier plan counts (a later re-plan of the same text, e.g. for new holiday
    data, applies from its own today): the latest such entry dated on or before today; failing that, the
    earliest one still to come (the old text governs until then); failing that, today.
    """
    new = [a for a in amended if (a.date, a.ref) not in applied]
    past = [a for a in new if a.date <= today]
    if past:
        chosen = max(past, key=lambda a: a.date)
        return chosen.date, chosen
    if new:
        chosen = min(new, key=lambda a: a.date)
        return chosen.date, chosen
    return today, None


def diff(
    desired: Iterable[PlannedOccurrence],
    stored: Iterable[StoredOccurrence],
    active_clauses: set[str],
    effective_from: dt.date | None,
    tracking_from: dt.date | None = None,
    opened_clauses: Collection[str] = frozenset(),
) -> PlanDiff:
    """History stays; open occurrences due on or after `effective_from` follow the text.

    - nothing due before `effective_from` is created, moved, cancelled or restored (a removed clause's past,
      overdue occurrences stay in the completion base);
    - an open (or suspended, or untracked) row due on/after it is moved when the text moves it, cancelled when
      the text no longer has it;
    - a row a re-plan cancelled comes back when the text wants its key again (`restore`), due on/after it;
    - `tracking_from` sets which open rows are untracked history (before it) and which are tracked;
    - rows of `opened_clauses` (on-demand clauses: people open their occurrences, the plan has none) are kept.
    `effective_from` None is a first plan: every occurrence of the term is created.
    """
    result = PlanDiff(effective_from=effective_from, tracking_from=tracking_from)

    def current(due: dt.date) -> bool:
        return effective_from is None or due >= effective_from

    by_key = {s.key: s for s in stored}
    touched: set[int] = set()
    for want in desired:
        have = by_key.pop(want.key, None)
        if have is None:
            if current(want.due_date):
                result.create.append(want)
            else:
                result.not_created += 1
        elif have.status in FOLLOWS_TEXT and current(have.due_date) and have.comparable != want.comparable():
            result.update.append((have.id, want))
            touched.add(have.id)
        elif have.status == CANCELLED and have.restorable and current(have.due_date) and current(want.due_date):
            result.restore.append((have.id, want))
            touched.add(have.id)
        else:
            result.kept += 1
            _retrack(result, have)
    for gone in by_key.values():
        if gone.status not in FOLLOWS_TEXT:
            continue
        if not current(gone.due_date) or gone.clause in opened_clauses:
            # history is never cancelled, even when its clause is gone; an opened on-demand task is not the plan's
            _retrack(result, gone)
        elif gone.clause not in active_clauses:
            result.cancel.append((gone.id, "条款已从协议中删除"))
        else:
            result.cancel.append((gone.id, "协议修订后该日期不再安排"))
    return result


def _retrack(result: PlanDiff, s: StoredOccurrence) -> None:
    """An untouched row whose tracked-ness the text's tracking_from changes."""
    if s.status in OPEN and result.is_untracked(s.due_date):
        result.untrack.append(s.id)
    elif s.status == UNTRACKED and not result.is_untracked(s.due_date):
        result.track.append(s.id)


def check_unique_keys(planned: list[PlannedOccurrence], loaded: LoadedAgreement) -> None:
    """Two recurrence dates collapsing onto one key would silently merge tasks; refuse instead."""
    seen: set[str] = set()
    for p in planned:
        if p.key in seen:
            raise AgreementError([loaded.problem(p.clause, f"produces the date {p.nominal_date} twice").problems[0]])
        seen.add(p.key)


def calendar_fingerprint(calendar: WorkdayCalendar) -> str:
    """Changes when official holiday data or the provisional overrides change, forcing a re-plan."""
    material = f"{version('chinesecalendar')}|{version('holidays')}|".encode()
    with contextlib.suppress(OSError):
        material += calendar.overrides_path.read_bytes()
    return hashlib.sha256(material).hexdigest()[:16]


def schedule_fingerprint(loaded: LoadedAgreement, seasons: SeasonCalendar) -> str:
    """What festival and season dates depend on, for an agreement that uses them ('' otherwise, so the
    plan fingerprint of every other agreement stays as it was): the lunar library and the season file."""
    recurrences = [c.recurrence for p in loaded.agreement.programmes for c in p.clauses]
    if not any(r.anchor is not None or r.season is not None for r in recurrences):
        return ""
    material = f"lunardate {version('lunardate')}|".encode()
    if any(r.season is not None for r in recurrences):
        with contextlib.suppress(OSError):
            material += seasons.path.read_bytes()
        regions = [r.region for r in recurrences if r.region is not None]
        if regions and isinstance(seasons, RegionalSeasons):  # only then, so other agreements keep their fingerprint
            with contextlib.suppress(OSError):
                material += seasons.material(regions)
    return ":" + hashlib.sha256(material).hexdigest()[:16]


class DeferredChanges:
    """A change list to build only if someone reads it: `PlanResult(..., changes=DeferredChanges(build))`, `build`
    returning the list (`apply_plan`: `partial(plan.changes, ())` for a first plan).

    A first plan lists every one of its thousands of rows as added; the bulk planner's callers mostly read only the
    counts, and building that list was ~15 % of a batch's CPU (bench/)."""

    __slots__ = ("build",)

    def __init__(self, build: Callable[[], list[PlanChange]]) -> None:
        self.build = build


class _ChangesField:
    """`PlanResult.changes`: a plain list to whoever reads it (getattr, `dataclasses.asdict`, ==, repr, pickling,
    Prefect's serialisers); given a `DeferredChanges`, the list is built on that first read and kept."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> tuple[PlanChange, ...]: ...
    @overload
    def __get__(self, obj: PlanResult, owner: type | None = None) -> list[PlanChange]: ...
    def __get__(self, obj: PlanResult | None, owner: type | None = None) -> list[PlanChange] | tuple[PlanChange, ...]:
        if obj is None:
            return ()  # the dataclass's default (it must be immutable); `__set__` makes it a fresh list
        value: list[PlanChange] | DeferredChanges | tuple[PlanChange, ...] = obj.__dict__[self.name]
        if isinstance(value, list):
            return value
        # deferred; or the default as pydantic's validators set it (they bypass __init__)
        built = obj.__dict__[self.name] = value.build() if isinstance(value, DeferredChanges) else list(value)
        return built

    def __set__(self, obj: PlanResult, value: Sequence[PlanChange] | DeferredChanges) -> None:
        obj.__dict__[self.name] = value if isinstance(value, list | DeferredChanges) else list(value)


@dataclass
class PlanResult:
    """What one plan did. `changes` lists every touched occurrence of this agreement (see `change_lines`); it may be
    given as `DeferredChanges`, built when first read."""

    agreement_id: str
    version: int
    unchanged: bool
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    kept: int = 0
    restored: int = 0
    untracked: int = 0
    tracked: int = 0
    not_created: int = 0  # wanted by the new text but due before the effective date
    effective_from: dt.date | None = None  # None: a first plan, over the whole term
    amendment: str | None = None  # the 补充协议 (`amended:` ref) that set the effective date
    became_due: int = 0
    became_overdue: int = 0
    if TYPE_CHECKING:
        changes: _ChangesField = _ChangesField()
    else:  # what pydantic (Prefect's serialisers) and readers see: a list of PlanChange
        changes: list[PlanChange] = _ChangesField()

    def __getstate__(self) -> dict[str, object]:
        """Pickled (copy, Prefect's results) with the list itself, never the function that would build it."""
        return {**self.__dict__, "changes": self.changes}

    def change_lines(self) -> list[str]:
        """Clause by clause: 新增 / 调整日期 from → to / 取消 / 恢复 …, with the dates (Chinese, plain text)."""
        return render_changes(self.changes)
