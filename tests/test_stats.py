"""Screening statistics: counts from the log, the picture's numbers, /stats and the CLI."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from natars_bot.cli import main
from natars_bot.reports.consort import render_flow
from natars_bot.reports.screening_log import COLUMNS, LogRow
from natars_bot.reports.stats import count_flow, flow_text

from .harness import MDT_CHAT, BotUnderTest, answer_all_until
from .test_e2e_mdt import APPROVE, NOT_ELIGIBLE, _team, submit, vote

COORDINATOR = 5001


def row(**changes: object) -> LogRow:
    """A screening-log row (the latest version of a referral) with some columns set."""
    values: dict[str, object] = dict.fromkeys(COLUMNS, None)
    values.update(
        {"version": 1, "latest": True, "failed": (), "unknown": (), "votes": "", "reasons": ""}
    )
    values.update({"mdt_decision": "not_submitted", **changes})
    return LogRow(**values)  # type: ignore[arg-type]


def test_counts_follow_the_consort_boxes() -> None:
    """Referred = in progress + assessed; assessed = excluded + submitted; per criterion too;
    a referral counts once, by its latest version."""
    rows = [
        row(site="A", status="screen_failed", failed=("EXC-01", "INC-14")),
        row(site="A", status="screen_failed", failed=("EXC-01",)),
        # version 1 of the approved referral: sent back, counted once, by its latest version
        row(site="B", status="approved", mdt_decision="more_info", latest=False),
        row(site="B", status="approved", mdt_decision="approved", version=2),
        row(site="B", status="declined", mdt_decision="declined"),
        row(site="B", status="more_info", mdt_decision="more_info"),
        # back in progress after "need more information": counted with the drafts
        row(site="C", status="draft", mdt_decision="more_info"),
    ]
    overall, sites = count_flow(rows, {"A": 1, "C": 2})
    assert (overall.referred, overall.in_progress, overall.assessed) == (8, 3, 5)
    assert (overall.excluded, overall.submitted) == (2, 3)
    assert dict(overall.excluded_by) == {"EXC-01": 2, "INC-14": 1}
    assert (overall.approved, overall.declined, overall.pending) == (1, 1, 1)
    assert list(sites) == ["A", "B", "C"]
    assert (sites["A"].referred, sites["C"].referred) == (3, 2)
    assert "excluded at pre-screen 2" in flow_text(overall, sites)


def test_the_pictures_numbers_are_the_counts() -> None:
    """Every box of the SVG carries the number counted."""
    overall, sites = count_flow(
        [row(site="A", status="screen_failed", failed=("INC-12",))], {"A": 4}
    )
    svg = render_flow(overall, sites, "svg").decode()
    for box, n in (
        ("Referred", 5),
        ("In progress", 4),
        ("Excluded at pre-screen", 1),
        ("Submitted to the MDT", 0),
    ):
        assert box in svg
        assert f"n = {n}" in svg
    assert "INC-12: 1" in svg
    assert render_flow(overall, sites, "png").startswith(b"\x89PNG")


async def test_stats_from_telegram_and_the_cli_agree(
    bot: BotUnderTest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One approved, one declined, one stopped early, one in progress: /stats and the CLI agree."""
    surgeon, chen, liu = await _team(bot)
    await bot.register(COORDINATOR, role="coordinator")
    summary = await submit(bot, surgeon)
    await vote(bot, chen, APPROVE)
    await vote(bot, liu, APPROVE)
    await bot.server.wait_for(
        lambda: "Decision:" in bot.server.chats[MDT_CHAT].messages[summary["message_id"]]["text"]
    )
    await bot.server.wait_for(lambda: "MDT decision on" in surgeon.last()["text"])
    await submit(bot, surgeon, histology="LMS")
    await vote(bot, chen, NOT_ELIGIBLE, reason="no")
    await vote(bot, liu, NOT_ELIGIBLE, reason="no")
    await bot.server.wait_for(lambda: "Not eligible" in surgeon.last()["text"])
    await surgeon.says("/new")
    await answer_all_until(surgeon, "origin")
    stop = await surgeon.presses("GI tract")
    await surgeon.presses("Stop here", stop)
    await surgeon.says("/new")  # a fourth, in progress
    coordinator = bot.person(COORDINATOR)
    before = len(bot.server.bot_messages(COORDINATOR))
    await coordinator.says("/stats")
    # the picture, then the counts as text (with every criterion named they outgrow a caption)
    picture_message, *counts = bot.server.bot_messages(COORDINATOR)[before:]
    assert picture_message["photo"]
    shown = "\n".join(m["text"] for m in counts)
    assert "referred 4 (in progress 1)" in shown
    assert "submitted to the MDT 2: approved 1, declined 1, pending 0" in shown
    assert re.search(r"EXC-01 \S.*: 1", shown), shown  # named, not a bare id
    monkeypatch.setenv("NATARS_DATABASE", str(bot.database))
    picture = tmp_path / "flow.svg"
    assert await asyncio.to_thread(main, ["stats", "--output", str(picture)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed and all(line.strip() in shown for line in printed if line.strip())
    assert "n = 4" in picture.read_text("utf-8")
    assert await asyncio.to_thread(main, ["stats", "--output", str(tmp_path / "flow.gif")]) == 2
