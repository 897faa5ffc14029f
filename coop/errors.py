"""The CoopError family: user mistakes carry a location and a plain message, never a bare traceback."""

from __future__ import annotations

from dataclasses import dataclass


class CoopError(Exception):
    """Base of every error a user can cause and fix."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an agreement file, located by file and line."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class AgreementError(CoopError):
    """An agreement file is invalid; lists every problem found, each with file:line."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UnknownOccurrence(CoopError):
    def __init__(self, occurrence_id: int):
        self.occurrence_id = occurrence_id
        super().__init__(f"找不到任务 #{occurrence_id} (unknown occurrence id {occurrence_id})")


class InvalidTransition(CoopError):
    """A state change that the occurrence's current status does not allow."""


class Forbidden(CoopError):
    """The actor may not do this (wrong department or role)."""
