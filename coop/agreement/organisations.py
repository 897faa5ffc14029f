"""The organisation registry (agreements/organisations.yaml): parties with ids stable across agreements.

An agreement names a registered party with `- ref: jilin/swd`; the loader copies its name, full name,
coordinator and departments into the agreement before validation, so a plan sees an ordinary party whose
identity is the registry id. Pure: text in, models out; reading the file is the loader's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import Field, model_validator

from coop.agreement.schema import OrganisationId, Party, Strict

REGISTRY_FILE = "organisations.yaml"


class Organisation(Party):
    """A registered party: like an agreement's party, with a required id."""

    id: OrganisationId = Field(description="组织标识, e.g. jilin/swd")

    @model_validator(mode="after")
    def _no_ref(self) -> Organisation:
        if self.ref is not None:
            raise ValueError("an organisation in the registry is declared by `id`, not `ref`")
        return self


class Organisations(Strict):
    organisations: list[Organisation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Organisations:
        ids = [o.id for o in self.organisations]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"机构编号重复：{'、'.join(sorted(dupes))} (organisation ids repeated)")
        return self

    def get(self, organisation_id: str) -> Organisation | None:
        return next((o for o in self.organisations if o.id == organisation_id), None)


# What an agreement may still write beside `ref`: which department coordinates *this* agreement.
_WRITABLE_WITH_REF = {"ref", "coordinator"}


def resolve_refs(data: Any, registry: Organisations | None) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Fill each `ref:` party of a plain agreement mapping from the registry, in place; yield (where, 中文说明)."""
    parties = data.get("parties") if isinstance(data, dict) else None
    if not isinstance(parties, list):
        return
    for i, party in enumerate(parties):
        if not isinstance(party, dict) or party.get("ref") is None:
            continue
        ref = party["ref"]
        if registry is None:
            yield (
                ("parties", i, "ref"),
                f"引用了组织 '{ref}'，但找不到组织名录 {REGISTRY_FILE}（应与协议文件放在同一目录）",
            )
            continue
        org = registry.get(str(ref))
        if org is None:
            yield ("parties", i, "ref"), f"组织名录 {REGISTRY_FILE} 中没有组织 '{ref}' (unknown organisation id)"
            continue
        if "name" in party and party["name"] != org.name:
            yield (
                ("parties", i, "name"),
                f"组织 '{ref}' 在名录中的简称是 '{org.name}'，不能在协议中改写为 '{party['name']}'；"
                "条款中请用名录的简称",
            )
            continue
        extra = sorted(set(party) - _WRITABLE_WITH_REF - {"name"})
        if extra:
            yield (
                ("parties", i, extra[0]),
                f"组织 '{ref}' 的 {', '.join(extra)} 以组织名录为准，协议中只写 ref（可另写 coordinator）",
            )
            continue
        written = org.model_dump(mode="json", exclude_unset=True, exclude={"id", "coordinator"})
        party.update(written)
        party.setdefault("coordinator", org.coordinator)
