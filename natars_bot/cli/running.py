"""`natars-bot run` (the bot on Telegram) and `natars-bot sandbox` (the bot with no Telegram)."""

from __future__ import annotations

import argparse
import asyncio

from natars_bot.cli.exits import EXIT_OK
from natars_bot.errors import ConfigError
from natars_bot.logs import configure_logging
from natars_bot.settings import load_settings


def _run(args: argparse.Namespace) -> int:
    """Run the bot until interrupted."""
    from telegram.error import InvalidToken, NetworkError  # noqa: PLC0415 - slow import, run only

    from natars_bot.bot.app import build_application  # noqa: PLC0415
    from natars_bot.bot.startup import wait_for_api  # noqa: PLC0415

    settings = load_settings()
    token = settings.token()
    configure_logging(token, fmt=settings.log_format)
    application = build_application(settings)
    # One event loop for the wait and the bot (run_polling takes the current one).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(wait_for_api(settings))
    except KeyboardInterrupt:
        return EXIT_OK
    try:
        application.run_polling(allowed_updates=["message", "callback_query"])
    except InvalidToken as exc:
        raise ConfigError("NATARS_TELEGRAM_TOKEN was refused by the Bot API") from exc
    except NetworkError as exc:
        raise ConfigError(f"cannot reach the Bot API at {settings.bot_api_url}: {exc}") from exc
    return EXIT_OK


def _sandbox(args: argparse.Namespace) -> int:
    """Run the offline sandbox until Ctrl-C."""
    from natars_bot.sandbox.page import run_sandbox  # noqa: PLC0415 - pulls in ptb and aiohttp

    asyncio.run(run_sandbox(args.database, args.port))
    return EXIT_OK
