"""The screening log: a row per version, typed cells in CSV, XLSX and JSON Lines, local dates,
spreadsheets opened safely, access."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from natars_bot.cli import main
from natars_bot.dialogue.engine import DialogueState, to_referral
from natars_bot.dialogue.flow import default_flow
from natars_bot.protocol.criteria import default_protocol
from natars_bot.protocol.referral import Referral
from natars_bot.reports.exports import utc_bounds, write_log
from natars_bot.reports.screening_log import (
    COLUMNS,
    DICTIONARY,
    LogRow,
    json_line,
    neutralise,
    write_csv,
    write_xlsx,
)
from natars_bot.store import Store

from .harness import MDT_CHAT, BotUnderTest, Person
from .test_cases import seed_two_versions
from .test_e2e_mdt import APPROVE, REVIEWER_1, SURGEON, _team, submit, vote

COORDINATOR = 5001
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _row(**changes: Any) -> LogRow:
    values: dict[str, Any] = {
        "referral_id": "NAT-2026-0001",
        "version": 1,
        "latest": True,
        "site": "Beijing Friendship Hospital",
        "referred_on": date(2026, 12, 3),
        "assessed_on": date(2026, 12, 4),
        "decided_on": None,
        "protocol": "v2",
        "histology": "LMS",
        "grade": None,
        "tumor_size_cm": 9.5,
        "sft_score": None,
        "asa_class": 2,
        "engine_verdict": "ineligible",
        "failed": ("INC-05",),
        "unknown": ("INC-09", "INC-13"),
        "mdt_decision": "not_submitted",
        "votes": "",
        "reasons": "",
        "consent": "signed",
        "status": "screen_failed",
    }
    values.update(changes)
    return LogRow(**values)


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell: str) -> None:
    """Anything a spreadsheet would run as a formula is shown as text."""
    assert neutralise(cell) == "'" + cell


def test_the_data_dictionary_describes_every_column_in_order() -> None:
    """The XLSX's second sheet can never miss or misplace a column."""
    assert tuple(c.name for c in DICTIONARY) == COLUMNS
    assert {c.kind for c in DICTIONARY} <= {"text", "integer", "number", "boolean", "date", "list"}


def test_csv_opens_in_a_spreadsheet_with_chinese_intact() -> None:
    """UTF-8 with BOM, Chinese text intact, injection neutralised, typed cells spelt plainly."""
    buffer = io.BytesIO()
    write_csv([_row(site="北京友谊医院", reasons="=1+1")], buffer)
    data = buffer.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    [row] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(row) == list(COLUMNS)
    assert row["site"] == "北京友谊医院" and row["reasons"] == "'=1+1"
    assert (row["latest"], row["tumor_size_cm"], row["grade"]) == ("TRUE", "9.5", "")
    assert (row["referred_on"], row["unknown"]) == ("2026-12-03", "INC-09 INC-13")


def test_the_xlsx_has_typed_cells_a_frozen_bold_header_a_filter_and_a_dictionary() -> None:
    """Numbers, booleans and dates are cells of those types; the header is bold and frozen,
    filtered, with widths; the second sheet is the data dictionary."""
    buffer = io.BytesIO()
    rows = [_row(), _row(version=2, latest=False, site="=cmd", tumor_size_cm=12.0, failed=())]
    assert write_xlsx(rows, buffer, zone="Asia/Shanghai") == 2
    workbook = openpyxl.load_workbook(io.BytesIO(buffer.getvalue()))
    assert workbook.sheetnames == ["Screening log", "Data dictionary"]
    sheet = workbook["Screening log"]
    header = [c.value for c in sheet[1]]
    assert header == list(COLUMNS)
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{openpyxl.utils.get_column_letter(len(COLUMNS))}3"
    assert sheet.column_dimensions["A"].width == 16
    first = dict(zip(header, (c for c in sheet[2]), strict=True))
    assert first["version"].value == 1 and first["version"].data_type == "n"
    assert first["latest"].value is True and first["latest"].data_type == "b"
    assert first["tumor_size_cm"].value == 9.5
    assert first["asa_class"].value == 2
    assert first["referred_on"].is_date and first["referred_on"].value.date() == date(2026, 12, 3)
    assert first["referred_on"].number_format == "yyyy-mm-dd"
    assert first["decided_on"].value is None and first["grade"].value is None
    assert first["unknown"].value == "INC-09 INC-13"
    second = dict(zip(header, (c.value for c in sheet[3]), strict=True))
    assert (second["latest"], second["site"], second["failed"]) == (False, "'=cmd", None)
    dictionary = workbook["Data dictionary"]
    assert [c.value for c in dictionary[1]] == ["column", "type", "meaning", "values"]
    assert dictionary[1][0].font.bold
    assert [r[0].value for r in dictionary.iter_rows(min_row=2, max_row=len(COLUMNS) + 1)] == list(
        COLUMNS
    )
    assert "Asia/Shanghai" in str(dictionary.cell(len(COLUMNS) + 3, 1).value)


