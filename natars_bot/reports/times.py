"""Stored times as people read them: in the configured zone (NATARS_TIMEZONE), with the zone
shown, so nobody has to guess whether 14:05 is Beijing or Greenwich time.

Pure. The database and the audit trail keep UTC (ISO 8601 text); only what is shown to people
goes through here. The zone is named by its abbreviation where it has a word for one ("CST",
"CET") and by its offset otherwise ("UTC+8", "UTC+5:30"), since zoneinfo gives some zones
only "+08" as their name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

__all__ = ["local_moment", "short_stamp", "stamp", "zone_label"]


def local_moment(moment: str | datetime, zone: ZoneInfo) -> datetime:
    """A stored time (ISO text or datetime, UTC when naive) in `zone`."""
    parsed = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(zone)


def zone_label(moment: datetime) -> str:
    """The zone of an aware local time, as shown beside it: "CST", or "UTC+8" for a zone
    whose name is only its offset."""
    name = moment.tzname() or ""
    if name.isalpha() and name != "UTC":
        return name
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def stamp(moment: str | datetime, zone: ZoneInfo) -> str:
    """Date and time with the zone: "2026-12-03 14:05 CST"."""
    local = local_moment(moment, zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_label(local)}"


def short_stamp(moment: str | datetime, zone: ZoneInfo) -> str:
    """Month, day and time with the zone, for lines under a case: "12-03 14:05 CST"."""
    local = local_moment(moment, zone)
    return f"{local:%m-%d %H:%M} {zone_label(local)}"
