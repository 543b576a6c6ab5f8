"""The load benchmark's people replayed in one process, without HTTP: each update handed to a
real python-telegram-bot Application at once, each Bot API call answered by the local server's
method directly, and the server's and the simulated people's CPU time kept apart (`_Tally`).
benchmarks.update_cost measures with it; benchmarks.load records natars-bot's screens with it
for the mimic bot.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, MessageHandler
from telegram.ext import filters as ptb_filters
from telegram.request import BaseRequest, RequestData

from benchmarks import echo_bot, mimic_bot, users
from natars_bot.bot.app import build_application, shut_down, start_up
from natars_bot.sandbox.local_api import TEXT_PARAMS, ApiError, LocalBotApi
from natars_bot.settings import Settings


def _buttons(data: Any) -> int:
    """Inline buttons anywhere in a JSON value (what python-telegram-bot builds objects for)."""
    if isinstance(data, dict):
        keyboard = data.get("inline_keyboard")
        own = sum(len(row) for row in keyboard) if isinstance(keyboard, list) else 0
        return own + sum(_buttons(v) for k, v in data.items() if k != "inline_keyboard")
    if isinstance(data, list):
        return sum(_buttons(v) for v in data)
    return 0


@dataclass
class _Tally:
    """What the simulated world did, to be taken out of the bot's CPU time, and counted."""

    world_seconds: float = 0.0  # the server's methods and the simulated users
    calls: int = 0
    buttons: int = 0


