"""Waiting for the Bot API at start-up: a bot started before its network (or while Telegram
is down) keeps trying instead of exiting, and a wrong token is one clear line.

ptb's own start-up calls getMe once and raises; run_polling's `bootstrap_retries` covers only
deleteWebhook. So `natars-bot run` calls `wait_for_api` first: getMe with exponential backoff
(1 s doubling up to a minute), each try logged with the Bot API's base URL (never the token),
Telegram's RetryAfter honoured as asked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from telegram import Bot
from telegram.error import InvalidToken, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from natars_bot.bot.delivery import retry_delay
from natars_bot.errors import ConfigError
from natars_bot.settings import Settings

__all__ = ["MAX_WAIT", "wait_for_api"]

log = logging.getLogger(__name__)
MAX_WAIT = 60.0


async def wait_for_api(
    settings: Settings,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    tries: int | None = None,
) -> int:
    """Call getMe until the Bot API answers; returns the number of tries it took.

    ConfigError when the token is refused (no retry can fix that), or after `tries` failed
    tries (None: keep trying until interrupted).
    """
    delay, attempt = 1.0, 0
    while True:
        attempt += 1
        bot = Bot(
            settings.token(),
            base_url=settings.bot_api_url,
            request=HTTPXRequest(read_timeout=settings.request_timeout_seconds),
        )
        try:
            async with bot:  # initialize() is getMe
                if attempt > 1:
                    log.info("the Bot API answered on try %d", attempt)
                return attempt
        except InvalidToken as exc:
            raise ConfigError(
                "NATARS_TELEGRAM_TOKEN was refused by the Bot API: check the token from @BotFather"
            ) from exc
        except RetryAfter as exc:
            wait = retry_delay(exc)
            log.warning("the Bot API asks to wait %.0f s (try %d)", wait, attempt)
        except NetworkError as exc:  # refused, timed out, 5xx
            wait, delay = delay, min(MAX_WAIT, delay * 2)
            log.warning(
                "the Bot API at %s is not reachable (try %d: %s); next try in %.0f s",
                settings.bot_api_url,
                attempt,
                exc.message,
                wait,
            )
        if tries is not None and attempt >= tries:
            raise ConfigError(f"cannot reach the Bot API at {settings.bot_api_url}")
        await sleep(wait)