def test_json_lines_carry_json_types() -> None:
    """Numbers, booleans, null and arrays of criterion ids; dates as ISO text."""
    record = json.loads(json_line(_row(referral={"referral_id": "NAT-2026-0001"})))
    assert record["version"] == 1 and record["latest"] is True
    assert record["tumor_size_cm"] == 9.5 and record["asa_class"] == 2
    assert record["grade"] is None and record["decided_on"] is None
    assert record["failed"] == ["INC-05"] and record["unknown"] == ["INC-09", "INC-13"]
    assert record["referred_on"] == "2026-12-03"
    assert record["referral"] == {"referral_id": "NAT-2026-0001"}


def test_local_dates_bound_the_export_in_the_configured_zone() -> None:
    """A local date starts at local midnight: in Shanghai, 3 December begins at 16:00 UTC on
    the 2nd, and --until 3 December ends at 16:00 UTC on the 3rd."""
    assert utc_bounds(date(2026, 12, 3), date(2026, 12, 3), SHANGHAI) == (
        "2026-12-02T16:00:00+00:00",
        "2026-12-03T16:00:00+00:00",
    )
    assert utc_bounds(None, None, SHANGHAI) == (None, None)


async def test_dates_in_the_log_are_local(tmp_path: Path) -> None:
    """A referral opened at 17:00 UTC on 2 December was opened on 3 December in Shanghai: the
    log says 3 December, and --since 2026-12-03 (a Shanghai date) includes it."""
    database = tmp_path / "natars.sqlite3"
    store = await Store.open(database, clock=lambda: datetime(2026, 12, 2, 17, 0, tzinfo=UTC))
    draft = await store.start_referral(100, "Beijing Friendship Hospital")
    await store.close_referral(draft, "screen_failed", actor="t", verdict="ineligible")
    await store.close()
    protocol = default_protocol()
    for zone, since, expected in (
        (SHANGHAI, date(2026, 12, 3), [["2026-12-03", "2026-12-03"]]),
        (ZoneInfo("UTC"), date(2026, 12, 3), []),
        (ZoneInfo("UTC"), date(2026, 12, 2), [["2026-12-02", "2026-12-02"]]),
    ):
        buffer = io.BytesIO()
        write_log(database, protocol, "csv", buffer, zone=zone, since=since)
        rows = list(csv.DictReader(io.StringIO(buffer.getvalue().decode("utf-8-sig"))))
        assert [[r["referred_on"], r["assessed_on"]] for r in rows] == expected, zone


def _files(bot: BotUnderTest, coordinator: Person) -> tuple[bytes, bytes, bytes]:
    """The CSV, XLSX and JSON Lines files of the coordinator's last /export."""
    messages = bot.server.bot_messages(coordinator.chat_id)[-3:]
    csv_data, xlsx_data, json_data = (bot.server.files[m["document"]["file_id"]] for m in messages)
    assert [m["document"]["file_name"].rsplit(".", 1)[1] for m in messages] == [
        "csv",
        "xlsx",
        "jsonl",
    ]
    return csv_data, xlsx_data, json_data


async def test_a_coordinator_exports_the_log_of_real_referrals(bot: BotUnderTest) -> None:
    """After a referral is approved, /export sends CSV, XLSX and JSON Lines with its verdict,
    votes and decision, and never the screening number."""
    surgeon, chen, liu = await _team(bot)
    await bot.register(COORDINATOR, role="coordinator")
    summary = await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await bot.server.wait_for(
        lambda: "Decision:" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
    )
    coordinator = bot.person(COORDINATOR, "Ms Zhao")
    await coordinator.says("/export")
    csv_data, xlsx_data, json_data = _files(bot, coordinator)
    [row] = list(csv.DictReader(io.StringIO(csv_data.decode("utf-8-sig"))))
    assert (row["referral_id"], row["engine_verdict"], row["mdt_decision"]) == (
        "NAT-2026-0001",
        "eligible",
        "approved",
    )
    assert "approve" in row["votes"] and row["histology"] == "UPS" and row["tumor_size_cm"] == "18"
    assert b"PKU-0042" not in csv_data + json_data  # the screening number stays in the database
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_data))["Screening log"]
    assert sheet["A2"].value == "NAT-2026-0001" and sheet.freeze_panes == "A2"
    caption = bot.server.bot_messages(COORDINATOR)[-3]["caption"]
    assert "Screening log: 1 rows" in caption or "Screening log: 1 referrals" in caption


