"""`coop` — the shell entry point. Every command calls the same flows/functions the Prefect UI runs."""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from coop.errors import CoopError

if TYPE_CHECKING:
    from coop.store.plans import PlanResult


def _quiet_prefect() -> None:
    """Keep the shell output readable (set before Prefect reads its settings); its logs still reach the server."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    # The first start on a fresh PREFECT_HOME migrates Prefect's own database; give it time on a 2-core box.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    # Prefect does not create PREFECT_HOME itself; its server then dies with "unable to open database file".
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


_quiet_prefect()

app = typer.Typer(
    help="协作通 coop：把合作协议变成按期落实、可追溯的任务。", no_args_is_help=True, add_completion=False
)
db_app = typer.Typer(help="数据库 database", no_args_is_help=True)
audit_app = typer.Typer(help="审计 audit (read-only)", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(audit_app, name="audit")
# Piped output (make demo | tee) would otherwise be cut at 80 columns, truncating Chinese titles.
console = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

TodayOpt = Annotated[
    dt.datetime | None, typer.Option("--today", formats=["%Y-%m-%d"], help="基准日 YYYY-MM-DD（默认今天，上海时区）")
]


@contextmanager
def _user_errors() -> Iterator[None]:
    """A user mistake prints its message and exits 2; it is never a traceback."""
    try:
        yield
    except CoopError as exc:
        err.print(f"[bold red]错误[/]: {exc}", highlight=False)
        raise typer.Exit(2) from None


def _day(value: dt.datetime | None) -> dt.date:
    from coop.clock import today_in_shanghai

    return value.date() if value else today_in_shanghai()


def _run(flow: Callable[..., Any], **params: Any) -> Any:
    with _user_errors():
        return flow(**params)


@app.command()
def plan(
    paths: Annotated[list[Path], typer.Argument(help="协议文件 agreements/*.yaml", exists=False)],
    today: TodayOpt = None,
) -> None:
    """按协议生成（或重新生成）全部任务 — plan agreements."""
    from flows.plan_agreement import plan_agreement

    day = _day(today)
    for path in paths:
        _print_plan_result(str(path), _run(plan_agreement, agreement=str(path), today=day))
    _print_status(day, None)


def _print_plan_result(path: str, result: PlanResult) -> None:
    if result.unchanged:
        console.print(f"[green]✓[/] {path}: 协议未变化（第 {result.version} 版），未写入任何数据", highlight=False)
    else:
        console.print(
            f"[green]✓[/] {path}: 第 {result.version} 版 — 新增 {result.created}，调整 {result.updated}，"
            f"取消 {result.cancelled}，保留 {result.kept}",
            highlight=False,
        )


@app.command("plan-batch")
def plan_batch(
    directory: Annotated[Path, typer.Argument(help="协议文件夹（其中每个 .yaml 文件是一份协议）")],
    today: TodayOpt = None,
) -> None:
    """批量计划整个文件夹的协议（不经 Prefect，适合数百份协议）— plan a whole folder in bulk.

    Each agreement is still all or nothing; a bad file is reported and the others are planned.
    """
    from coop.migrate import upgrade
    from coop.planner import plan_files
    from coop.settings import get_settings

    day = _day(today)
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        err.print(f"[bold red]错误[/]: {directory} 中没有 .yaml 协议文件", highlight=False)
        raise typer.Exit(2)
    upgrade()
    failed = created = 0
    for outcome in plan_files(paths, day, get_settings().actor):
        if outcome.result is None:
            failed += 1
            err.print(f"[bold red]✗[/] {outcome.path}: {outcome.error}", highlight=False)
        else:
            created += outcome.result.created
            _print_plan_result(outcome.path, outcome.result)
    console.print(
        f"共 {len(paths)} 份协议：{len(paths) - failed} 份成功，{failed} 份失败；新增任务 {created} 项", highlight=False
    )
    if failed:
        raise typer.Exit(2)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option(help="协议文件夹")] = Path("agreements"),
    today: TodayOpt = None,
) -> None:
    """计划全部随附协议并显示汇总 — the README's demo."""
    from flows.plan_agreement import plan_all_agreements
    from flows.sweep_overdue import sweep_overdue

    day = _day(today)
    results = _run(plan_all_agreements, directory=str(directory), today=day)
    swept = _run(sweep_overdue, today=day)
    console.rule(f"协作通 · 协议执行汇总（基准日 {day}）")
    for r in results:
        state = "未变化" if r.unchanged else f"新增 {r.created} / 调整 {r.updated} / 取消 {r.cancelled}"
        console.print(f"• {r.agreement_id}: 第 {r.version} 版，{state}")
    console.print(f"• 状态更新：{swept.became_due} 项进入办理期，{swept.became_overdue} 项逾期")
    _print_status(day, None)
    _demo_notifications(day)
    _print_verify()
    _print_demo_link()


