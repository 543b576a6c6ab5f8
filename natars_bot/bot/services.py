"""What the handlers share: the store, the flow, the protocol and the wording, typed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.ext import CallbackContext, ExtBot

from ..flow import Flow
from ..mdt import Quorum
from ..protocol import Protocol
from ..store import Store
from ..wording import Wording

__all__ = ["BotContext", "Services"]


@dataclass
class Services:
    """The bot's collaborators, held in `application.bot_data`."""

    store: Store
    flow: Flow
    protocol: Protocol
    wording: Wording
    replayed_up_to: int = 0  # updates up to this id were handled before the last start
    mdt_chat_id: int | None = None
    mdt_language: str = "en"
    quorum: Quorum = field(default_factory=Quorum)
    reminder_delay: timedelta = timedelta(hours=48)
    delivery_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """CallbackContext with typed access to the shared Services (ptb's ContextTypes)."""

    @property
    def services(self) -> Services:
        """The shared Services, opened by the application's post_init."""
        services = self.bot_data["services"]
        if not isinstance(services, Services):  # pragma: no cover - start_up always sets it
            raise TypeError("bot_data['services'] is not set up")
        return services