async def test_every_version_is_in_every_export_and_the_json_is_the_referral(
    bot: BotUnderTest,
) -> None:
    """A referral sent back for more information and approved as version 2: /export has both
    versions in CSV, XLSX and JSON Lines, version 1 with its request and reason, only version 2
    latest; each JSON line's `referral` is that version's referral as the model reads it."""
    await bot.register(COORDINATOR, role="coordinator")
    await seed_two_versions(bot.database)
    coordinator = bot.person(COORDINATOR)
    await coordinator.says("/export")
    csv_data, xlsx_data, json_data = _files(bot, coordinator)
    rows = list(csv.DictReader(io.StringIO(csv_data.decode("utf-8-sig"))))
    assert [(r["version"], r["latest"], r["mdt_decision"], r["asa_class"]) for r in rows] == [
        ("1", "FALSE", "more_info", "2"),
        ("2", "TRUE", "approved", "3"),
    ]
    assert "Please confirm the ASA class" in rows[0]["reasons"] and rows[1]["reasons"] == ""
    assert {r["status"] for r in rows} == {"approved"}
    assert [(r["referred_on"], r["assessed_on"]) for r in rows] == [("2026-12-03",) * 2] * 2

    sheet = openpyxl.load_workbook(io.BytesIO(xlsx_data))["Screening log"]
    header = [c.value for c in sheet[1]]
    cells = [dict(zip(header, (c.value for c in r), strict=True)) for r in sheet.iter_rows(2)]
    assert [(c["version"], c["latest"], c["mdt_decision"]) for c in cells] == [
        (1, False, "more_info"),
        (2, True, "approved"),
    ]
    assert isinstance(cells[0]["referred_on"], datetime) and cells[0]["asa_class"] == 2
    assert cells[0]["reasons"] == "Dr Liu: Please confirm the ASA class"

    records = [json.loads(line) for line in json_data.splitlines()]
    assert [(r["version"], r["latest"], r["asa_class"]) for r in records] == [
        (1, False, 2),
        (2, True, 3),
    ]
    store = await Store.open(bot.database)
    try:
        [referral] = await store.referrals_of(1001)
        submissions = await store.submissions_of(referral.id)
    finally:
        await store.close()
    for record, submission in zip(records, submissions, strict=True):
        expected = to_referral(
            default_flow(),
            DialogueState(answers=submission.state.answers),
            referral_id=submission.public_id,
            site=submission.site,
        )
        assert Referral.model_validate(record["referral"]) == expected
        assert "screening_number" not in record["referral"] and "note" not in record["referral"]


async def test_exports_are_refused_to_others_and_in_groups(bot: BotUnderTest) -> None:
    """A surgeon or reviewer asking is refused, as is a coordinator in a group; all audited."""
    surgeon, chen, _ = await _team(bot)
    await bot.register(COORDINATOR, role="coordinator")
    for person in (surgeon, chen):
        reply = await person.says("/export")
        assert "document" not in reply
    coordinator = bot.person(COORDINATOR)
    reply = await coordinator.says("/export", chat_id=MDT_CHAT)
    assert "document" not in reply
    store = await Store.open(bot.database)
    refused = [r for r in await store.audit_rows() if r.action == "export_refused"]
    await store.close()
    assert {r.actor for r in refused} == {str(SURGEON), str(REVIEWER_1), str(COORDINATOR)}


async def test_the_cli_streams_csv_and_json(
    bot: BotUnderTest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """natars-bot export --format csv|json --output FILE from the same database; a date that
    is no date is one line on stderr and exit status 2."""
    surgeon, _, _ = await _team(bot)
    await submit(bot, surgeon)
    monkeypatch.setenv("NATARS_DATABASE", str(bot.database))
    out = tmp_path / "log.csv"
    assert await asyncio.to_thread(main, ["export", "--format", "csv", "--output", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8-sig"))))
    assert [r["mdt_decision"] for r in rows] == ["pending"]
    assert (
        await asyncio.to_thread(main, ["export", "--format", "json", "--since", "2000-01-01"]) == 0
    )
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["referral_id"] == "NAT-2026-0001"
    assert (
        await asyncio.to_thread(main, ["export", "--format", "json", "--until", "2000-01-01"]) == 0
    )
    assert capsys.readouterr().out == ""
    with pytest.raises(SystemExit) as exited:
        await asyncio.to_thread(main, ["export", "--since", "2026-02-30"])
    assert exited.value.code == 2
    assert "not a date YYYY-MM-DD: '2026-02-30'" in capsys.readouterr().err
