"""寒假 / 暑假 per province: the national season table plus one table per region (省/直辖市). Pure module.

A clause that follows one province's school calendar names it (`recurrence: {season: winter_vacation, region: 四川}`);
a clause without `region` follows the national table (``coop/data/seasons.yaml`` or ``COOP_SEASONS_FILE``). Each
region is one file in the national table's format, named after the region (``coop/data/seasons/四川.yaml``; a
configured folder ``COOP_SEASONS_DIR`` replaces the packaged one). A season a region's file does not define falls back
to the national table. The packaged files say ``shipped_default: true``: dates planned from them are provisional.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from coop.calendar import Season, SeasonCalendar

__all__ = ["DEFAULT_REGIONS", "RegionalSeasons", "regional_seasons"]

DEFAULT_REGIONS: Path = Path(__file__).resolve().parent / "data" / "seasons"
"""The packaged regional tables (重庆, 四川), each flagged as shipped defaults inside the file."""


class RegionalSeasons(SeasonCalendar):
    """The national season table (this object, as a `SeasonCalendar`) and a table per region, read once."""

    def __init__(self, path: Path | None = None, folder: Path | None = None) -> None:
        super().__init__(path)
        self.folder: Path = Path(folder) if folder is not None else DEFAULT_REGIONS
        # Sorted so the order (and the list in messages) does not depend on the file system.
        files = sorted(self.folder.glob("*.yaml")) if self.folder.is_dir() else []
        self.regions: dict[str, SeasonCalendar] = {f.stem: SeasonCalendar(f) for f in files}

    def __repr__(self) -> str:
        return f"RegionalSeasons(path={str(self.path)!r}, folder={str(self.folder)!r})"

    def table(self, region: str | None) -> SeasonCalendar:
        """The region's own table (None → the national one); an unknown region is a ValueError naming the known."""
        if region is None:
            return self
        found = self.regions.get(region)
        if found is None:
            known = "、".join(self.regions) or "（无）"
            raise ValueError(
                f"没有地区“{region}”的寒暑假时段表（{self.folder}）；已有：{known}；不写 region 则按全国缺省表 "
                "(unknown season region)"
            )
        return found

    def season(self, name: str, year: int, region: str | None = None) -> Season:
        """The season ``name`` that starts in ``year``, from ``region``'s table, or the national one when the region
        does not define it (or no region is given)."""
        table = self.table(region)
        if table is not self and name in table.names:
            return table.season(name, year)
        return super().season(name, year)

    def material(self, regions: Iterable[str]) -> bytes:
        """The bytes of the named regions' files (unknown ones skipped), for the plan's calendar fingerprint."""
        out = b""
        for region in sorted(set(regions)):
            table = self.regions.get(region)
            if table is not None:
                out += f"|{region}|".encode() + table.path.read_bytes()
        return out


@lru_cache
def regional_seasons(path: Path | None = None, folder: Path | None = None) -> RegionalSeasons:
    """One table set per (national file, regions folder) and process (``None`` → the packaged defaults)."""
    return RegionalSeasons(path, folder)
