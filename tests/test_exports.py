"""The screening log: rows from the dialogue and the MDT, CSV a spreadsheet opens safely, access."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest

from natars_bot.cli import main
from natars_bot.reports.screening_log import COLUMNS, LogRow, neutralise, write_csv
from natars_bot.store import Store

from .harness import MDT_CHAT, BotUnderTest
from .test_e2e_mdt import APPROVE, REVIEWER_1, SURGEON, _team, submit, vote

COORDINATOR = 5001


def _row(**changes: str) -> LogRow:
    values = dict.fromkeys(COLUMNS, "")
    values["version"] = 1  # type: ignore[assignment]
    values.update(changes)
    return LogRow(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_neutralised(cell: str) -> None:
    """Anything a spreadsheet would run as a formula is shown as text."""
    assert neutralise(cell) == "'" + cell


def test_csv_opens_in_a_spreadsheet_with_chinese_intact() -> None:
    """UTF-8 with BOM, Chinese text intact, injection neutralised."""
    buffer = io.BytesIO()
    write_csv([_row(referral_id="NAT-2026-0001", site="北京友谊医院", reasons="=1+1")], buffer)
    data = buffer.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0]["site"] == "北京友谊医院"
    assert rows[0]["reasons"] == "'=1+1"
    assert list(rows[0]) == list(COLUMNS)


async def test_a_coordinator_exports_the_log_of_real_referrals(bot: BotUnderTest) -> None:
    """After a referral is approved, /export sends a CSV with its verdict, votes and decision."""
    surgeon, chen, liu = await _team(bot)
    await bot.register(COORDINATOR, role="coordinator")
    summary = await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await bot.server.wait_for(
        lambda: "Decision:" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
    )
    coordinator = bot.person(COORDINATOR, "Ms Zhao")
    reply = await coordinator.says("/export")
    csv_message, xlsx_message, json_message = bot.server.bot_messages(COORDINATOR)[-3:]
    [record] = [
        json.loads(line)
        for line in bot.server.files[json_message["document"]["file_id"]].splitlines()
    ]
    assert record["referral_id"] == "NAT-2026-0001"
    assert xlsx_message["document"]["file_name"].endswith(".xlsx")
    workbook = openpyxl.load_workbook(
        io.BytesIO(bot.server.files[xlsx_message["document"]["file_id"]])
    )
    sheet = workbook["Screening log"]
    assert [c.value for c in sheet[1]][:3] == ["referral_id", "site", "referred_on"]
    assert sheet["A2"].value == "NAT-2026-0001"
    reply = csv_message
    assert reply["document"]["file_name"].startswith("natars-screening-log-")
    data = bot.server.files[reply["document"]["file_id"]]
    [row] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert (row["referral_id"], row["engine_verdict"], row["mdt_decision"]) == (
        "NAT-2026-0001",
        "eligible",
        "approved",
    )
    assert "approve" in row["votes"] and row["histology"] == "UPS" and row["tumor_size_cm"] == "18"
    assert b"PKU-0042" not in data  # the screening number stays in the database
    assert "Screening log: 1 referrals" in reply["caption"]


async def test_exports_are_refused_to_others_and_in_groups(bot: BotUnderTest) -> None:
    """A surgeon or reviewer asking is refused, as is a coordinator in a group; all audited."""
    surgeon, chen, _ = await _team(bot)
    await bot.register(COORDINATOR, role="coordinator")
    for person in (surgeon, chen):
        reply = await person.says("/export")
        assert "for trial coordinators" in reply["text"] and "document" not in reply
    coordinator = bot.person(COORDINATOR)
    reply = await coordinator.says("/export", chat_id=MDT_CHAT)
    assert "for trial coordinators" in reply["text"]
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
    """natars-bot export --format csv|json --output FILE from the same database."""
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
