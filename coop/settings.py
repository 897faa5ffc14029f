"""The one settings object; every knob is a `COOP_*` environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
    max_occurrences_per_clause: int = Field(
        default=5000, description="Guards against absurd recurrences (e.g. every second for 100 years)"
    )
    public_base_url: str = "http://127.0.0.1:8000"
    actor: str = Field(default="coordinator", description="Who is recorded in the ledger for CLI/flow actions")


@lru_cache
def get_settings() -> Settings:
    return Settings()
