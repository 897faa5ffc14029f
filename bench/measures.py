"""One measurement per function; each runs in its own child process (bench/child.py) so peak RSS is its own.

Every function returns a plain dict of numbers and short strings; nothing here decides whether a goal is met.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.databases import OCCURRENCE_COLUMNS, connect, copy_parents, occurrence_rows

ACTOR = "bench"


def _agreement_files(directory: str) -> list[Path]:
    return sorted(Path(directory).glob("*.yaml"))


def plan(url: str, directory: str, today: str) -> dict[str, Any]:
    """The engine's batch planner (coop.services.planning.plan_files, as `coop plan-batch` runs it), with the
    deployment's settings: a batch of `plan_process_min_files` files or more is read, expanded and staged by a
    helper process while this one writes (`coop.services.staging`); a smaller one in a helper thread."""
    import resource

    from coop.services.planning import plan_files
    from coop.settings import Settings
    from models.db import get_engine

    get_engine(url).connect().close()
    idle = rss_now_mb()
    prepare_s = write_s = 0.0
    rows = created = 0
    settings = Settings(database_url=url)
    files = _agreement_files(directory)
    children_cpu = _children_cpu()
    cpu = time.process_time()
    started = time.perf_counter()
    day = dt.date.fromisoformat(today)
    for outcome in plan_files(url, files, day, ACTOR, settings=settings):
        if outcome.result is None:
            raise RuntimeError(f"{outcome.path}: {outcome.error}")
        prepare_s, write_s = prepare_s + outcome.prepare_seconds, write_s + outcome.write_seconds
        rows += outcome.occurrences
        created += outcome.result.created
    total = time.perf_counter() - started
    helper_cpu = _children_cpu() - children_cpu  # the helper process's, once waited for; none: no helper ran
    helper = helper_cpu > 0
    return {
        "seconds": total,
        "cpu_s": time.process_time() - cpu,  # this process's threads, and SQLite's work; not PostgreSQL's
        "helper": "process" if helper else "thread",
        "helper_cpu_s": helper_cpu if helper else None,
        # The helper process's peak RSS (the only child this measurement's process had)
        "helper_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if helper else None,
        "prepare_s": prepare_s,
        "write_s": write_s,
        "rows": rows,
        "created": created,
        "idle_rss_mb": idle,
    }


def replan(url: str, directory: str, today: str) -> dict[str, Any]:
    """The same pipeline on unchanged files; a digest of every row of every table before and after."""
    before = _footprint(url)
    result = plan(url, directory, today)
    after = _footprint(url)
    result["tables"] = len(before)
    result["tables_changed"] = sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))
    result["ledger_unchanged"] = before.get("ledger_head") == after.get("ledger_head")
    result["unchanged_footprint"] = before == after
    return result


def _footprint(url: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and a digest of its rows in primary-key order (outside any timed figure): SHA-256 of
    the rows as sqlite3 returns them; on PostgreSQL, MD5 of the MD5s of each row's text."""
    from sqlalchemy import inspect, text

    from models.db import get_engine

    out: dict[str, tuple[int, str]] = {}
    with get_engine(url).connect() as conn:
        inspector = inspect(conn)  # on this connection: a second one would wait on SQLite's write lock
        for table in sorted(inspector.get_table_names()):
            key = inspector.get_pk_constraint(table)["constrained_columns"] or [
                c["name"] for c in inspector.get_columns(table)
            ]
            if conn.dialect.name == "postgresql":
                # The server hashes each row's text and the ordered list of those hashes: one round trip, C speed.
                order = ", ".join(f't."{c}"' for c in key)
                count, digest = conn.execute(
                    text(f"SELECT count(*), md5(string_agg(md5(t::text), '' ORDER BY {order})) FROM \"{table}\" t")
                ).one()
                out[table] = (int(count), str(digest))
                continue
            order = ", ".join(f'"{c}"' for c in key)
            raw = conn.connection.driver_connection  # sqlite3's own tuples: several times faster than Row objects
            assert raw is not None
            cursor = raw.execute(f'SELECT * FROM "{table}" ORDER BY {order}')
            sha, count = hashlib.sha256(), 0
            while batch := cursor.fetchmany(10_000):
                sha.update(repr(batch).encode())
                count += len(batch)
            out[table] = (count, sha.hexdigest())
    return out


