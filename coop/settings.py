"""The one settings object; every knob is a `COOP_*` environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COOP_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///coop.db",
        description="SQLAlchemy URL; PostgreSQL: postgresql+psycopg://postgres@127.0.0.1:5432/test",
    )
    agreements_dir: Path = Path("agreements")
    timezone: str = "Asia/Shanghai"
    calendar_overrides: Path | None = Field(
        default=None, description="YAML file with extra holidays/make-up workdays for years lacking official data"
    )
    seasons_file: Path | None = Field(
        default=None,
        description="寒暑假时段表 YAML（格式见 coop/data/seasons.yaml）；不设则用随附的出厂缺省值 (seasons file)",
    )
    seasons_dir: Path | None = Field(
        default=None,
        description="各地区（省/直辖市）寒暑假时段表的文件夹，每地区一个 <地区>.yaml，格式同上；不设则用随附的"
        "出厂缺省值 coop/data/seasons/（重庆、四川） (regional seasons folder)",
    )
    max_occurrences_per_clause: int = Field(
        default=5000, description="Guards against absurd recurrences (e.g. every second for 100 years)"
    )
    plan_process_min_files: int = Field(
        default=24,
        ge=0,
        description="一次计划至少这么多份协议文件时，由一个辅助进程读取、展开并暂存，本进程只写库；0 表示从不"
        "（启动辅助进程约需 1 秒，文件少时不划算） (files from which a batch plan uses a helper process; 0 never)",
    )
    public_base_url: str = "http://127.0.0.1:8000"
    actor: str = Field(default="coordinator", description="Who is recorded in the ledger for CLI/flow actions")

    notify_horizon_days: int = Field(default=60, ge=0, description="新任务通知只列出此天数内到期的任务")
    notify_max_attempts: int = Field(default=5, ge=1, le=50, description="attempts before a message is dead-lettered")
    notify_backoff_seconds: float = Field(default=5.0, ge=0, description="first retry delay; doubles per attempt")
    notify_backoff_max_seconds: float = Field(default=900.0, ge=0)
    notify_concurrency: int = Field(
        default=48,
        ge=1,
        le=512,
        description="requests in flight at once; a long robot message holds a slot only while one of its parts is "
        "sent, not while it waits for its robot's turn (up to 60 messages per slot are held meanwhile). 48: the "
        "1M-row day's 4,206 digests in ~20 s unpaced against ~25 s at 32 (bench daily cycle, 50 ms robots), "
        "dispatch 330-440 msg/s. A crash may resend at most this many requests plus an eighth (sent, not yet recorded)",
    )
    notify_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="one delivery request, start to finish"
    )
    notify_lease_seconds: float = Field(
        default=300.0, gt=0, description="a claimed message returns to the queue after this"
    )
    notify_wait_seconds: float = Field(
        default=120.0, ge=0, description="how long one dispatch run waits for due retries"
    )
    notify_processes: int = Field(
        default=0,
        ge=0,
        le=32,
        description="一次投递所用的进程数：0（缺省）自动——到期消息不少于 1,000 封时每 500 封一个进程，最多为 CPU 核数"
        "（至多 8 个），否则只用本进程；1 只用本进程（与以往相同）；N 固定为 N 个（目的地不足时更少）。消息按目的地"
        "（解析后的渠道 URL）分给各进程，同一机器人的消息只由一个进程发送，其每分钟限速不被打破。1M 行的一天 2,097 封"
        "摘要：一个进程约 450 封/秒，两个约 600 封/秒 (delivery processes of one run, split by destination)",
    )
    notify_rate_per_minute: dict[str, int] = Field(
        default_factory=lambda: {"wecom": 20, "dingtalk": 20, "feishu": 100, "email": 120},
        description="per-channel message rate by channel kind (robots allow ~20/min); missing kind = unlimited",
    )

    secret_key: SecretStr | None = Field(
        default=None,
        description="signs department links; unset = a random key kept in secret_key_file (single-host setups)",
    )
    secret_key_file: Path = Path(".coop/secret_key")
    link_ttl_hours: int = Field(default=168, ge=1, le=24 * 90, description="how long a department link stays valid")
    coordinator_token: SecretStr | None = Field(
        default=None,
        description="bearer token for coordinator actions (plan, waive, cancel); unset = nobody is coordinator",
    )
    auditor_database_url: str | None = Field(
        default=None,
        description="read-only login for auditor queries; "
        "unset = database_url as role coop_auditor (PostgreSQL) / mode=ro (SQLite)",
    )
    ledger_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs ledger checkpoints; keep it off the database host "
        "(`coop audit keygen` writes one, mode 0600)",
    )
    ledger_public_key_file: Path | None = Field(
        default=None,
        description="public key (PEM) auditors check checkpoints with; unset = derived from ledger_key_file",
    )
    checkpoint_file: Path | None = Field(
        default=None,
        description="append-only JSON-lines file outside the database that receives every signed checkpoint",
    )
    auditor_channel: str | None = Field(
        default=None,
        description="notification channel name (URL in COOP_CHANNEL_<NAME>) that receives every signed checkpoint",
    )
    coordinator_channel: str | None = Field(
        default=None,
        description="channel name (URL in COOP_CHANNEL_<NAME>, json:// or coop-wecom://) that `make ui`'s Prefect "
        "automation tells about every failed or crashed coop flow run",
    )
    require_channels: bool = Field(
        default=False,
        description="1: a channel without a URL is a dead letter; 0 (default): it is written to the local inbox",
    )
    inbox_dir: Path = Field(
        default=Path(".coop/inbox"), description="local inbox: one <channel>.md per unconfigured channel"
    )
    evidence_dir: Path = Field(default=Path(".coop/evidence"), description="uploaded evidence, stored by sha256")
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, description="largest accepted evidence file")
    evidence_ttl_hours: int = Field(
        default=24, ge=1, le=24 * 365, description="uploads no report has cited are removed after this many hours"
    )
    evidence_quota_mb: int = Field(
        default=200, ge=1, le=1024 * 1024, description="per department: most MB of uploads not yet cited by a report"
    )


@lru_cache
def get_settings() -> Settings:
    return Settings()
