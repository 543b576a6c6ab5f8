"""benchmarks/update_cost.py measures what it says: a complete referral, the store's real calls."""

from __future__ import annotations

from pathlib import Path

from benchmarks.update_cost import _answers, core, store, telegram_objects, whole_updates
from natars_bot.dialogue.engine import current
from natars_bot.dialogue.flow import default_flow


def test_the_answers_complete_a_referral() -> None:
    """The measured answers end where the dialogue has no question left."""
    states = _answers()
    assert len(states) > 20
    assert current(default_flow(), states[-1]) is None


async def test_each_part_is_measured(tmp_path: Path) -> None:
    """Every part reports a positive CPU time per answer (one round, to stay quick)."""
    states = _answers()
    assert await store(states[:3], tmp_path) > 0
    assert core(states[:3], 1) > 0
    natars, echo = telegram_objects(states[:3], 2)
    assert natars > 0
    assert echo > 0


async def test_whole_updates_replay_the_load_benchmarks_users() -> None:
    """The bots get the same users' updates through python-telegram-bot, without HTTP: three
    complete referrals with their MDT votes, and as many messages and presses for the mimic and
    the echo bot; calls and buttons per update are counted (they are the benchmark's)."""
    whole = await whole_updates(surgeons=3, runs=1)
    natars, mimic, echo = whole["natars"], whole["mimic"], whole["echo"]
    # /new, 17-22 inputs (the checklist and rows screens included), submit, per surgeon; two
    # approvals per submission — every referral reaches the MDT.
    assert natars.submitted == 3
    assert natars.updates > 3 * 17 + 3 * 2
    assert abs(echo.updates - natars.updates) <= 3 * 2  # the same users, to a division's rest
    assert natars.cpu_ms > 0 and echo.cpu_ms > 0
    assert natars.calls > echo.calls >= 1.0  # echo: a reply per message, answer + edit per press
    assert natars.buttons > echo.buttons > 0
    # The mimic makes natars-bot's calls with natars-bot's messages, for the echo bot's load.
    assert mimic.updates == echo.updates
    assert abs(mimic.calls - natars.calls) < 0.15
    assert mimic.buttons > 3 * echo.buttons
