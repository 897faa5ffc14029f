"""Bring up the coordinators' Prefect UI: a server, the deployments in prefect.yaml, and a process worker.

`make ui` runs `python -m coop.ui`; the browser and PostgreSQL tests start the same pieces through `UiStack`.
The stack upgrades the coop database schema before any worker starts: flows only check it and stop if it is behind.
Everything is the stock Prefect CLI (`prefect server start`, `prefect deploy`, `prefect worker start`), so the
scale-out path in docs/scale-out.md is the same commands pointed at a shared server.

Start-up time (issue 15: ready within 20 s on a fresh PREFECT_HOME): a new Prefect home would spend most of its
first start migrating Prefect's own SQLite database (~120 Alembic revisions, 7 s of 11 s here). `make install` runs
those migrations once per Prefect version (`python -m coop.ui --prepare`, the stock `prefect server database
upgrade`) into .coop/prefect-schema/; a new home starts from a copy of that database. The deployments are
registered by `coop.ui_deploy`, started beside the server so its imports overlap the server's start.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path
from typing import IO
from uuid import UUID

import httpx
from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError

from coop.errors import CoopError
from coop.notify.run_failures import AUTOMATION_NAME, FAILED_STATES, WEBHOOK_BLOCK, FailureHook, failure_hook
from coop.services.schema import upgrade
from coop.settings import get_settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_POOL = "coop"
# First start on a fresh PREFECT_HOME migrates Prefect's own database: minutes on a small machine.
STARTUP_TIMEOUT_SECONDS = 300.0
SCHEMA_DIR = PROJECT_DIR / ".coop" / "prefect-schema"
# Set either of these and Prefect's database is not the home's SQLite file (the PostgreSQL scale-out stack).
DATABASE_SETTINGS = ("PREFECT_API_DATABASE_CONNECTION_URL", "PREFECT_SERVER_DATABASE_CONNECTION_URL")


class StackError(RuntimeError):
    """A piece of the UI stack did not come up; the message names its log file."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def prefect_env(home: Path, api_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for every Prefect process of one stack: its own home, its server, no telemetry."""
    env = dict(os.environ)
    # A Prefect Cloud profile or key of whoever runs this must neither redirect the stack nor reach it.
    for name in ("PREFECT_PROFILE", "PREFECT_API_KEY"):
        env.pop(name, None)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
            # Prefect's V2 UI starts Amplitude (a request to amplitude.com) even with analytics off; V1 does not.
            "PREFECT_SERVER_UI_V2_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": env.get("PREFECT_SERVER_LOGGING_LEVEL", "WARNING"),
            "PREFECT_CLI_COLORS": "false",
            "PREFECT_CLI_WRAP_LINES": "false",
            # A worker asks for runs every second, not every 10 s: a click starts its flow within about a second.
            "PREFECT_WORKER_QUERY_SECONDS": env.get("PREFECT_WORKER_QUERY_SECONDS", "1"),
            # The deployments' pull step (prefect.yaml) runs flows from this checkout.
            "COOP_PROJECT_DIR": str(PROJECT_DIR),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def prefect_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def prepared_database() -> Path:
    """Prefect's own database migrated to the installed version's head, with nothing in it (see the module doc)."""
    return SCHEMA_DIR / f"prefect-{version('prefect')}.db"


