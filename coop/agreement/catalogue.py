"""The shipped agreements a coordinator picks from in the Prefect UI's run form."""

from __future__ import annotations

from pathlib import Path

from coop.agreement.organisations import REGISTRY_FILE
from coop.settings import get_settings


def shipped_agreements(directory: Path | None = None) -> list[str]:
    """Agreement files as the flows take them (relative to the project folder unless the folder is absolute).

    The organisation registry beside them is not an agreement."""
    folder = directory if directory is not None else get_settings().agreements_dir
    return [str(path) for path in sorted(folder.glob("*.yaml")) if path.name != REGISTRY_FILE]


def agreement_choices() -> dict[str, list[str]] | None:
    """JSON-schema `enum` for the run form; none when there is no agreement to offer (e.g. another working folder)."""
    files = shipped_agreements()
    return {"enum": files} if files else None
