"""What the handlers share: the store, the flow, the protocol and the wording, typed."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from telegram.ext import CallbackContext, ExtBot

from natars_bot.dialogue.flow import Flow
from natars_bot.dialogue.wording import Wording
from natars_bot.mdt.rules import Quorum
from natars_bot.protocol.criteria import Protocol
from natars_bot.store import Store

if TYPE_CHECKING:
    from natars_bot.bot.people import Person

__all__ = ["BotContext", "Services"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    """The bot's collaborators, held in `application.bot_data`."""

    store: Store
    flow: Flow
    protocol: Protocol
    wording: Wording
    mdt_chat_id: int | None = None
    mdt_language: str = "en"
    quorum: Quorum = field(default_factory=Quorum)
    reminder_delay: timedelta = timedelta(hours=48)
    delivery_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    clock: Callable[[], datetime] = _utc_now  # every handler reads the time here
    # Where people read times (NATARS_TIMEZONE); the database and the audit trail stay UTC.
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    # A press that comes sooner than this after its screen appeared is refused: a double tap's
    # second tap lands, at the same spot, on the buttons of the screen the first tap brought.
    read_delay: timedelta = timedelta(seconds=1)
    # referral id → (screen number, when its message reached the chat), for read_delay
    shown_at: dict[int, tuple[int, datetime]] = field(default_factory=dict)
    # referral id → (screen number, question index) of the last press on a checklist or rows
    # screen: the next screen, edited in place, keeps every button where it was, so only a
    # second tap on the *same* item there can be the rest of a double tap (presses.py)
    group_item: dict[int, tuple[int, int]] = field(default_factory=dict)
    # referral id → (screen number, typed text): a screening number that looks like a name,
    # held in memory only until the surgeon confirms it (never stored unconfirmed)
    held: dict[int, tuple[int, str]] = field(default_factory=dict)

    # submission id → the lock its votes are counted under (votes.record_vote): a reason taken
    # in a private chat runs beside the group's presses, and two votes counted from the same
    # ballots at once would each miss the other's (a quorum reached, no decision).
    vote_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary
    )

    def vote_lock(self, submission_id: int) -> asyncio.Lock:
        """The lock a submission's votes are counted under (kept while anyone holds it)."""
        lock = self.vote_locks.get(submission_id)
        if lock is None:
            lock = self.vote_locks[submission_id] = asyncio.Lock()
        return lock

    def local(self, moment: datetime) -> datetime:
        """`moment` (UTC, as stored) in the zone people read times in."""
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(self.zone)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to the shared Services (ptb's ContextTypes)."""

    @property
    def services(self) -> Services:
        """The shared Services, opened by the application's post_init."""
        services = self.bot_data["services"]
        if not isinstance(services, Services):  # pragma: no cover - start_up always sets it
            raise TypeError("bot_data['services'] is not set up")
        return services

    # ptb builds one context per update and hands it to every handler group in turn: the
    # person resolved in group -1 (people.resolve_person) is there for the handler that runs.
    _person: Person | None = None

    @property
    def person(self) -> Person:
        """Who sent the update being handled (resolved once per update, in group -1)."""
        if self._person is None:
            raise RuntimeError("no person resolved for this update (app.py, group -1)")
        return self._person

    @person.setter
    def person(self, person: Person) -> None:
        self._person = person