def prepare_prefect_database(target: Path | None = None) -> Path:
    """Run Prefect's migrations once into a scratch home and keep the result; a second call finds it and returns."""
    target = target or prepared_database()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.parent / f".scratch-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        env = {k: v for k, v in prefect_env(scratch, "").items() if k not in DATABASE_SETTINGS}
        env.pop("PREFECT_API_URL")
        done = subprocess.run(
            prefect_command("server", "database", "upgrade", "--yes"),
            env=env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise StackError(f"Prefect 数据库迁移失败 (prefect server database upgrade failed): {done.stdout[-2000:]}")
        partial = target.with_suffix(".partial")
        copy_sqlite(scratch / "prefect.db", partial)
        partial.replace(target)  # readers see the whole file or none
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def copy_sqlite(source: Path, target: Path) -> None:
    """A consistent single-file copy (SQLite's backup API folds in the write-ahead log)."""
    target.unlink(missing_ok=True)
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


@dataclass
class UiStack:
    """One Prefect server, its deployments and its workers, each a child process with a log file."""

    home: Path
    port: int
    host: str = "127.0.0.1"
    extra_env: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _files: list[IO[bytes]] = field(default_factory=list)

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.ui_url}/api"

    @property
    def env(self) -> dict[str, str]:
        return prefect_env(self.home, self.api_url, self.extra_env)

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def database_url(self) -> str:
        """The coop database the workers' flow runs will use: their COOP_DATABASE_URL, else the settings'."""
        return self.env.get("COOP_DATABASE_URL") or get_settings().database_url

    def start(self) -> UiStack:
        """Schema → server → healthy → work pool → deployments → workers; stops what it started if a step fails."""
        # Prefect does not create PREFECT_HOME itself; its server then dies with "unable to open database file".
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.upgrade_schema()
        self.seed_prefect_database()
        try:
            self.start_server()
            registrar = self.start_registrar()
            self.wait_healthy()
            self.wait_registered(registrar)
            self.register_failure_automation()
            for n in range(1, self.workers + 1):
                self.start_worker(f"coop-worker-{n}")
        except BaseException:
            self.stop()
            raise
        return self

    def upgrade_schema(self) -> None:
        """Migrate once, before any worker runs a flow: flows only check the schema and stop if it is behind."""
        try:
            upgrade(self.database_url)
        except SQLAlchemyError as exc:
            raise StackError(f"无法升级协作通数据库结构 (cannot upgrade the coop database): {exc}") from exc

    def seed_prefect_database(self) -> bool:
        """A new home starts from the prepared database when `make install` made one for this Prefect version."""
        database = self.home / "prefect.db"
        prepared = prepared_database()
        if database.exists() or not prepared.exists() or any(self.env.get(name) for name in DATABASE_SETTINGS):
            return False
        copy_sqlite(prepared, database)
        return True

    def start_server(self) -> None:
        if _answers(f"{self.api_url}/health"):
            raise StackError(
                f"端口 {self.port} 上已有 Prefect 服务在运行 (port {self.port} is taken; pick another port)"
            )
        self._spawn("server", prefect_command("server", "start", "--host", self.host, "--port", str(self.port)))

    def wait_healthy(self, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        server = self.processes[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise StackError(f"Prefect server exited with {server.returncode}; see {self.log_dir / 'server.log'}")
            if _answers(f"{self.api_url}/health"):
                return
            time.sleep(0.5)
        raise StackError(f"Prefect server not healthy after {timeout:.0f}s; see {self.log_dir / 'server.log'}")

    def start_registrar(self) -> subprocess.Popen[bytes]:
        """`coop.ui_deploy`: the work pool and `prefect deploy --all`, as soon as the server answers."""
        command = [sys.executable, "-m", "coop.ui_deploy", self.api_url, WORK_POOL, str(STARTUP_TIMEOUT_SECONDS)]
        self._spawn("deploy", command)
        return self.processes[-1]

    def wait_registered(self, registrar: subprocess.Popen[bytes], timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while registrar.poll() is None:
            if time.monotonic() > deadline:
                registrar.kill()
                raise StackError(f"部署注册超时 (deployments not registered after {timeout:.0f}s)")
            if self.processes[0].poll() is not None:
                raise StackError(f"Prefect 服务已退出 (Prefect server exited); 见 {self.log_dir / 'server.log'}")
            time.sleep(0.1)
        self.processes.remove(registrar)
        if registrar.returncode != 0:
            path = self.log_dir / "deploy.log"
            tail = path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise StackError(f"部署注册失败 (`prefect deploy --all` failed, {registrar.returncode}); {path}:\n{tail}")

    def register_failure_automation(self) -> str | None:
        """A failed or crashed run of a coop deployment notifies the coordinators' channel (COOP_COORDINATOR_CHANNEL).

        Prefect's server does it (an automation calling a webhook block), whichever worker ran the flow; registering
        again replaces the previous automation. Returns the channel notified, or None when none is configured."""
        from coop.notify.channels.registry import channel_env_var  # apprise: ~1 s, only when a channel is set

        env = self.env
        channel = env.get("COOP_COORDINATOR_CHANNEL") or get_settings().coordinator_channel
        if not channel:
            return None
        url = env.get(channel_env_var(channel))
        if not url:
            variable = channel_env_var(channel)
            raise StackError(f"协调人渠道 {channel} 没有地址：请设置 {variable} (no URL for the coordinators' channel)")
        try:
            hook = failure_hook(channel, url, self.ui_url)
        except CoopError as exc:
            raise StackError(str(exc)) from exc
        _create_failure_automation(self.api_url, hook)
        return channel

    def start_worker(self, name: str) -> None:
        command = prefect_command("worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", name)
        self._spawn(name, command)

    def stop(self) -> None:
        """Workers first, while the server can still hear them sign off, then the server; SIGTERM is their stop."""
        for proc in reversed(self.processes):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.processes.clear()
        for f in self._files:
            f.close()
        self._files.clear()

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes)

    def _spawn(self, name: str, command: list[str]) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self._files.append(log)
        self.processes.append(
            # Own session: a Ctrl-C in the terminal reaches only us, and we stop the pieces in order.
            subprocess.Popen(
                command,
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        )


def _create_failure_automation(api_url: str, hook: FailureHook) -> None:
    # Prefect is imported here, not at the top: `python -m coop.ui` should not pay for it before the server starts.
    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import get_client
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.types import SecretDict

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        headers = SecretDict({"Content-Type": "application/json"})
        webhook = Webhook(method="POST", url=SecretStr(hook.url), headers=headers)
        block_id: UUID = webhook.save(WEBHOOK_BLOCK, overwrite=True)  # type: ignore[assignment]  # sync: a UUID
        for old in client.read_automations_by_name(AUTOMATION_NAME):
            client.delete_automation(old.id)
        client.create_automation(
            AutomationCore(
                name=AUTOMATION_NAME,
                description="协作通的部署运行失败或崩溃时，通知协调人渠道（流程、部署、原因和运行链接）。",
                trigger=EventTrigger(
                    expect={f"prefect.flow-run.{state}" for state in FAILED_STATES},
                    match={"prefect.resource.id": "prefect.flow-run.*"},
                    # Every coop deployment carries the `coop` tag (prefect.yaml), and so do its runs.
                    match_related={"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.coop"},
                    posture=Posture.Reactive,
                    threshold=1,
                    within=timedelta(0),
                ),
                actions=[CallWebhook(block_document_id=block_id, payload=hook.payload)],
            )
        )


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m coop.ui", description="启动 Prefect 界面、注册全部部署并启动执行器"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("COOP_UI_PORT", "4200")))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--prepare", action="store_true", help="只迁移 Prefect 数据库一次并保存（make install 调用）后退出"
    )
    args = parser.parse_args(argv)
    if args.prepare:
        try:
            print(f"Prefect 数据库结构已就绪 (prepared): {prepare_prefect_database()}", flush=True)
        except StackError as exc:
            print(f"错误: {exc}", file=sys.stderr)
            return 2
        return 0

    home = Path(os.environ.get("PREFECT_HOME") or PROJECT_DIR / ".coop" / "prefect").expanduser().resolve()
    stack = UiStack(home=home, port=args.port, host=args.host, workers=args.workers)
    # Ctrl-C and SIGTERM both stop everything we started, also when the caller's shell ignores SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    ready = (home / "prefect.db").exists() or prepared_database().exists()
    first = "" if ready else "，首次启动需初始化数据库，约半分钟"
    print(f"正在启动 Prefect 服务（数据在 {home}{first}）……", flush=True)
    up = False
    try:  # one try from the start to the end: a signal between two statements must not leave the pieces running
        try:
            stack.start()
        except StackError as exc:
            print(f"错误: {exc}", file=sys.stderr)
            return 2
        up = True
        print(
            "\n协作通 Prefect 界面已就绪 (coop UI is up):\n"
            f"  界面 UI:         {stack.ui_url}\n"
            f"  部署 deployments: {stack.ui_url}/deployments\n"
            f"  执行器 worker:    work pool '{WORK_POOL}'，日志在 {stack.log_dir}\n"
            "按 Ctrl-C 停止 (Ctrl-C stops the server and the worker).",
            flush=True,
        )
        while stack.alive():
            time.sleep(1)
        print(f"错误: a Prefect process exited; see the logs in {stack.log_dir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if not up:
            return 130
        stack.stop()  # before saying so
        print("已停止 (stopped).", flush=True)
        return 0
    finally:
        stack.stop()  # whatever ended the run (a no-op after the stop above)


if __name__ == "__main__":
    raise SystemExit(main())
