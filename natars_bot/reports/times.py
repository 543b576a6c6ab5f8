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

# Mainland China's zones, read by Chinese readers as 北京时间 (Beijing time), not "CST".
_BEIJING = {"Asia/Shanghai", "Asia/Chongqing", "Asia/Chungking", "Asia/Harbin", "PRC"}


def local_moment(moment: str | datetime, zone: ZoneInfo) -> datetime:
    """A stored time (ISO text or datetime, UTC when naive) in `zone`."""
    parsed = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(zone)


def zone_label(moment: datetime, language: str = "en") -> str:
    """The zone of an aware local time, as shown beside it: "CST", or "UTC+8" for a zone
    whose name is only its offset; in Chinese, 北京时间 for China's zone, else the offset (an
    abbreviation such as "CST" is English)."""
    key = getattr(moment.tzinfo, "key", None)
    if language == "zh" and key in _BEIJING:
        return "北京时间"
    name = moment.tzname() or ""
    if language != "zh" and name.isalpha() and name != "UTC":
        return name
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def stamp(moment: str | datetime, zone: ZoneInfo, language: str = "en") -> str:
    """Date and time with the zone: "2026-12-03 14:05 CST" (zh: "… 14:05 北京时间")."""
    local = local_moment(moment, zone)
    return f"{local:%Y-%m-%d %H:%M} {zone_label(local, language)}"


def short_stamp(moment: str | datetime, zone: ZoneInfo, language: str = "en") -> str:
    """Month, day and time with the zone, for lines under a case: "12-03 14:05 CST"."""
    local = local_moment(moment, zone)
    return f"{local:%m-%d %H:%M} {zone_label(local, language)}"
