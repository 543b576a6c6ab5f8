"""`natars-bot sandbox`: the whole product on a laptop, with no Telegram and no internet.

It starts the local Bot API server (natars_bot/sandbox/local_api.py)
on a free loopback port, the real
bot pointed at it (the same build_application and start-up as `natars-bot run`, with its own
SQLite file), and a web page showing a surgeon's private chat, the MDT group and a coordinator's
chat side by side, with demo users registered on first start.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from natars_bot.bot.app import build_application, shut_down, start_up
from natars_bot.errors import ConfigError
from natars_bot.logs import configure_logging
from natars_bot.sandbox.local_api import LocalBotApi
from natars_bot.settings import Settings
from natars_bot.store import Role, Store

__all__ = ["DEMO_USERS", "MDT_CHAT", "Sandbox", "run_sandbox"]

log = logging.getLogger(__name__)
TOKEN = "424242:sandbox-token"
MDT_CHAT = -100100
SITE = "Peking University First Hospital"


@dataclass(frozen=True)
class DemoUser:
    """A person the sandbox page can act as."""

    telegram_id: int
    name: str
    role: Role
    panel: str  # which panel of the page acts as them: surgeon, mdt or coordinator


DEMO_USERS = (
    DemoUser(1001, "Dr Li", "surgeon", "surgeon"),
    DemoUser(3001, "Dr Chen", "reviewer", "mdt"),
    DemoUser(3002, "Dr Liu", "reviewer", "mdt"),
    DemoUser(3003, "Dr Wang", "reviewer", "mdt"),
    DemoUser(5001, "Ms Zhao", "coordinator", "coordinator"),
)


def _telegram_user(user: DemoUser) -> dict[str, Any]:
    return {"id": user.telegram_id, "is_bot": False, "first_name": user.name, "language_code": "en"}


class Sandbox:
    """The local Bot API server, the bot and the web page, started and stopped together."""

    def __init__(self, database: Path, port: int) -> None:
        self.database = database
        self.port = port
        self.api = LocalBotApi(TOKEN)
        self.application: Any = None
        self._web: web.AppRunner | None = None

    async def start(self) -> str:
        """Start everything; returns the page's URL. ConfigError if the port is taken."""
        base_url = await self.api.start()
        self.api.group(MDT_CHAT, "NATARS MDT (sandbox)")
        for user in DEMO_USERS:
            self.api.private_chat(_telegram_user(user))
        await self._start_page()
        await self._register_demo_users()
        settings = Settings(
            telegram_token=TOKEN,
            bot_api_url=base_url,
            database=self.database,
            mdt_chat_id=MDT_CHAT,
            rate_limit=False,
            outbox_interval_seconds=1.0,
        )
        self.application = build_application(settings)
        await self.application.initialize()
        await start_up(self.application)  # post_init: run_polling is not used here
        await self.application.start()
        await self.application.updater.start_polling(poll_interval=0, timeout=10)
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stop the bot, the page and the server, in that order."""
        if self.application is not None:
            await self.application.updater.stop()
            await self.application.stop()
            await shut_down(self.application)
            await self.application.shutdown()
            self.application = None
        if self._web is not None:
            await self._web.cleanup()
            self._web = None
        await self.api.stop()

    async def _register_demo_users(self) -> None:
        store = await Store.open(self.database)
        try:
            for user in DEMO_USERS:
                if user.role not in await store.roles_of(user.telegram_id):
                    await store.add_user(
                        user.telegram_id, user.role, site=SITE, name=user.name, actor="sandbox"
                    )
        finally:
            await store.close()

    async def _start_page(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/api/state", self._state)
        app.router.add_post("/api/send", self._send)
        app.router.add_post("/api/press", self._press)
        app.router.add_get("/api/files/{file_id}", self._file)
        self._web = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._web.setup()
        site = web.TCPSite(self._web, "127.0.0.1", self.port)
        try:
            await site.start()
        except OSError as exc:
            await self.api.stop()
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {self.port} is taken: try natars-bot sandbox --port {self.port + 10}"
                ) from exc
            raise ConfigError(f"cannot listen on 127.0.0.1:{self.port}: {exc.strerror}") from exc
        if self.port == 0:  # tests ask for any free port
            server = site._server  # aiohttp exposes the bound port only here
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    # ------------------------------------------------------------------ the page's API

    async def _page(self, request: web.Request) -> web.Response:
        page = resources.files("natars_bot.sandbox").joinpath("sandbox.html").read_text("utf-8")
        return web.Response(text=page, content_type="text/html")

    async def _state(self, request: web.Request) -> web.Response:
        """Every chat as the page shows it; with ?after=N, waits (up to 25 s) for a change."""
        after = int(request.query.get("after", "-1"))
        if after >= self.api.version:
            with contextlib.suppress(TimeoutError):
                await self.api.wait_for(lambda: self.api.version > after, timeout=25)
        panels = {
            "surgeon": DEMO_USERS[0].telegram_id,
            "mdt": MDT_CHAT,
            "coordinator": DEMO_USERS[-1].telegram_id,
        }
        return web.json_response(
            {
                "version": self.api.version,
                "users": [
                    {"id": u.telegram_id, "name": u.name, "role": u.role, "panel": u.panel}
                    for u in DEMO_USERS
                ],
                "panels": {
                    name: {
                        "chat_id": chat_id,
                        "messages": [_shown(m) for m in self.api.messages(chat_id)],
                    }
                    for name, chat_id in panels.items()
                },
                # What Telegram shows as a pop-up or toast over the chat (answerCallbackQuery
                # with a text): "already answered", "please read the question first", votes.
                "toasts": [
                    {
                        "id": query_id,
                        "user_id": self.api.callback_users.get(query_id),
                        "text": answer["text"],
                        "alert": answer["show_alert"],
                    }
                    for query_id, answer in self.api.callback_answers.items()
                    if answer.get("text")
                ][-20:],
            }
        )

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = _demo(int(body["user_id"]))
        chat_id = int(body["chat_id"])
        reply_to = None
        if body.get("reply_to"):
            reply_to = self.api.chats[chat_id].messages.get(int(body["reply_to"]))
        text = str(body.get("text", "")).strip()
        if not text:
            raise web.HTTPBadRequest(text="empty message")
        await self.api.user_says(_telegram_user(user), text, chat_id, reply_to=reply_to)
        return web.json_response({"ok": True})

    async def _press(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = _demo(int(body["user_id"]))
        message = self.api.chats[int(body["chat_id"])].messages.get(int(body["message_id"]))
        rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
        row, column = int(body["row"]), int(body["column"])
        if message is None or not (0 <= row < len(rows) and 0 <= column < len(rows[row])):
            # The button is gone (its message was edited since): Telegram's own answer.
            raise web.HTTPBadRequest(text="Bad Request: the button is no longer there")
        button = rows[row][column]
        await self.api.press_data(_telegram_user(user), message, button["callback_data"])
        return web.json_response({"ok": True})

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self.api.files:
            raise web.HTTPNotFound()
        name = request.query.get("name", file_id)
        return web.Response(
            body=self.api.files[file_id],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _demo(user_id: int) -> DemoUser:
    for user in DEMO_USERS:
        if user.telegram_id == user_id:
            return user
    raise web.HTTPBadRequest(text=f"no demo user {user_id}")


def _shown(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the page draws it."""
    sender = message.get("from", {})
    document = message.get("document")
    photo = (message.get("photo") or [None])[-1]
    return {
        "id": message["message_id"],
        "from": sender.get("first_name", ""),
        "from_id": sender.get("id"),
        "bot": bool(sender.get("is_bot")),
        "html": message.get("html"),
        "text": message.get("text") or message.get("caption") or "",
        "edited": "edit_date" in message,
        "buttons": [
            [b["text"] for b in row]
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
        ],
        "reply_to": (message.get("reply_to_message") or {}).get("message_id"),
        "asks_reply": bool((message.get("requested_markup") or {}).get("force_reply")),
        "document": {"file_id": document["file_id"], "name": document["file_name"]}
        if document
        else None,
        "photo": photo["file_id"] if photo else None,
    }


async def run_sandbox(database: Path, port: int) -> None:
    """Run until Ctrl-C (or SIGTERM), then stop everything cleanly."""
    configure_logging(TOKEN, logging.WARNING)
    sandbox = Sandbox(database, port)
    url = await sandbox.start()
    print(
        f"NATARS sandbox: open {url} in a browser (database: {database}). Ctrl-C stops.", flush=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        print("stopping the sandbox…", flush=True)
        await sandbox.stop()