def _demo_notifications(day: dt.date) -> None:
    """Channels nobody configured are pointed at local files, so the demo shows real deliveries offline."""
    from coop.notify.channels import channel_env_var
    from coop.store.notices import channel_references
    from flows.dispatch_notifications import dispatch_notifications
    from models.db import session_scope

    inbox = Path(".coop/inbox").resolve()
    with session_scope() as session:
        names = sorted(channel_references(session))
    for name in names:
        os.environ.setdefault(channel_env_var(name), f"coopfile://{inbox / name}.md")
    report = _run(dispatch_notifications, today=day, wait_seconds=0)
    console.rule("通知投递（演示：未配置的渠道写入本地文件 .coop/inbox/）")
    console.print(f"成功 {report.total('sent')} 封，待重试 {report.total('retry')} 封，死信 {report.total('dead')} 封")
    files = sorted(inbox.glob("*.md"))
    for f in files[:40]:
        console.print(
            f"  {f.relative_to(Path.cwd()) if f.is_relative_to(Path.cwd()) else f}  （{f.read_text(encoding='utf-8').count(chr(10) + '---' + chr(10))} 封）"
        )
    if files:
        sample = files[0].read_text(encoding="utf-8").split("\n---\n")[0].splitlines()
        console.print(f"\n[bold]示例消息（{files[0].name}）：[/]")
        console.print(
            "\n".join(sample[:30]) + ("\n……" if len(sample) > 30 else ""), highlight=False, markup=False, soft_wrap=True
        )


@app.command()
def notify(
    today: TodayOpt = None,
    wait: Annotated[float | None, typer.Option(help="等待重试的最长秒数")] = None,
) -> None:
    """生成并投递今日提醒、督办 — dispatch notifications (same flow as the 09:00 schedule)."""
    from flows.dispatch_notifications import dispatch_notifications

    report = _run(dispatch_notifications, today=_day(today), wait_seconds=wait)
    console.print(f"成功 {report.total('sent')} 封，待重试 {report.total('retry')} 封，死信 {report.total('dead')} 封")
    for oid, channel, error in report.dead:
        console.print(f"  [red]死信[/] #{oid} {channel}: {error}", highlight=False)


@app.command()
def status(
    agreement: Annotated[str | None, typer.Option(help="协议编号")] = None,
    today: TodayOpt = None,
) -> None:
    """各协议任务汇总及近期到期事项 — status."""
    _print_status(_day(today), agreement)


@app.command()
def done(
    occurrence_id: Annotated[int, typer.Argument(help="任务编号")],
    department: Annotated[str, typer.Option(help="责任部门：单位/部门，如 渝北区/区委社会工作部")],
    outcome: Annotated[str, typer.Option(help="done / partial / cannot")] = "done",
    participants: Annotated[int | None, typer.Option(help="参与人数")] = None,
    metric: Annotated[list[str] | None, typer.Option(help="指标 name=数值，可重复")] = None,
    evidence: Annotated[list[str] | None, typer.Option(help="佐证材料链接，可重复")] = None,
    note: Annotated[str | None, typer.Option(help="说明")] = None,
) -> None:
    """报告任务完成情况 — report completion (goes to the ledger)."""
    from flows.record_completion import record_completion

    with _user_errors():
        metrics = _parse_metrics(metric or [])
    event_id = _run(
        record_completion,
        occurrence_id=occurrence_id,
        department=department,
        outcome=outcome,
        participants=participants,
        metrics=metrics,
        evidence=evidence or [],
        note=note,
    )
    console.print(f"[green]✓[/] 已记录：任务 #{occurrence_id}（台账事件 #{event_id}）")


