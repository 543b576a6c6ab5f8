"""The one codec for every inline button's callback data: what a press means and which screen
it belongs to.

Telegram gives a button 1–64 bytes of data and returns them verbatim when it is pressed; anyone
can also send any bytes as a forged press. So every button's data is written by `encode` from a
typed press, and every press read by `decode`, which gives back the typed press or None — never
an exception, whatever arrives. Short strings resolved against the database (rather than ptb's
in-memory `arbitrary_callback_data`) so that a button pressed after a restart still works.

The dialogue's presses carry the referral's row id and the *screen number* of the dialogue
state they were shown with (`DialogueState.screen`): a press whose screen is not the current one
changes nothing. MDT votes carry the submission's id, which names one version of a referral.

    a:<referral>:<screen>:<question>:<choice>   answer the question (choice -1: not known yet)
    p:<referral>:<screen>:<option>              pick an option of an answer to confirm (-1: retype)
    b:<referral>:<screen>                       back: undo the last answer, or leave an edit
    e:<referral>:<screen>:<question>            change one answer, from a section's list
    t:<referral>:<screen>:<question>            tick or untick a checklist item
    g:<referral>:<screen>:<1|0>                 confirm a group's screen (checklist 0: "some
                                                not known yet", ask the unticked one by one)
    f:<referral>:<screen>                       a rows screen's shortcut: every row its usual
                                                answer, and confirmed (while no row is chosen)
    n:<referral>:<screen>:<section>             list a section's answers, from the review
    i:<referral>:<screen>:<question>            a row's heading: its question in full (alert)
    v:<referral>:<screen>                       the verdict, from the review
    r:<referral>:<screen>                       back to the review, from the verdict
    s:<referral>:<screen>                       submit to the MDT, from the verdict
    c:<referral>:<screen>                       continue past an exclusion
    x:<referral>:<screen>                       stop at an exclusion
    d:<referral>:<screen>:<1|0>                 discard the referral (1) or keep it (0)
    l:<language>                                the language
    m:<submission>:<vote code>                  an MDT vote
    o:<referral>:<version>                      update a referral the MDT asked more about
    k:<offset>:<status>:<histology>:<site>      a page of /cases
    u:<offset>:<status>:<histology>:<site>:<referral>   one referral of that page, opened
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import ClassVar

__all__ = [
    "MAX_BYTES",
    "Answer",
    "Back",
    "CaseOpen",
    "CasesPage",
    "Continue",
    "Discard",
    "Done",
    "Edit",
    "Info",
    "Language",
    "Pick",
    "Press",
    "Reopen",
    "Review",
    "ScreenPress",
    "Section",
    "Shortcut",
    "Stop",
    "Submit",
    "Toggle",
    "Verdict",
    "Vote",
    "decode",
    "encode",
]

MAX_BYTES = 64  # Telegram's limit on callback data
# Integers are at most 12 digits: Python would read a thousand-digit number, but ids and screen
# numbers never come close, and a forged huge one must not reach SQLite (OverflowError).
_INT = re.compile(r"-?\d{1,12}")
_WORD = re.compile(r"[A-Za-z0-9_\-]{0,24}")


@dataclass(frozen=True, slots=True)
class Press:
    """A decoded button press; subclasses say what it means."""

    code: ClassVar[str]


@dataclass(frozen=True, slots=True)
class ScreenPress(Press):
    """A press in the surgeon's dialogue: on which referral, on which of its screens."""

    referral: int
    screen: int


@dataclass(frozen=True, slots=True)
class Answer(ScreenPress):
    code: ClassVar[str] = "a"
    question: int
    choice: int


@dataclass(frozen=True, slots=True)
class Pick(ScreenPress):
    code: ClassVar[str] = "p"
    option: int


@dataclass(frozen=True, slots=True)
class Back(ScreenPress):
    code: ClassVar[str] = "b"


@dataclass(frozen=True, slots=True)
class Edit(ScreenPress):
    code: ClassVar[str] = "e"
    question: int


@dataclass(frozen=True, slots=True)
class Toggle(ScreenPress):
    code: ClassVar[str] = "t"
    question: int


@dataclass(frozen=True, slots=True)
class Done(ScreenPress):
    code: ClassVar[str] = "g"
    rest_no: bool


@dataclass(frozen=True, slots=True)
class Shortcut(ScreenPress):
    code: ClassVar[str] = "f"


@dataclass(frozen=True, slots=True)
class Section(ScreenPress):
    code: ClassVar[str] = "n"
    section: int


@dataclass(frozen=True, slots=True)
class Info(ScreenPress):
    code: ClassVar[str] = "i"
    question: int


@dataclass(frozen=True, slots=True)
class Verdict(ScreenPress):
    code: ClassVar[str] = "v"


@dataclass(frozen=True, slots=True)
class Review(ScreenPress):
    code: ClassVar[str] = "r"


@dataclass(frozen=True, slots=True)
class Submit(ScreenPress):
    code: ClassVar[str] = "s"


@dataclass(frozen=True, slots=True)
class Continue(ScreenPress):
    code: ClassVar[str] = "c"


@dataclass(frozen=True, slots=True)
class Stop(ScreenPress):
    code: ClassVar[str] = "x"


@dataclass(frozen=True, slots=True)
class Discard(ScreenPress):
    code: ClassVar[str] = "d"
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Language(Press):
    code: ClassVar[str] = "l"
    language: str


@dataclass(frozen=True, slots=True)
class Vote(Press):
    code: ClassVar[str] = "m"
    submission: int
    vote: str


@dataclass(frozen=True, slots=True)
class Reopen(Press):
    code: ClassVar[str] = "o"
    referral: int
    version: int


@dataclass(frozen=True, slots=True)
class CasesPage(Press):
    code: ClassVar[str] = "k"
    offset: int
    status: str
    histology: str
    site: int  # index into the store's sorted sites, -1 for all


@dataclass(frozen=True, slots=True)
class CaseOpen(CasesPage):
    """A referral opened from a page of /cases: it carries the page, for the way back."""

    code: ClassVar[str] = "u"
    referral: int


_KINDS: dict[str, type[Press]] = {
    kind.code: kind
    for kind in (
        Answer, Pick, Back, Edit, Verdict, Review, Submit, Continue, Stop, Discard,
        Toggle, Done, Shortcut, Section, Info, Language, Vote, Reopen, CasesPage, CaseOpen,
    )
}  # fmt: skip


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def encode(press: Press) -> str:
    """The callback data of a button; ValueError if it would not decode back or not fit."""
    data = ":".join([press.code, *(_text(getattr(press, f.name)) for f in fields(press))])
    if len(data.encode()) > MAX_BYTES or decode(data) != press:
        raise ValueError(f"callback data {data!r} does not round-trip within {MAX_BYTES} bytes")
    return data


def decode(data: str | None) -> Press | None:
    """The press a button's data stands for, or None for anything we did not write."""
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    code, *parts = data.split(":")
    kind = _KINDS.get(code)
    if kind is None:
        return None
    specs = fields(kind)
    if len(parts) != len(specs):
        return None
    values: list[object] = []
    for spec, part in zip(specs, parts, strict=True):
        if spec.type in ("int", int):
            if not _INT.fullmatch(part):
                return None
            values.append(int(part))
        elif spec.type in ("bool", bool):
            if part not in ("0", "1"):
                return None
            values.append(part == "1")
        else:
            if not _WORD.fullmatch(part):
                return None
            values.append(part)
    return kind(*values)
