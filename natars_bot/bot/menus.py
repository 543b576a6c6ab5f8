"""Each person's "/" menu lists the commands they can use there, in their language.

Telegram picks the menu by scope (BotCommandScope): a user's private chat (`chat` scope, one
per registered person, from their roles), every group (`all_group_chats`: only /help — votes
are buttons, referrals and exports are private) and the default (strangers: /help, /language).
Within a scope Telegram picks by the user's app language: a person who chose a language with
/language gets that one; otherwise the English menu and, for Chinese apps, the Chinese one.

Published for everyone registered at start-up, then kept in step as people change: the person
resolved for each update (people.py) is compared with what their menu was built from, so a
role added or removed by `natars-bot users` from another process, or a new /language, shows
in the menu from that person's next update (published in the background: a menu is a
convenience, never on a reply's critical path).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial

from telegram import (
    BotCommand,
    BotCommandScope,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application

from natars_bot.bot.delivery import retry_delay
from natars_bot.bot.people import Person
from natars_bot.dialogue.wording import Wording
from natars_bot.store import Store

__all__ = ["MENUS", "Menus", "commands_for"]

log = logging.getLogger(__name__)

# The commands each role uses in its private chat with the bot, in menu order.
MENUS: Mapping[str, tuple[str, ...]] = {
    "surgeon": ("new", "status", "cancel"),
    "coordinator": ("cases", "case", "stats", "export"),
    "admin": ("cases", "case", "stats", "export"),
    "reviewer": (),
}
EVERYONE = ("help", "language")
GROUPS = ("help",)


def commands_for(roles: Iterable[str]) -> tuple[str, ...]:
    """A person's private-chat menu: their roles' commands (each once), then /help, /language."""
    names: list[str] = []
    for role in sorted(roles, key=list(MENUS).index):
        names += [name for name in MENUS.get(role, ()) if name not in names]
    return (*names, *EVERYONE)


class Menus:
    """What each person's menu was last published from, and publishing it."""

    def __init__(self, wording: Wording, languages: tuple[str, ...]) -> None:
        self.wording, self.languages = wording, languages
        # telegram id → (command names, the language chosen with /language or None)
        self._published: dict[int, tuple[tuple[str, ...], str | None]] = {}
        self._failed: set[int] = set()  # people whose menu Telegram refused (no chat yet)

    def _commands(self, names: Iterable[str], language: str) -> list[BotCommand]:
        return [
            BotCommand(name, str(self.wording.text(language, f"menu_{name}"))) for name in names
        ]

    async def publish_shared(self, application: Application) -> None:  # type: ignore[type-arg]
        """The default and the groups' menus, in every language."""
        for scope, names in (
            (BotCommandScopeDefault(), EVERYONE),
            (BotCommandScopeAllGroupChats(), GROUPS),
        ):
            await self._set(application, scope, names, None)

    async def publish_all(self, application: Application, store: Store) -> None:  # type: ignore[type-arg]
        """Start-up: the shared menus, then each registered person's (in the background: a
        menu is a convenience, never what the bot waits for to start)."""
        await self.publish_shared(application)
        if application.job_queue is not None:  # runs once the application has started
            application.job_queue.run_once(
                lambda context: self._publish_people(context.application, store), 0, name="menus"
            )

    async def _publish_people(self, application: Application, store: Store) -> None:  # type: ignore[type-arg]
        people: dict[int, list[str]] = {}
        for row in await store.users():
            people.setdefault(row.telegram_id, []).append(row.role)
        for telegram_id, roles in people.items():
            chosen = await store.language_of(telegram_id)
            await self.publish_person(application, telegram_id, roles, chosen)

    def refresh(self, application: Application, person: Person) -> None:  # type: ignore[type-arg]
        """Re-publish `person`'s menu in the background if it was built from other roles or
        another chosen language (noted at once, so that their next update does not too)."""
        if person.telegram_id is None or not self.out_of_date(person):
            return
        names = commands_for(person.roles) if person.roles else ()
        self._published[person.telegram_id] = (names, person.chosen_language)
        application.create_task(
            self.publish_person(
                application, person.telegram_id, person.roles, person.chosen_language
            ),
            name=f"menu-{person.telegram_id}",
        )

    async def publish_person(
        self,
        application: Application,  # type: ignore[type-arg]
        telegram_id: int,
        roles: Iterable[str],
        chosen: str | None,
    ) -> None:
        """One person's private-chat menu (or, with no roles left, back to the default)."""
        roles = tuple(roles)
        names = commands_for(roles) if roles else ()
        self._published[telegram_id] = (names, chosen)
        scope = BotCommandScopeChat(telegram_id)
        bot = application.bot
        try:
            if not names:
                for code in (None, *self.languages[1:]):
                    await _call(partial(bot.delete_my_commands, scope=scope, language_code=code))
                return
            await self._set(application, scope, names, chosen)
        except TelegramError as exc:  # a user who never opened a chat with the bot: 400
            log.info("no menu for user %s: %s", telegram_id, exc)
            # Not again on each of their group updates (the rate limiter's budget is the
            # votes'); again once they write to the bot privately, which proves the chat.
            self._failed.add(telegram_id)

    async def _set(
        self,
        application: Application,  # type: ignore[type-arg]
        scope: BotCommandScope,
        names: Iterable[str],
        chosen: str | None,
    ) -> None:
        bot, names = application.bot, tuple(names)
        if chosen is not None:
            # The person chose a language: that menu whatever their app's language.
            commands = self._commands(names, chosen)
            await _call(partial(bot.set_my_commands, commands, scope=scope))
            for other in self.languages[1:]:
                await _call(partial(bot.delete_my_commands, scope=scope, language_code=other))
            return
        for index, language in enumerate(self.languages):
            code = language if index else None  # the first language is everyone else's
            commands = self._commands(names, language)
            await _call(partial(bot.set_my_commands, commands, scope=scope, language_code=code))

    def out_of_date(self, person: Person) -> bool:
        """Whether `person`'s menu was built from other roles or another chosen language."""
        if person.telegram_id is None:
            return False
        names = commands_for(person.roles) if person.roles else ()
        if person.telegram_id in self._failed:
            if not person.private:
                return False
            self._failed.discard(person.telegram_id)
            return bool(names)
        published = self._published.get(person.telegram_id)
        if published is None:
            return bool(names)  # strangers keep the default menu: nothing to publish
        return published != (names, person.chosen_language)


async def _call(request: Callable[[], Awaitable[bool]]) -> None:
    """A menu call, waiting out Telegram's flood limit a few times (a 429 at start-up must not
    stop the bot); the menu is a convenience, so after that it goes without."""
    for _ in range(3):
        try:
            await request()
            return
        except RetryAfter as exc:
            delay = retry_delay(exc)
            log.warning("Telegram asks to wait %.0f s before the command menu", delay)
            await asyncio.sleep(delay)
        except (TimedOut, NetworkError) as exc:  # BadRequest and Forbidden are answers
            if isinstance(exc, BadRequest):
                raise
            log.warning("a command menu call failed (%s): the bot goes on without it", exc)
            return
    log.warning("a command menu was not published")