def _parse_metrics(items: list[str]) -> dict[str, int]:
    """`name=123` pairs; anything else (no name, '²', '--5', '1e3') is a clear error, never a traceback."""
    metrics: dict[str, int] = {}
    for item in items:
        name, sep, value = item.partition("=")
        number = value.strip().removeprefix("-")
        # isdecimal, not isdigit: '²' is a digit that int() refuses; full-width '１２' is accepted as 12.
        if not sep or not name.strip() or not number.isdecimal():
            raise CoopError(f"指标应写作 name=整数，例如 resident_questionnaires=1200（收到 '{item}'）")
        metrics[name.strip()] = int(value)
    return metrics


@app.command()
def sweep(today: TodayOpt = None) -> None:
    """更新任务状态（进入办理期 / 逾期） — sweep statuses."""
    from flows.sweep_overdue import sweep_overdue

    result = _run(sweep_overdue, today=_day(today))
    console.print(f"{result.became_due} 项进入办理期，{result.became_overdue} 项逾期")


outbox_app = typer.Typer(help="通知发件箱 outbox：查看、重新投递死信", no_args_is_help=True)
app.add_typer(outbox_app, name="outbox")
OUTBOX_STATUS_LABELS = {"pending": "待发送", "sending": "发送中", "sent": "已发送", "dead": "死信"}


@outbox_app.command("list")
def outbox_list(
    status: Annotated[str, typer.Option(help="pending / sending / sent / dead / all")] = "dead",
    limit: Annotated[int, typer.Option(help="最多列出几条")] = 100,
) -> None:
    """各状态消息数，以及某一状态的消息（默认死信） — list outbox messages."""
    from coop.migrate import upgrade
    from coop.store.outbox import list_messages, status_counts
    from models.db import session_scope

    with _user_errors():
        if status != "all" and status not in OUTBOX_STATUS_LABELS:
            raise CoopError(f"--status 只能是 pending / sending / sent / dead / all（收到 '{status}'）")
        upgrade()
        with session_scope() as session:
            counts = status_counts(session)
            rows = list_messages(session, None if status == "all" else status, max(0, limit))
    console.print(
        "，".join(f"{OUTBOX_STATUS_LABELS[k]} {counts.get(k, 0)}" for k in OUTBOX_STATUS_LABELS), highlight=False
    )
    table = Table(title=f"发件箱消息（{'全部' if status == 'all' else OUTBOX_STATUS_LABELS[status]}，最新在前）")
    for col in ("编号", "状态", "渠道", "收件部门", "主题", "尝试次数", "最后错误"):
        table.add_column(col)
    for r in rows:
        who = r.recipient + ("" if r.recipient_role == "department" else f"（{r.recipient_role}）")
        table.add_row(
            str(r.id),
            OUTBOX_STATUS_LABELS.get(r.status, r.status),
            r.channel,
            who,
            r.subject,
            str(r.attempts),
            (r.last_error or "—")[:200],
        )
    console.print(table)


