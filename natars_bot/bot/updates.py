"""Updates from different chats handled at once; updates from one chat one after another.

With python-telegram-bot's default (`concurrent_updates(False)`) every surgeon waits behind
every other surgeon's Bot API round trips: on Telegram's real latency (~100 ms a call), twenty
surgeons answering at once wait seconds for a reply while the CPU is idle. ptb's own
`SimpleUpdateProcessor` runs updates concurrently but in no order, and within one chat order is
the record: a surgeon's typed answer must be read after the press before it, and votes in the
MDT group must be counted in the order they were cast. So this processor (ptb's documented
extension point, `BaseUpdateProcessor`) keeps one lock per chat: updates of one chat queue on
it, other chats run beside them, at most `max_concurrent_updates` at a time.

A handler whose remaining work no longer depends on the chat's order may hand the chat over
(`hand_over`) before it is done: the chat's next update starts then, while this one finishes.
A vote, once committed, waits ~100 ms for Telegram to take its callback answer; holding the
MDT group's queue for that made every reviewer's press wait for the one before it to be
answered (docs/benchmarks.md, 2026-12-04). Updates still *start* in the order they arrived,
so what each does before handing over (a vote's transaction) happens in that order.

What this makes concurrent is safe to share: each of the store's transactions is one call on
aiosqlite's single thread (store/driver.py), so no statement of one update interleaves with
another's transaction, and a commit's fsync runs there while other chats' updates go on; the
outbox worker has its own lock; the in-memory caches are keyed by referral, and a referral's
updates all come from one private chat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

__all__ = ["PerChatUpdateProcessor", "chat_key", "hand_over"]


def chat_key(update: object) -> int:
    """The chat an update belongs to (its sender's id without a chat; 0 for neither)."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return 0


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat, at most `max_concurrent_updates`.

    Each chat's updates form a chain: an update starts once the one before it in its chat has
    passed its turn on, which it does when it ends or when its handler calls `hand_over`.
    """

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        # Per chat, the turn its latest update will pass on (the next update waits for it).
        self._latest: dict[int, asyncio.Future[None]] = {}
        # Per update being handled (by identity: ptb hands the same object to the handlers),
        # the turn it holds.
        self._turns: dict[int, asyncio.Future[None]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run `coroutine` (ptb's handling of `update`) once its chat's earlier update has
        passed its turn on; pass this one's on when it ends (if its handler did not already).

        ptb hands updates over in the order getUpdates returned them, and each chat's updates
        wait for the one before them, so a chat's updates start in that order.
        """
        key = chat_key(update)
        before = self._latest.get(key)
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._latest[key] = turn
        self._turns[id(update)] = turn
        try:
            if before is not None:
                # Not `await before`: cancelling this update must not cancel the turn that
                # the update before it is still to pass on.
                await asyncio.wait((before,))
            await coroutine
        finally:
            self._turns.pop(id(update), None)
            _pass_on(turn, before)
            if self._latest.get(key) is turn:  # nobody after it on this chat: forget the chat
                del self._latest[key]
            close = getattr(coroutine, "close", None)
            if callable(close):  # cancelled before it started: no "never awaited" warning
                close()

    def hand_over(self, update: object) -> None:
        """Let the chat's next update start now; `update` goes on beside it."""
        turn = self._turns.pop(id(update), None)
        if turn is not None and not turn.done():
            turn.set_result(None)

    async def initialize(self) -> None:
        """Nothing to set up: the chains are made as chats appear."""

    async def shutdown(self) -> None:
        """Nothing to release: a chain belongs to its chat's updates only while they run."""


def _pass_on(turn: asyncio.Future[None], before: asyncio.Future[None] | None) -> None:
    """Pass `turn` on, but never ahead of the update before it (cancelled while waiting)."""
    if turn.done():
        return
    if before is None or before.done():
        turn.set_result(None)
    else:
        before.add_done_callback(lambda _: _pass_on(turn, None))


def hand_over(application: Application, update: object) -> None:  # type: ignore[type-arg]
    """From a handler: the rest of `update`'s handling does not depend on its chat's order
    (e.g. a committed vote's callback answer), so the chat's next update may start now.

    Only what comes after the call runs beside the next update: call it once everything that
    must happen in the chat's order is done (committed). Without a PerChatUpdateProcessor
    (updates one at a time) it does nothing.
    """
    processor = application.update_processor
    if isinstance(processor, PerChatUpdateProcessor):
        processor.hand_over(update)
