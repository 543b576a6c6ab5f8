"""Updates from different chats handled at once; updates from one chat one after another.

With python-telegram-bot's default (`concurrent_updates(False)`) every surgeon waits behind
every other surgeon's Bot API round trips: on Telegram's real latency (~100 ms a call), twenty
surgeons answering at once wait seconds for a reply while the CPU is idle. ptb's own
`SimpleUpdateProcessor` runs updates concurrently but in no order, and within one chat order is
the record: a surgeon's typed answer must be read after the press before it, and votes in the
MDT group must be counted in the order they were cast. So this processor (ptb's documented
extension point, `BaseUpdateProcessor`) keeps one lock per chat: updates of one chat queue on
it, other chats run beside them, at most `max_concurrent_updates` at a time.

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
from telegram.ext import BaseUpdateProcessor

__all__ = ["PerChatUpdateProcessor", "chat_key"]


def chat_key(update: object) -> int:
    """The chat an update belongs to (its sender's id without a chat; 0 for neither)."""
    if isinstance(update, Update):
        if update.effective_chat is not None:
            return update.effective_chat.id
        if update.effective_user is not None:
            return update.effective_user.id
    return 0


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat, at most `max_concurrent_updates`."""

    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}  # updates holding or awaiting each chat's lock

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run `coroutine` (ptb's handling of `update`) once its chat's earlier updates are done.

        ptb hands updates over in the order getUpdates returned them, and asyncio.Lock wakes
        waiters first in, first out, so a chat's updates keep their order.
        """
        key = chat_key(update)
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody else on this chat: forget its lock
                del self._waiting[key]
                del self._locks[key]

    async def initialize(self) -> None:
        """Nothing to set up: the locks are made as chats appear."""

    async def shutdown(self) -> None:
        """Nothing to release: a lock belongs to its chat's updates only while they run."""