@outbox_app.command("requeue")
def outbox_requeue(
    message_id: Annotated[
        list[int] | None, typer.Option("--id", help="死信编号，可重复；不给则重新投递全部死信")
    ] = None,
) -> None:
    """把死信重新放回发件箱（记入台账），下次投递时发送 — re-queue dead letters."""
    from coop.migrate import upgrade
    from coop.settings import get_settings
    from coop.store.outbox import requeue_dead
    from models.db import session_scope
    from models.tables import utcnow

    with _user_errors():
        upgrade()
        with session_scope() as session:
            count = requeue_dead(session, message_id or None, utcnow(), get_settings().actor)
        if message_id and count == 0:
            raise CoopError(
                f"编号 {', '.join(map(str, sorted(set(message_id))))} 都不是死信 (no dead letter with these ids)"
            )
        if message_id and count < len(set(message_id)):
            err.print(f"[yellow]注意[/]：{len(set(message_id)) - count} 个编号不是死信，未处理", highlight=False)
    console.print(f"[green]✓[/] 已重新排队 {count} 条死信（台账已记录）；运行 coop notify 投递", highlight=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """把数据库升级到最新结构 — run migrations."""
    from coop.migrate import upgrade

    upgrade()
    console.print("[green]✓[/] 数据库已是最新结构")


@audit_app.command("verify")
def audit_verify() -> None:
    """重新计算台账哈希链，报告第一处被篡改的事件 — verify the ledger."""
    if not _print_verify():
        raise typer.Exit(1)


def _print_verify() -> bool:
    from coop.migrate import upgrade
    from coop.store.ledger import verify
    from models.db import session_scope

    upgrade()
    with session_scope() as session:
        result = verify(session)
    if result.ok:
        console.print(f"[green]✓[/] 台账完整：{result.events} 条事件，哈希链校验通过")
        return True
    where = (
        f"事件 #{result.first_break.event_id}：{result.first_break.reason}"
        if result.first_break
        else "台账头记录与链尾不一致"
    )
    console.print(f"[bold red]✗ 台账被改动[/]：{where}")
    return False


def _print_status(day: dt.date, agreement: str | None) -> None:
    from coop.migrate import upgrade
    from coop.store.status import summarise
    from coop.summary import STATUS_LABELS, chinese_date
    from models.db import session_scope

    upgrade()
    with session_scope() as session:
        summaries = summarise(session, day, agreement)
    if not summaries:
        console.print("尚无协议。先运行 coop plan agreements/*.yaml")
        return
    for s in summaries:
        counts = "，".join(f"{STATUS_LABELS.get(k, k)} {v}" for k, v in sorted(s.by_status.items()))
        console.rule(f"[bold]{s.title}")
        console.print(
            f"编号 {s.id} · 第 {s.version} 版 · 期限 {s.term_start} 至 {s.term_end}\n"
            f"工程 {s.programmes} 个 · 条款 {s.clauses} 条 · 任务 {s.occurrences} 项（{counts}）"
            + (f" · 暂定日期 {s.provisional} 项" if s.provisional else "")
        )
        table = Table(title="近期到期的 10 项任务", show_lines=False)
        for col in ("编号", "截止日期", "条款", "任务", "责任单位", "承办方", "状态"):
            table.add_column(col)
        for item in s.next_due:
            table.add_row(
                str(item.occurrence_id),
                chinese_date(item.due_date) + ("（暂定）" if item.provisional else ""),
                item.clause,
                item.clause_title,
                f"{item.party}{item.department}",
                item.host or "—",
                STATUS_LABELS.get(item.status, item.status),
            )
        console.print(table)


# ---------------------------------------------------------------- web service, tokens, links, audit queries

token_app = typer.Typer(help="接口令牌 API tokens（部门 / 审计）", no_args_is_help=True)
app.add_typer(token_app, name="token")

AuditBy = Annotated[
    str, typer.Option("--by", help="分组：agreement / programme / party / department / month / quarter / year")
]
AsOfOpt = Annotated[
    dt.datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="查询该日结束时的状态（据台账重建）")
]
AgreementOpt = Annotated[str | None, typer.Option(help="协议编号")]
ProgrammeOpt = Annotated[str | None, typer.Option(help="工程编号")]
ClauseOpt = Annotated[str | None, typer.Option(help="条款编号")]
PartyOpt = Annotated[str | None, typer.Option(help="单位")]
DepartmentOpt = Annotated[str | None, typer.Option(help="部门：单位/部门")]
FromOpt = Annotated[dt.datetime | None, typer.Option("--from", formats=["%Y-%m-%d"], help="截止日期不早于")]
ToOpt = Annotated[dt.datetime | None, typer.Option("--to", formats=["%Y-%m-%d"], help="截止日期不晚于")]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
) -> None:
    """启动网页表单与接口服务 — serve the web form and JSON API (uvicorn)."""
    import uvicorn

    from coop.migrate import upgrade
    from coop.settings import get_settings
    from coop.web import create_app

    with _user_errors():
        upgrade()
        web = create_app(get_settings())
    console.print(f"协作通服务：http://{host}:{port}/ （接口文档 /docs）", highlight=False)
    uvicorn.run(web, host=host, port=port, log_level="info", proxy_headers=False)


@token_app.command("issue")
def token_issue(
    department: Annotated[str | None, typer.Option(help="部门令牌：单位/部门")] = None,
    auditor: Annotated[str | None, typer.Option(help="审计令牌：审计人员姓名")] = None,
    label: Annotated[str | None, typer.Option(help="备注（记入台账的操作人名称）")] = None,
) -> None:
    """发放接口令牌（只显示一次） — issue an API token."""
    from coop.access import Role
    from coop.migrate import upgrade
    from coop.store.access import issue_token
    from models.db import session_scope

    with _user_errors():
        if (department is None) == (auditor is None):
            raise CoopError("请指定 --department 单位/部门 或 --auditor 姓名 之一")
        upgrade()
        with session_scope() as session:
            if department is not None:
                issued = issue_token(session, Role.department, label or department, department)
            else:
                issued = issue_token(session, Role.auditor, label or f"审计 {auditor}")
    who = issued.department or issued.label
    console.print(f"[green]✓[/] 令牌 #{issued.id}（{issued.role}：{who}），请妥善保存，只显示这一次：", highlight=False)
    print(issued.token)


