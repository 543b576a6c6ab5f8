"""Times as people read them (reports/times.py): the configured zone, always named."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from natars_bot.reports.times import short_stamp, stamp

SHANGHAI, TOKYO, KOLKATA = (
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("Asia/Tokyo"),
    ZoneInfo("Asia/Kolkata"),
)


def test_stored_utc_is_shown_in_the_zone_with_its_name() -> None:
    assert stamp("2026-12-03T06:05:00+00:00", SHANGHAI) == "2026-12-03 14:05 CST"
    assert stamp("2026-12-03T06:05:00", SHANGHAI) == "2026-12-03 14:05 CST"  # naive is UTC
    assert short_stamp("2026-12-03T23:30:00+00:00", SHANGHAI) == "12-04 07:30 CST"
    assert stamp("2026-12-03T06:05:00+00:00", TOKYO) == "2026-12-03 15:05 JST"
    assert stamp("2026-12-03T06:05:00+00:00", KOLKATA) == "2026-12-03 11:35 IST"
    assert stamp("2026-12-03T06:05:00+00:00", ZoneInfo("UTC")) == "2026-12-03 06:05 UTC"


def test_chinese_readers_read_beijing_time_or_an_offset_never_an_english_abbreviation() -> None:
    assert stamp("2026-12-03T06:05:00+00:00", SHANGHAI, "zh") == "2026-12-03 14:05 北京时间"
    assert stamp("2026-12-03T06:05:00+00:00", TOKYO, "zh") == "2026-12-03 15:05 UTC+9"
    assert short_stamp("2026-12-03T06:05:00+00:00", KOLKATA, "zh") == "12-03 11:35 UTC+5:30"