def raw_insert(source_url: str, target_url: str, per_agreement: bool = False) -> dict[str, Any]:
    """The baseline: the engine's own rows, already in memory, into the same schema with one executemany / COPY."""
    copy_parents(source_url, target_url)
    rows = [r[:-1] for r in occurrence_rows(source_url)]  # closed_at is NULL for a fresh plan
    cols = OCCURRENCE_COLUMNS[:-1]
    groups = _by_agreement(rows) if per_agreement else [rows]
    conn = connect(target_url)
    idle = rss_now_mb()
    cpu = time.process_time()
    started = time.perf_counter()
    if isinstance(conn, sqlite3.Connection):
        sql = f"INSERT INTO occurrence ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        for group in groups:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, group)
            conn.execute("COMMIT")
    else:
        for group in groups:
            with conn.cursor().copy(f"COPY occurrence ({', '.join(cols)}) FROM STDIN") as sink:
                for row in group:
                    sink.write_row(row)
            conn.commit()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    count = conn.execute("SELECT count(*) FROM occurrence").fetchone()[0]  # type: ignore[index]
    conn.close()
    return {"seconds": seconds, "cpu_s": cpu, "rows": count, "transactions": len(groups), "idle_rss_mb": idle}


def _by_agreement(rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    groups: list[list[tuple[Any, ...]]] = []
    for row in rows:
        if not groups or groups[-1][0][0] != row[0]:
            groups.append([])
        groups[-1].append(row)
    return groups


def history(url: str, today: str, stragglers: int) -> dict[str, Any]:
    """Make the plan look lived-in, then run the real daily sweep (timed).

    Everything due more than 14 days before `today` is marked done, except one in `stragglers`,
    which stays open and becomes overdue — a deployment where most work gets reported.
    """
    from sqlalchemy import and_, update
    from sqlmodel import col

    from coop.store.occurrences import sweep
    from models.db import session_scope
    from models.tables import Occurrence, OccurrenceStatus, utcnow

    day = dt.date.fromisoformat(today)
    with session_scope(url) as session:
        session.execute(
            update(Occurrence)
            .where(and_(col(Occurrence.due_date) < day - dt.timedelta(days=14), col(Occurrence.id) % stragglers != 0))
            .values(status=OccurrenceStatus.done, closed_at=utcnow())
        )
    started = time.perf_counter()
    with session_scope(url) as session:
        result = sweep(session, day, ACTOR)
    seconds = time.perf_counter() - started
    _analyze(url)
    return {"sweep_s": seconds, "became_due": result.became_due, "became_overdue": result.became_overdue}


def _analyze(url: str) -> None:
    """Fresh planner statistics, as autovacuum / a nightly ANALYZE would leave them."""
    conn = connect(url)
    try:
        conn.execute("ANALYZE")
        if not isinstance(conn, sqlite3.Connection):
            conn.commit()
    finally:
        conn.close()


DUE_SQL = "SELECT id, department_id, due_date, status FROM occurrence{hint} WHERE status IN ('due', 'overdue')"


def due_scan(url: str, repeats: int) -> dict[str, Any]:
    """ "What is due or overdue today" after today's sweep: by index, and the same query forced to a full scan."""
    conn = connect(url)
    is_sqlite = isinstance(conn, sqlite3.Connection)
    indexed_sql = DUE_SQL.format(hint="")
    full_sql = DUE_SQL.format(hint=" NOT INDEXED" if is_sqlite else "")

    def plan_of(sql: str, full: bool) -> str:
        if is_sqlite:
            return "; ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
        _force_full(conn, full)
        text = "; ".join(r[0].strip() for r in conn.execute(f"EXPLAIN {sql}").fetchall())
        conn.rollback()
        return text

    def timed(sql: str, full: bool) -> tuple[float, int]:
        if not is_sqlite:
            _force_full(conn, full)
        t0 = time.perf_counter()
        n = len(conn.execute(sql).fetchall())
        elapsed = time.perf_counter() - t0
        if not is_sqlite:
            conn.rollback()
        return elapsed, n

    timed(indexed_sql, False), timed(full_sql, True)  # warm the cache for both
    indexed, full = [], []
    rows = 0
    for _ in range(repeats):  # interleaved, so background noise hits both alike
        t, rows = timed(indexed_sql, False)
        indexed.append(t)
        full.append(timed(full_sql, True)[0])
    result = {
        "indexed_ms": statistics.median(indexed) * 1000,
        "full_ms": statistics.median(full) * 1000,
        "rows": rows,
        "explain": plan_of(indexed_sql, False),
        "explain_full": plan_of(full_sql, True),
        "sql": indexed_sql,
    }
    conn.close()
    return result


def _force_full(conn: Any, full: bool) -> None:
    for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
        conn.execute(f"SET LOCAL {setting} = {'off' if full else 'on'}")


def audit(url: str, today: str, cells: int, budget_s: float, seed: int = 11) -> dict[str, Any]:
    """Department × quarter: coop.store.audit.occurrence_states for one department and one quarter, repeated."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from coop.store.audit import AuditFilter, occurrence_states
    from models.db import readonly_session_scope
    from models.tables import Occurrence

    day = dt.date.fromisoformat(today)
    rng = random.Random(seed)
    with readonly_session_scope(url, switch_role=False) as session:
        departments = list(
            session.execute(select(col(Occurrence.department_id)).group_by(col(Occurrence.department_id))).scalars()
        )
        lo, hi = session.execute(select(func.min(Occurrence.due_date), func.max(Occurrence.due_date))).one()
    quarters = []
    q = dt.date(lo.year, 3 * ((lo.month - 1) // 3) + 1, 1)
    while q <= hi:
        nxt = dt.date(q.year + (q.month + 2) // 12, (q.month + 2) % 12 + 1, 1)
        quarters.append((q, nxt - dt.timedelta(days=1)))
        q = nxt
    results: dict[str, Any] = {}
    for mode, from_ledger in (("stored", False), ("ledger", True)):
        times, sizes = [], []
        started = time.perf_counter()
        with readonly_session_scope(url, switch_role=False) as session:
            for i in range(cells):
                dept = rng.choice(departments)
                q0, q1 = rng.choice(quarters)
                flt = AuditFilter(department=str(dept), due_from=q0, due_to=q1)
                t0 = time.perf_counter()
                states = list(occurrence_states(session, flt, day, from_ledger=from_ledger))
                times.append(time.perf_counter() - t0)
                sizes.append(len(states))
                if time.perf_counter() - started > budget_s and i >= 4:
                    break
        times.sort()
        results[mode] = {
            "p50_ms": statistics.median(times) * 1000,
            "p95_ms": times[max(0, round(0.95 * len(times)) - 1)] * 1000,
            "cells": len(times),
            "rows_per_cell": statistics.mean(sizes),
        }
    return results


def export(url: str, today: str, fmt: str) -> dict[str, Any]:
    """Every occurrence through coop.export (the code behind the web and flow exports); RSS growth over idle."""
    from coop.export import HEADER, csv_chunks, state_row, write_xlsx
    from coop.store.audit import AuditFilter, occurrence_states
    from models.db import readonly_session_scope

    day = dt.date.fromisoformat(today)
    with readonly_session_scope(url, switch_role=False) as session:
        session.connection()
        idle = rss_now_mb()
        started = time.perf_counter()
        rows = (state_row(s) for s in occurrence_states(session, AuditFilter(), day, from_ledger=False))
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / f"export.{fmt}"
            if fmt == "csv":
                count = 0
                with open(target, "wb") as handle:
                    for chunk in csv_chunks(rows, HEADER):
                        handle.write(chunk)
                        count += chunk.count(b"\n")
                count -= 1
            else:
                count = write_xlsx(rows, target, HEADER)
            size = target.stat().st_size
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": count, "bytes": size, "idle_rss_mb": idle}


def naive_flow(url: str, source_url: str, count: int) -> dict[str, Any]:
    """The strawman: a Prefect flow that runs one task per occurrence, each inserting its row in its own transaction."""
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from sqlalchemy import insert

    from models.db import session_scope
    from models.tables import Occurrence

    copy_parents(source_url, url)
    columns = OCCURRENCE_COLUMNS[:-1]
    rows = [dict(zip(columns, r[:-1], strict=True)) for r in occurrence_rows(source_url)[:count]]
    for r in rows:  # back to Python values, as a task would hold them
        for c in ("nominal_date", "due_date", "window_start"):
            r[c] = dt.date.fromisoformat(str(r[c]))
        r["targets"] = json.loads(r["targets"]) if isinstance(r["targets"], str) else r["targets"]
        r["updated_at"] = dt.datetime.now(dt.UTC)
        r["provisional"] = bool(r["provisional"])

    @task(name="insert one occurrence", cache_policy=NO_CACHE)
    def insert_one(row: dict[str, Any]) -> None:
        with session_scope(url) as session:
            session.execute(insert(Occurrence).values(**row))

    @flow(name="naive-plan")
    def naive(batch: list[dict[str, Any]]) -> None:
        for row in batch:
            insert_one(row)

    naive(rows[:1])  # start Prefect's ephemeral server outside the timing
    with session_scope(url) as session:
        session.execute(Occurrence.__table__.delete())  # type: ignore[attr-defined]
    started = time.perf_counter()
    naive([])
    empty_s = time.perf_counter() - started  # the run's fixed cost, not to be extrapolated with the rows
    started = time.perf_counter()
    naive(rows)
    seconds = time.perf_counter() - started
    # `empty_s` bounds the part of `seconds` that is no row's: a sync run ends waiting up to 1 s for its heartbeat
    # thread (see flows/plan_agreement.py); (seconds - empty_s) / rows is the conservative per-row cost.
    return {"seconds": seconds, "rows": len(rows), "empty_s": empty_s}


def prefect_flow(url: str, directory: str, today: str) -> dict[str, Any]:
    """Our real plan-all-agreements flow (tasks over batches of files, a transaction per agreement), through Prefect."""
    import asyncio

    from flows.plan_agreement import plan_agreement, plan_all_agreements

    warmup = url.removesuffix(".db") + "-warmup.db"
    from coop.services.schema import upgrade

    upgrade(warmup)
    from coop.settings import get_settings

    def use_database(database: str) -> None:
        # Flows read the database from the settings (it is no form field), so point the settings at it.
        os.environ["COOP_DATABASE_URL"] = database
        get_settings.cache_clear()

    # Start Prefect's ephemeral server outside the timing, on a shipped agreement and another database.
    use_database(warmup)
    plan_agreement(agreement="agreements/yugang-social-work-2024.yaml", today=dt.date.fromisoformat(today))
    use_database(url)
    started = time.perf_counter()
    # As a deployment's run or `python -m flows.plan_agreement` runs it: an async flow, on Prefect's async engine.
    results = asyncio.run(plan_all_agreements(directory=directory, today=dt.date.fromisoformat(today)))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": sum(r.created + r.kept for r in results),
        "created": sum(r.created for r in results),
    }


def dispatch(url: str, messages: int, sequential: int, delay_ms: float = 50.0) -> dict[str, Any]:
    """coop.services.delivery.drain_outbox against a local endpoint answering after `delay_ms`, vs apprise one by one.

    One WeCom robot per department (how departments are configured), so the per-robot pacing of
    20 messages a minute never applies: what is measured is concurrency against a slow endpoint.
    """
    import subprocess
    import sys
    import urllib.request

    import apprise
    from sqlalchemy import insert, select
    from sqlmodel import col

    from coop.notify.channels import channel_env_var
    from coop.services.delivery import drain_outbox
    from coop.settings import get_settings
    from models.db import session_scope
    from models.tables import Agency, Department, OutboxMessage

    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_sink", str(delay_ms)], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(sink.stdout.readline())  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        body = "### 本周到期任务\n\n" + "\n".join(
            f"- 第{i}项：河小青净滩巡护，截止 2026-06-0{i % 9 + 1}" for i in range(12)
        )
        with session_scope(url) as session:
            session.execute(insert(Agency), [{"name": "基准区", "full_name": "基准测试区"}])
            agency_id = session.execute(select(col(Agency.id))).scalars().first()
            assert agency_id is not None
            session.execute(
                insert(Department),
                [
                    {
                        "agency_id": agency_id,
                        "key": f"部门{i}",
                        "name": f"部门{i}",
                        "channels": [f"bench-{i}-wecom"],
                        "escalation_channels": [],
                    }
                    for i in range(messages)
                ],
            )
            depts = [r[0] for r in session.execute(Department.__table__.select().order_by(Department.__table__.c.id))]  # type: ignore[attr-defined]
            session.execute(
                insert(OutboxMessage),
                [
                    {
                        "dedup_key": f"bench:{i}",
                        "department_id": depts[i],
                        "recipient_role": "department",
                        "channel": f"bench-{i}-wecom",
                        "kind": "digest",
                        "subject": f"【协作通】部门{i} 待办提醒",
                        "body": body,
                        "notice_count": 12,
                    }
                    for i in range(messages)
                ],
            )
        for i in range(messages):
            os.environ[channel_env_var(f"bench-{i}-wecom")] = f"coop-wecom://key{i}?base={base}"
        started = time.perf_counter()
        report = drain_outbox(url, worker="bench", wait_seconds=0, settings=get_settings())
        seconds = time.perf_counter() - started
        sent = report.total("sent")

        notifier_started = time.perf_counter()
        ok = 0
        for i in range(sequential):
            notifier = apprise.Apprise()
            notifier.add(f"coopwecom://key{i}?base={base}")
            ok += bool(notifier.notify(body=body, title=f"【协作通】部门{i} 待办提醒"))
        seq_seconds = time.perf_counter() - notifier_started
        answered = int(urllib.request.urlopen(f"{base}/count").read())
        keyed, distinct = map(int, urllib.request.urlopen(f"{base}/keys").read().split())
    finally:
        sink.terminate()
        sink.wait()
    return {
        "messages": messages,
        "sent": sent,
        "seconds": seconds,
        "rate": sent / seconds,
        "delay_ms": delay_ms,
        "sequential_messages": sequential,
        "sequential_ok": ok,
        "sequential_rate": sequential / seq_seconds,
        "sink_answered": answered,
        "sink_distinct_keys": distinct,  # the dispatcher's messages as the sink saw them (apprise sends no key)
        "sink_duplicates": keyed - distinct,
        "concurrency": _concurrency(),
    }


def _concurrency() -> int:
    from coop.settings import get_settings

    return get_settings().notify_concurrency


def _children_cpu() -> float:
    """User + system CPU of this process's children that have exited and were waited for."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_now_mb() -> float:
    """Resident set size right now (Linux /proc), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def environment() -> dict[str, Any]:
    import platform

    import sqlalchemy

    cpu = "?"
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as info:
        mem_kb = int(info.readline().split()[1])
    conn = connect(os.environ.get("COOP_BENCH_PG_SQLA", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    conn.close()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg,
        "sqlalchemy": sqlalchemy.__version__,
        "kernel": platform.release(),
    }


def daily_cycle(url: str, today: str, delay_ms: float = 50.0, deliver: bool = True) -> dict[str, Any]:
    """The 09:00 run of the next working day after `today`, stage by stage, then delivery of its digests.

    Stages as the deployments run them: the status sweep (`coop.services.sweep.sweep_statuses`, its own
    transaction), then what `coop.services.notifications.queue_notifications` does in one transaction —
    reminder/escalation decisions (`record_due_notices`), one digest per recipient and channel
    (`batch_notices`: claim, render, links), the outbox insert (`store.insert_outbox`, timed inside the
    batch), the commit — then `coop.services.delivery.drain_outbox` to loopback sinks answering after
    `delay_ms`. Channels are configured as their names say, as a deployment configures them: `…-wecom` a
    WeCom-protocol robot on a webhook sink (digests too long for a robot go as summaries), `…-email` (a leader's
    escalation mailbox) e-mail through an SMTP sink (apprise, as deployed).
    """
    import subprocess
    import sys
    from collections.abc import Sequence

    from sqlalchemy import distinct, func, select
    from sqlmodel import Session, col

    from coop.access import link_for, list_url
    from coop.calendar import default_calendar
    from coop.notify.channels import channel_env_var, channel_kind
    from coop.notify.results import DrainReport
    from coop.services import notifications
    from coop.services.delivery import drain_outbox
    from coop.services.sweep import sweep_statuses
    from coop.settings import Settings
    from coop.store import notices as store
    from models.db import session_scope
    from models.tables import Department, Notice, OutboxMessage

    calendar = default_calendar()
    day = calendar.add_workdays(dt.date.fromisoformat(today), 1)
    settings = Settings(database_url=url, secret_key="bench-daily-cycle-key-0123456789abcdef")  # type: ignore[arg-type]
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_sink", str(delay_ms)], stdout=subprocess.PIPE, text=True
    )
    mail = subprocess.Popen([sys.executable, "-m", "bench.smtp_sink", str(delay_ms)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())  # type: ignore[union-attr]
        smtp = int(mail.stdout.readline())  # type: ignore[union-attr]
        with session_scope(url) as session:
            channels: set[str] = set()
            for chans, escalation in session.execute(
                select(col(Department.channels), col(Department.escalation_channels))
            ):
                channels.update(chans or [], escalation or [])
        kinds: dict[str, int] = {}
        for i, channel in enumerate(sorted(channels)):
            if channel.endswith("-email"):
                target = f"mailto://127.0.0.1:{smtp}?to=c{i}@bench.example&from=coop@bench.example"
            else:
                target = f"coop-wecom://c{i}?base=http://127.0.0.1:{port}"
            os.environ[channel_env_var(channel)] = target
            kind = channel_kind(target)
            kinds[kind] = kinds.get(kind, 0) + 1

        timed_insert = 0.0
        insert_outbox = store.insert_outbox

        def timed(session: Session, messages: Sequence[dict[str, Any]]) -> int:  # where batch_notices calls it
            nonlocal timed_insert
            t0 = time.perf_counter()
            try:
                return insert_outbox(session, messages)
            finally:
                timed_insert += time.perf_counter() - t0

        store.insert_outbox = timed  # the module batch_notices calls it through
        cpu = time.process_time()
        started = time.perf_counter()
        swept = sweep_statuses(url, day, ACTOR)
        t_sweep = time.perf_counter()
        with session_scope(url) as session:
            t_open = time.perf_counter()
            decided = notifications.record_due_notices(session, day, calendar)
            t_decided = time.perf_counter()
            batch = notifications.batch_notices(
                session,
                day,
                link_for(settings),
                kind_of=notifications._configured_kinds(),
                list_link=lambda dept: list_url(settings, dept),
            )
            t_batched = time.perf_counter()
        t_committed = time.perf_counter()
        store.insert_outbox = insert_outbox
        before_delivery = t_committed - started
        cpu = time.process_time() - cpu
        with session_scope(url) as session:
            recipients = session.execute(select(func.count(distinct(col(OutboxMessage.department_id))))).scalar_one()
            notices = session.execute(select(func.count()).select_from(Notice)).scalar_one()
        floor = pacing_floor(url, settings) if deliver else {}
        delivered_at = time.perf_counter()
        delivery_cpu = time.process_time()
        children_cpu = _children_cpu()  # the dispatcher's spawned processes once they exit (the sinks still run)
        report = drain_outbox(url, worker="bench", wait_seconds=0, settings=settings) if deliver else DrainReport()
        delivery_children_cpu = _children_cpu() - children_cpu
        delivery_cpu = time.process_time() - delivery_cpu + delivery_children_cpu
        delivery_s = time.perf_counter() - delivered_at
        with session_scope(url) as session:
            by_kind = dict(
                session.execute(
                    select(col(OutboxMessage.channel), func.count()).group_by(col(OutboxMessage.channel))
                ).all()
            )
        messages_by_kind: dict[str, int] = {}
        for channel, count in by_kind.items():
            kind = channel_kind(os.environ[channel_env_var(channel)])
            messages_by_kind[kind] = messages_by_kind.get(kind, 0) + count
    finally:
        for process in (sink, mail):
            process.terminate()
            process.wait()
    return {
        "day": str(day),
        "sweep_s": t_sweep - started,
        "decide_s": t_decided - t_open,
        "digest_s": t_batched - t_decided - timed_insert,
        "outbox_s": timed_insert,
        "commit_s": t_committed - t_batched + (t_open - t_sweep),
        "total_s": before_delivery,
        "total_cpu_s": cpu,  # this process's CPU (SQLite's work included; PostgreSQL's server is not)
        "became_due": swept.became_due,
        "became_overdue": swept.became_overdue,
        "decided": decided,
        "batched_notices": batch.notices,
        "messages": batch.messages,
        "recipients": recipients,
        "notices_in_table": notices,
        "delivery_s": delivery_s,
        "delivery_cpu_s": delivery_cpu,  # the dispatcher's processes (their threads included), children too
        "delivery_children_cpu_s": delivery_children_cpu,  # of which the processes it spawned (notify_processes)
        "channels_by_kind": kinds,  # channels as configured, by kind (wecom robots, e-mail)
        "messages_by_kind": messages_by_kind,
        "sent": report.total("sent"),
        "rate": report.total("sent") / delivery_s if deliver and delivery_s else None,
        "delay_ms": delay_ms,
        **floor,
    }


def pacing_floor(url: str, settings: Any) -> dict[str, Any]:
    """The least time any dispatcher keeping the channels' rates needs for the pending outbox: the busiest
    destination's posts.

    A destination of a paced kind takes at most `notify_rate_per_minute` posts in any 60 s (robots 20, a mailbox
    120; a sliding window, as WeCom and DingTalk state their limits), so n posts to one need floor((n - 1) / rate)
    × 60 seconds however many are sent at once: the first `rate` go at once, each further `rate` a minute later.
    Posts are counted as the sender cuts them (`request_count`); the floor is the largest over destinations."""
    from sqlalchemy import select
    from sqlmodel import col

    from coop.notify.channels import request_count
    from coop.notify.channels.registry import channel_env_var, channel_kind
    from models.db import session_scope
    from models.tables import OutboxMessage

    posts: dict[str, int] = {}
    kinds: dict[str, str] = {}
    with session_scope(url) as session:
        rows = session.execute(select(col(OutboxMessage.channel), col(OutboxMessage.subject), col(OutboxMessage.body)))
        for channel, subject, body in rows:
            target = os.environ.get(channel_env_var(channel), "")
            posts[target] = posts.get(target, 0) + request_count(target, subject, body)
            kinds[target] = channel_kind(target)  # paced by kind: robots, and e-mail per mailbox
    if not posts:
        return {}
    rates = settings.notify_rate_per_minute

    def floor(target: str) -> float:
        rate = rates.get(kinds[target], 0)
        return (posts[target] - 1) // rate * 60.0 if rate > 0 else 0.0

    busiest = max(posts, key=lambda target: (floor(target), posts[target]))
    robots = sum(1 for kind in kinds.values() if kind in ("wecom", "dingtalk", "feishu"))
    return {
        "floor_s": floor(busiest),
        "floor_rule": "window",  # posts counted in a sliding minute (issue 16), not spaced 60/rate apart
        "busiest_posts": posts[busiest],
        "busiest_kind": kinds[busiest],
        "robots": robots,
        "destinations": len(posts),
        "posts": sum(posts.values()),
    }