@token_app.command("list")
def token_list() -> None:
    """列出令牌（不显示令牌本身） — list tokens."""
    from coop.migrate import upgrade
    from coop.store.access import list_tokens
    from models.db import session_scope

    upgrade()
    with session_scope() as session:
        rows = list_tokens(session)
    table = Table(title="接口令牌")
    for col in ("编号", "角色", "部门编号", "备注", "发放时间", "状态"):
        table.add_column(col)
    for row in rows:
        table.add_row(
            str(row.id),
            row.role,
            str(row.department_id or "—"),
            row.label,
            f"{row.created_at:%Y-%m-%d %H:%M}",
            "已撤销" if row.revoked_at else "有效",
        )
    console.print(table)


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="令牌编号")]) -> None:
    """撤销令牌 — revoke a token."""
    from coop.migrate import upgrade
    from coop.store.access import revoke_token
    from models.db import session_scope

    with _user_errors():
        upgrade()
        with session_scope() as session:
            revoke_token(session, token_id)
    console.print(f"[green]✓[/] 令牌 #{token_id} 已撤销")


@app.command()
def link(
    department: Annotated[str, typer.Option(help="部门：单位/部门")],
    occurrence: Annotated[
        int | None, typer.Option(help="任务编号（给出则为该任务的报告链接，否则为任务清单链接）")
    ] = None,
) -> None:
    """生成部门签名链接 — print a signed department link."""
    from coop.access import list_url, report_url
    from coop.errors import UnknownOccurrence
    from coop.migrate import upgrade
    from coop.settings import get_settings
    from coop.store.occurrences import resolve_department
    from models.db import session_scope
    from models.tables import Occurrence

    settings = get_settings()
    with _user_errors():
        upgrade()
        with session_scope() as session:
            dept = resolve_department(session, department)
            if occurrence is not None:
                occ = session.get(Occurrence, occurrence)
                if occ is None or occ.department_id != dept.id:
                    raise UnknownOccurrence(occurrence)
        assert dept.id is not None
        url = report_url(settings, occurrence, dept.id) if occurrence is not None else list_url(settings, dept.id)
    print(url)


def _print_demo_link() -> None:
    """One working department link for the README's demo: the next open occurrence's report form."""
    from sqlalchemy import select

    from coop.access import list_url, report_url
    from coop.settings import get_settings
    from models.db import session_scope
    from models.tables import OPEN_STATUSES, Agency, ClauseRecord, Department, Occurrence

    settings = get_settings()
    with session_scope() as session:
        row = session.execute(
            select(Occurrence.id, Occurrence.department_id, Agency.name, Department.name, ClauseRecord.title)
            .join(Department, Department.id == Occurrence.department_id)
            .join(Agency, Agency.id == Department.agency_id)
            .join(ClauseRecord, ClauseRecord.id == Occurrence.clause_id)
            .where(Occurrence.status.in_(OPEN_STATUSES))  # type: ignore[attr-defined]
            .order_by(Occurrence.due_date, Occurrence.id)
            .limit(1)
        ).first()
    if row is None:
        return
    with _user_errors():
        report, listing = report_url(settings, row[0], row[1]), list_url(settings, row[1])
    console.rule("部门报告链接（先运行 make serve 启动服务）")
    console.print(f"{row[2]}{row[3]} · 任务 #{row[0]} {row[4]}：", highlight=False)
    print(report)
    console.print("本部门任务清单：", highlight=False)
    print(listing)


def _audit_filter(
    agreement: str | None,
    programme: str | None,
    clause: str | None,
    party: str | None,
    department: str | None,
    due_from: dt.datetime | None,
    due_to: dt.datetime | None,
):  # type: ignore[no-untyped-def]
    from coop.store.audit import AuditFilter

    return AuditFilter(
        agreement,
        programme,
        clause,
        party,
        department,
        due_from.date() if due_from else None,
        due_to.date() if due_to else None,
    )