class DirectRequest(BaseRequest):
    """python-telegram-bot's network layer replaced by a call of the local server's method.

    Parameters arrive as the server would decode them from the form python-telegram-bot
    posts; the reply is the JSON the server would send. The server's own time is tallied
    separately so that only the bot's time is measured.
    """

    def __init__(self, api: LocalBotApi, tally: _Tally) -> None:
        self.api, self.tally = api, tally

    @property
    def read_timeout(self) -> float | None:
        """No network: nothing to wait for."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Run the method on the server; (status, JSON body) as over HTTP."""
        encoded = request_data.json_parameters if request_data is not None else {}
        started = time.process_time()
        params: dict[str, Any] = {}
        for name, value in encoded.items():
            try:
                params[name] = value if name in TEXT_PARAMS else json.loads(value)
            except ValueError:
                params[name] = value
        endpoint = url.rpartition("/")[2]
        self.tally.calls += 1
        try:
            result = await self.api.call(endpoint, params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status = exc.code
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
        self.tally.buttons += _buttons(result if status == 200 else None)
        encoded_body = json.dumps(body).encode()
        self.tally.world_seconds += time.process_time() - started
        return status, encoded_body


class DirectDriver(users.Driver):
    """The load benchmark's users, each update handed to the Application at once."""

    def __init__(
        self,
        api: LocalBotApi,
        application: Application,  # type: ignore[type-arg]
        run: users.Run,
        tally: _Tally,
    ) -> None:
        self.api, self.application, self.run, self.tally = api, application, run, tally
        self.offset = 0

    async def _deliver(self, chat_id: int) -> list[dict[str, Any]]:
        started = time.process_time()
        pending = await self.api.call("getUpdates", {"offset": self.offset})
        if pending:
            self.offset = pending[-1]["update_id"] + 1
        # As getUpdates would bring them: JSON text, parsed by python-telegram-bot.
        texts = [json.dumps(update) for update in pending]
        self.tally.world_seconds += time.process_time() - started
        for text in texts:
            data = json.loads(text)
            self.tally.buttons += _buttons(data)
            await self.application.process_update(Update.de_json(data, self.application.bot))
            self.run.updates += 1
        started = time.process_time()
        chat = self.api.messages(chat_id)
        self.tally.world_seconds += time.process_time() - started
        return chat

    async def say(
        self, user: dict[str, Any], text: str, chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        """A message from `user`, handled; the chat afterwards."""
        self.run.says += 1
        started = time.process_time()
        await self.api.user_says(user, text, chat_id)
        self.tally.world_seconds += time.process_time() - started
        return await self._deliver(chat_id if chat_id is not None else int(user["id"]))

    async def press(
        self, user: dict[str, Any], chat_id: int, message: dict[str, Any], data: str
    ) -> list[dict[str, Any]]:
        """A press of the button carrying `data`, handled; the chat afterwards."""
        self.run.presses += 1
        started = time.process_time()
        await self.api.press_data(
            user, self.api.chats[chat_id].messages[message["message_id"]], data
        )
        self.tally.world_seconds += time.process_time() - started
        return await self._deliver(chat_id)

    async def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat as shown (after letting the outbox run)."""
        await asyncio.sleep(0.01)
        return self.api.messages(chat_id)


async def replay(
    kind: str,
    folder: Path,
    surgeons: int,
    counts: tuple[int, int, int],
    screens: dict[str, list[dict[str, Any]]] | None = None,
) -> tuple[users.Run, float, _Tally, LocalBotApi]:
    """One replay of the load benchmark's users against one bot (for the mimic: natars-bot's
    recorded `screens`); (run, the bot's CPU seconds, tally, the server with its call log)."""
    api, tally = LocalBotApi(users.TOKEN), _Tally()
    api.group(users.MDT, "MDT")
    application: Application  # type: ignore[type-arg]
    if kind == "natars":
        database = folder / f"replay-{time.monotonic_ns()}.sqlite3"
        await users.register(database, surgeons)
        settings = Settings(
            telegram_token=users.TOKEN,
            database=database,
            mdt_chat_id=users.MDT,
            rate_limit=False,
            outbox_interval_seconds=3600,
            read_delay_seconds=0,  # the benchmark's users press the moment a screen arrives
        )
        application = build_application(settings)
    elif kind == "mimic":
        application = ApplicationBuilder().token(users.TOKEN).concurrent_updates(False).build()
        says, presses, votes = counts
        mimic_bot.build(application, screens or {}, users.MDT, (presses - votes) // surgeons)
    else:
        application = ApplicationBuilder().token(users.TOKEN).concurrent_updates(False).build()
        application.add_handler(MessageHandler(ptb_filters.TEXT, echo_bot.echo))
        application.add_handler(CallbackQueryHandler(echo_bot.pressed))
    request = DirectRequest(api, tally)
    # A seam for this benchmark only: build_application sets timeouts, which ptb's builder
    # refuses to combine with a request object of one's own.
    application.bot._request = (request, request)
    run = users.Run(kind)
    driver = DirectDriver(api, application, run, tally)
    async with application:
        if kind == "natars":
            await start_up(application)
        await application.start()
        tally.world_seconds, tally.calls, tally.buttons = 0.0, 0, 0
        started = time.process_time()
        if kind == "natars":
            rng = random.Random(7)
            for n in range(1, surgeons + 1):
                await users.refer(driver, n, random.Random(rng.random()), 0)
            summaries = await users.wait_for_summaries(driver, run.submitted)
            presses = run.presses
            await users.vote_all(driver, summaries)
            run.votes = run.presses - presses
        else:
            says, presses, votes = counts
            for n in range(1, surgeons + 1):
                await users.echo_load(driver, n, says // surgeons, (presses - votes) // surgeons)
            for reviewer in users.REVIEWERS:
                await users.echo_votes(driver, reviewer, votes // len(users.REVIEWERS))
        await asyncio.sleep(0.05)  # the outbox's last edits
        seconds = time.process_time() - started - tally.world_seconds
        await application.stop()
        if kind == "natars":
            await shut_down(application)
    return run, seconds, tally, api


async def record_natars_screens(folder: Path, surgeons: int = 5) -> dict[str, list[dict[str, Any]]]:
    """natars-bot's messages from a short replay, for the mimic bot."""
    *_, api = await replay("natars", folder, surgeons, (0, 0, 0))
    return mimic_bot.record_screens(list(api.calls))
