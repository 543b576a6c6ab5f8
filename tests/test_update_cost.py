"""benchmarks/update_cost.py measures what it says: a complete referral, the store's real calls."""

from __future__ import annotations

from pathlib import Path

from benchmarks.update_cost import _answers, core, store, telegram_objects
from natars_bot.dialogue import current
from natars_bot.flow import default_flow


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
    natars, echo = telegram_objects(20)
    assert natars > 0
    assert echo > 0
