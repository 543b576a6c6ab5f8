"""The vote authority rule, pure: which stored facts refuse a press, and in which order."""

from __future__ import annotations

from dataclasses import replace

import pytest

from natars_bot.mdt.authority import Refusal, VoteFacts, vote_refusal

MDT = -100
ALLOWED = VoteFacts(
    is_reviewer=True,
    pressed_chat=MDT,
    pressed_message=7,
    mdt_chat=MDT,
    decided=False,
    current_version=True,
    summary_chat=MDT,
    summary_message=7,
    carries_button=True,
    is_submitter=False,
)


def test_a_reviewer_on_the_stored_summary_in_the_mdt_chat_may_vote() -> None:
    """Every fact in order: no refusal."""
    assert vote_refusal(ALLOWED) is None


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"is_reviewer": False}, Refusal.not_reviewer),
        ({"pressed_chat": -200}, Refusal.wrong_chat),
        ({"pressed_chat": 42}, Refusal.wrong_chat),  # a private chat
        ({"pressed_chat": None}, Refusal.wrong_chat),
        ({"mdt_chat": None, "pressed_chat": None}, Refusal.wrong_chat),
        ({"mdt_chat": None}, Refusal.wrong_chat),
        ({"decided": True}, Refusal.decided),
        ({"current_version": False}, Refusal.not_current),
        ({"pressed_message": 8}, Refusal.wrong_message),
        ({"summary_chat": -300}, Refusal.wrong_message),  # posted before a chat migration
        ({"summary_message": None, "carries_button": False}, Refusal.wrong_message),
        ({"is_submitter": True}, Refusal.own_referral),
    ],
)
def test_each_fact_refuses_on_its_own(change: dict[str, object], refusal: Refusal) -> None:
    """One fact changed from the allowed press gives its own refusal."""
    assert vote_refusal(replace(ALLOWED, **change)) is refusal  # type: ignore[arg-type]


def test_an_unknown_summary_message_takes_a_press_that_carries_its_button() -> None:
    """After an uncertain post the message id is unknown: the pressed message in the MDT chat
    whose own keyboard holds this press is accepted (it tells the store its id)."""
    assert vote_refusal(replace(ALLOWED, summary_message=None, summary_chat=None)) is None


def test_a_stranger_is_told_they_are_not_a_reviewer_before_anything_else() -> None:
    """Whatever else is wrong, a non-reviewer hears only that (nothing about the case)."""
    facts = replace(ALLOWED, is_reviewer=False, pressed_chat=-5, decided=True, is_submitter=True)
    assert vote_refusal(facts) is Refusal.not_reviewer


def test_the_chat_is_checked_before_the_case() -> None:
    """A press in another chat learns nothing about whether the case is decided."""
    assert vote_refusal(replace(ALLOWED, pressed_chat=-5, decided=True)) is Refusal.wrong_chat
