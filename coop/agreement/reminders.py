"""How insistently to remind, as an agreement (or one of its clauses) writes it.

Lives beside the agreement schema, which embeds it; `coop.notify.policy` applies it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_WORKDAYS = 250


class ReminderPolicy(BaseModel):
    """How insistently to remind; one per deployment or per agreement."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Bounded to about a year of working days: an absurd value in one agreement must fail when the file is
    # loaded, not later inside the daily notice run that serves every agreement.
    before_workdays: list[int] = Field(
        default_factory=lambda: [7, 1], max_length=10, description="reminders N working days before due (1–250)"
    )
    on_due_day: bool = True
    escalate_after_workdays: int = Field(default=3, ge=1, le=MAX_WORKDAYS)
    escalate_every_workdays: int = Field(default=5, ge=1, le=MAX_WORKDAYS)
    notify_on_plan: bool = True

    @field_validator("before_workdays")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if any(n < 1 for n in value):
            raise ValueError("before_workdays entries must be at least 1 (the due day itself is on_due_day)")
        if any(n > MAX_WORKDAYS for n in value):
            raise ValueError(f"before_workdays entries must be at most {MAX_WORKDAYS} (about a year of working days)")
        return sorted(set(value), reverse=True)