def _audit_day(as_of: dt.datetime | None) -> tuple[dt.date, bool]:
    from coop.clock import today_in_shanghai

    today = today_in_shanghai()
    day = as_of.date() if as_of else today
    if day > today:
        raise CoopError(f"--as-of {day} 晚于今天 {today}")
    return day, day < today


def _audit_summary(by: str, flt: Any, as_of: dt.datetime | None, overdue_limit: int) -> Any:
    from coop.audit import GROUP_LABELS, summarise_states
    from coop.migrate import upgrade
    from coop.store.audit import auditor_session, occurrence_states

    if by not in GROUP_LABELS:
        raise CoopError(f"--by 只能是 {' / '.join(GROUP_LABELS)}（收到 '{by}'）")
    day, from_ledger = _audit_day(as_of)
    upgrade()
    with auditor_session() as session:
        return summarise_states(occurrence_states(session, flt, day, from_ledger=from_ledger), day, by, overdue_limit)  # type: ignore[arg-type]


@audit_app.command("rates")
def audit_rates(
    by: AuditBy = "agreement",
    agreement: AgreementOpt = None,
    programme: ProgrammeOpt = None,
    clause: ClauseOpt = None,
    party: PartyOpt = None,
    department: DepartmentOpt = None,
    due_from: FromOpt = None,
    due_to: ToOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """完成率、按时率（按协议 / 工程 / 单位 / 部门 / 时段） — completion and on-time rates."""
    from coop.audit import GROUP_LABELS, percent

    with _user_errors():
        summary = _audit_summary(
            by, _audit_filter(agreement, programme, clause, party, department, due_from, due_to), as_of, 0
        )
    table = Table(title=f"完成率与按时率（截至 {summary.as_of}；应完成 = 截止日期已过且未豁免、未取消）")
    for col in (
        GROUP_LABELS[by],
        "任务",
        "应完成",
        "已完成",
        "完成率",
        "按时",
        "按时率",
        "逾期",
        "未到期",
        "豁免",
        "取消",
    ):
        table.add_column(col, justify="left" if col == GROUP_LABELS[by] else "right")
    for r in [*summary.groups, summary.overall]:
        table.add_row(
            r.group,
            str(r.total),
            str(r.expected),
            str(r.done),
            percent(r.completion_rate),
            str(r.on_time),
            percent(r.on_time_rate),
            str(r.overdue),
            str(r.open_not_due),
            str(r.waived),
            str(r.cancelled),
            style="bold" if r is summary.overall else None,
        )
    console.print(table)


@audit_app.command("overdue")
def audit_overdue(
    by: AuditBy = "agreement",
    agreement: AgreementOpt = None,
    programme: ProgrammeOpt = None,
    clause: ClauseOpt = None,
    party: PartyOpt = None,
    department: DepartmentOpt = None,
    due_from: FromOpt = None,
    due_to: ToOpt = None,
    as_of: AsOfOpt = None,
    limit: Annotated[int, typer.Option(help="最多列出几项")] = 100,
) -> None:
    """逾期清单 — overdue occurrences, oldest first."""
    from coop.audit import GROUP_LABELS
    from coop.summary import chinese_date

    with _user_errors():
        summary = _audit_summary(
            by, _audit_filter(agreement, programme, clause, party, department, due_from, due_to), as_of, max(0, limit)
        )
    table = Table(title=f"逾期任务（截至 {summary.as_of}，共 {summary.overdue_count} 项）")
    for col in ("编号", GROUP_LABELS[by], "截止日期", "逾期天数", "条款", "任务", "责任单位"):
        table.add_column(col)
    for item in summary.overdue:
        table.add_row(
            str(item.occurrence_id),
            item.group,
            chinese_date(item.due_date),
            str(item.days_overdue),
            item.clause,
            item.clause_title,
            f"{item.party}{item.department}",
        )
    console.print(table)


@audit_app.command("progress")
def audit_progress(
    agreement: AgreementOpt = None,
    programme: ProgrammeOpt = None,
    clause: ClauseOpt = None,
    party: PartyOpt = None,
    department: DepartmentOpt = None,
    due_from: FromOpt = None,
    due_to: ToOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """量化指标进度：已报告合计与目标 — progress toward numeric targets."""
    from coop.audit import METRIC_LABELS, percent

    with _user_errors():
        summary = _audit_summary(
            "agreement", _audit_filter(agreement, programme, clause, party, department, due_from, due_to), as_of, 0
        )
    table = Table(title=f"量化指标进度（截至 {summary.as_of}）")
    for col in ("协议", "条款", "任务", "指标", "已报告", "目标", "完成比例"):
        table.add_column(col, justify="right" if col in ("已报告", "目标", "完成比例") else "left")
    for p in summary.progress:
        table.add_row(
            p.agreement_id,
            p.clause,
            p.clause_title,
            METRIC_LABELS.get(p.metric, p.metric),
            f"{p.reported:,}",
            f"{p.target:,}",
            percent(p.ratio),
        )
    console.print(table)


@audit_app.command("history")
def audit_history(
    occurrence_id: Annotated[int | None, typer.Argument(help="任务编号")] = None,
    agreement: Annotated[str | None, typer.Option(help="协议编号（与 --clause 一起查看条款历史）")] = None,
    clause: Annotated[str | None, typer.Option(help="条款编号")] = None,
    as_of: AsOfOpt = None,
) -> None:
    """一项任务或一个条款的完整台账记录（谁、何时、佐证） — full history."""
    import json

    from coop.migrate import upgrade
    from coop.store.audit import auditor_session, clause_history, occurrence_history

    with _user_errors():
        if (occurrence_id is None) == (agreement is None or clause is None):
            raise CoopError("请给出任务编号，或 --agreement 协议编号 --clause 条款编号")
        upgrade()
        day = as_of.date() if as_of else None
        with auditor_session() as session:
            if occurrence_id is not None:
                history: Any = occurrence_history(session, occurrence_id, day)
                title = f"任务 #{occurrence_id} · 第{history.clause}条 {history.clause_title} · {history.party}{history.department} · 截止 {history.due_date}"
            else:
                assert agreement is not None and clause is not None
                history = clause_history(session, agreement, clause, day)
                title = f"{history.agreement_id} 第{history.clause}条 {history.clause_title}（{history.occurrences} 项任务）"
    table = Table(title=title, show_lines=True)
    for col in ("事件", "时间", "操作人", "事项", "任务", "内容", "佐证"):
        table.add_column(col)
    for e in history.events:
        shown = {k: v for k, v in e.payload.items() if k not in ("evidence", "occurrence_ids")}
        table.add_row(
            str(e.id),
            f"{e.at:%Y-%m-%d %H:%M}",
            e.actor,
            e.label,
            str(e.occurrence_id or "—"),
            json.dumps(shown, ensure_ascii=False)[:300],
            "\n".join(e.evidence) or "—",
        )
    console.print(table)


@audit_app.command("export")
def audit_export(
    output: Annotated[Path, typer.Argument(help="输出文件 *.csv 或 *.xlsx")],
    agreement: AgreementOpt = None,
    programme: ProgrammeOpt = None,
    clause: ClauseOpt = None,
    party: PartyOpt = None,
    department: DepartmentOpt = None,
    due_from: FromOpt = None,
    due_to: ToOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """导出任务状态明细为 CSV 或 XLSX（逐行流式写出） — export."""
    from coop.export import csv_chunks, state_row, write_xlsx
    from coop.migrate import upgrade
    from coop.store.audit import auditor_session, occurrence_states

    with _user_errors():
        suffix = output.suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            raise CoopError(f"输出文件应以 .csv 或 .xlsx 结尾（收到 {output.name}）")
        flt = _audit_filter(agreement, programme, clause, party, department, due_from, due_to)
        day, from_ledger = _audit_day(as_of)
        upgrade()
        count = 0
        with auditor_session() as session:

            def rows() -> Iterator[list[Any]]:
                nonlocal count
                for state in occurrence_states(session, flt, day, from_ledger=from_ledger):
                    count += 1
                    yield state_row(state)

            if suffix == ".csv":
                with output.open("wb") as handle:
                    for chunk in csv_chunks(rows()):
                        handle.write(chunk)
            else:
                write_xlsx(rows(), output)
    console.print(f"[green]✓[/] 已导出 {count} 行到 {output}（截至 {day}）", highlight=False)


def main() -> None:  # pragma: no cover - console script shim
    app(prog_name="coop")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
