"""Who may vote where, decided from stored state only: pure, facts in, a refusal (or None) out.

A button's callback data can be forged (any Telegram client can send any bytes as a press on
any message of the bot's it can see), so nothing in the data is trusted beyond *which*
submission and vote it names. A vote counts only when every fact below, read from the
database and from the message Telegram says was pressed, allows it:

- the presser holds the reviewer role now (not when the summary was posted);
- the press comes from the configured MDT chat (not another group, not a private chat);
- the submission is undecided and is the referral's current version;
- the pressed message is the submission's stored summary (or, while its id is not yet known
  after an uncertain post, a message in the MDT chat that carries this very button);
- the presser did not submit the referral themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Refusal", "VoteFacts", "vote_refusal"]


class Refusal(StrEnum):
    """Why a press is not counted; each has its one-line message (`refused_<value>`)."""

    not_reviewer = "not_reviewer"
    wrong_chat = "wrong_chat"
    decided = "decided"
    not_current = "not_current"
    wrong_message = "wrong_message"
    own_referral = "own_referral"


@dataclass(frozen=True, slots=True)
class VoteFacts:
    """What the server knows about one press on a vote button."""

    is_reviewer: bool
    pressed_chat: int | None  # None: Telegram did not say (an inaccessible message)
    pressed_message: int | None
    mdt_chat: int | None  # the configured MDT chat
    decided: bool
    current_version: bool  # the submission is the referral's latest version
    summary_chat: int | None  # where its summary was stored as posted
    summary_message: int | None
    carries_button: bool  # the pressed message's own keyboard holds this very press
    is_submitter: bool


def vote_refusal(facts: VoteFacts) -> Refusal | None:
    """Why this press must not count, or None when it may."""
    if not facts.is_reviewer:
        return Refusal.not_reviewer
    if facts.mdt_chat is None or facts.pressed_chat != facts.mdt_chat:
        return Refusal.wrong_chat
    if facts.decided:
        return Refusal.decided
    if not facts.current_version:
        return Refusal.not_current
    if facts.summary_message is not None:
        if (facts.pressed_chat, facts.pressed_message) != (
            facts.summary_chat,
            facts.summary_message,
        ):
            return Refusal.wrong_message
    elif not facts.carries_button:
        return Refusal.wrong_message
    if facts.is_submitter:
        return Refusal.own_referral
    return None
