"""An HTTP driver for the local Bot API server, for load tests run from another process.

`python -m natars_bot.sandbox.driver --port P --token T`
serves the local Bot API server on 127.0.0.1:P
and, beside it, these endpoints for a driver:

    POST /driver/say    {"user": {...}, "text": "...", "chat_id": optional}
    POST /driver/press  {"user": {...}, "chat_id": N, "message_id": N, "data": "..."}
    GET  /driver/messages/{chat_id}
    GET  /driver/calls          {"sendMessage": N, ...} since the server started

`say` answers once the bot has replied in that chat with sendMessage, `press` once it has
answered the callback query (and, for presses in private chats, edited or sent the next
screen). Each answer carries the latency the server measured: from the moment the update was
available to the bot until that reply arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from aiohttp import web

from natars_bot.sandbox.local_api import LocalBotApi

__all__ = ["DrivenServer", "main"]

log = logging.getLogger("natars_bot.sandbox.driver")


class Reply(NamedTuple):
    """A reply the bot made: when, which method, in which chat, to which callback query."""

    at: float
    method: str
    chat: int | None
    query: str | None


Matcher = Callable[[Reply], bool]
_REPLIES = frozenset({"sendMessage", "editMessageText", "answerCallbackQuery", "sendDocument"})


class DrivenServer:
    """The local server plus the driver's endpoints and reply tracking."""

    def __init__(self, token: str, reply_timeout: float = 30.0) -> None:
        self.api = LocalBotApi(token)
        self.reply_timeout = reply_timeout
        self._replies: list[Reply] = []
        # Each waiting driver call is checked against each new reply once. (Waking every
        # waiter on every reply to rescan the list cost the server more than the bots under
        # test with 50 surgeons waiting, and more for the bot making more calls.)
        self._waiters: list[tuple[Matcher, asyncio.Future[float]]] = []
        self.api.observers.append(self._observe)
        self._runner: web.AppRunner | None = None

    def _observe(self, method: str, params: dict[str, Any]) -> None:
        if method not in _REPLIES:
            return
        chat = params.get("chat_id")
        query = params.get("callback_query_id")
        reply = Reply(
            time.perf_counter(),
            method,
            int(chat) if chat is not None else None,
            str(query) if query is not None else None,
        )
        self._replies.append(reply)
        waiting = []
        for matches, future in self._waiters:
            if future.done():
                continue
            if matches(reply):
                future.set_result(reply.at)
            else:
                waiting.append((matches, future))
        self._waiters = waiting

    async def _wait(self, since: int, matches: Matcher) -> float:
        """The time of the first reply after index `since` that `matches`."""
        for reply in self._replies[since:]:  # already there (no await since: none can slip by)
            if matches(reply):
                return reply.at
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append((matches, future))
        try:
            return await asyncio.wait_for(future, self.reply_timeout)
        except TimeoutError:
            log.warning(
                "no reply within %.0f s after call %d: %s",
                self.reply_timeout,
                since,
                self._replies[since:][-3:],
            )
            raise web.HTTPGatewayTimeout() from None

    async def say(self, request: web.Request) -> web.Response:
        body = await request.json()
        user, chat_id = body["user"], body.get("chat_id")
        target = int(chat_id) if chat_id is not None else int(user["id"])
        mark = len(self._replies)
        started = time.perf_counter()
        await self.api.user_says(user, str(body["text"]), chat_id)
        at = await self._wait(
            mark, lambda r: r.method in ("sendMessage", "sendDocument") and r.chat == target
        )
        await asyncio.sleep(0)  # let the handler's last calls land before the driver reads
        return web.json_response({"latency_ms": (at - started) * 1000, "chat": self._chat(target)})

    async def press(self, request: web.Request) -> web.Response:
        body = await request.json()
        chat_id = int(body["chat_id"])
        message = self.api.chats[chat_id].messages[int(body["message_id"])]
        mark = len(self._replies)
        started = time.perf_counter()
        query = await self.api.press_query(body["user"], message, str(body["data"]))
        at = await self._wait(
            mark, lambda r: r.method == "answerCallbackQuery" and r.query == query
        )
        alerted = bool(self.api.callback_answers.get(query, {}).get("show_alert"))
        if chat_id > 0 and not alerted:  # a private chat: wait for the next screen as well
            await self._wait(
                mark, lambda r: r.method in ("editMessageText", "sendMessage") and r.chat == chat_id
            )
        return web.json_response({"latency_ms": (at - started) * 1000, "chat": self._chat(chat_id)})

    async def calls(self, request: web.Request) -> web.Response:
        """How many times each Bot API method was called so far."""
        return web.json_response(dict(self.api.call_counts))

    async def messages(self, request: web.Request) -> web.Response:
        return web.json_response(self.api.bot_messages(int(request.match_info["chat_id"])))

    def _chat(self, chat_id: int) -> list[dict[str, Any]]:
        return self.api.bot_messages(chat_id)[-3:]

    async def start(self, port: int) -> None:
        """Serve the Bot API server on `port` and the driver endpoints on `port + 1`."""
        await self.api.start(port=port)
        app = web.Application()
        app.router.add_post("/driver/say", self.say)
        app.router.add_post("/driver/press", self.press)
        app.router.add_get("/driver/messages/{chat_id}", self.messages)
        app.router.add_get("/driver/calls", self.calls)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port + 1).start()

    async def stop(self) -> None:
        """Stop both servers."""
        if self._runner is not None:
            await self._runner.cleanup()
        await self.api.stop()

    async def serve(self, port: int) -> None:
        """Start, say "ready" on stdout, and serve until cancelled."""
        await self.start(port)
        print("ready", flush=True)
        await asyncio.Event().wait()


def run_server(server_class: type[DrivenServer], description: str) -> None:
    """Parse the driver's arguments and serve `server_class` until killed (shared by this
    driver and the load benchmark's, benchmarks/server.py)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--group", type=int, action="append", default=[], help="a group chat id")
    parser.add_argument(
        "--reply-timeout", type=float, default=30.0, help="seconds to wait for the bot"
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="added to every Bot API call but getUpdates"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="driver: %(levelname)s %(message)s")
    server = server_class(args.token, args.reply_timeout)
    server.api.latency_seconds = args.latency_ms / 1000
    for chat_id in args.group:
        server.api.group(chat_id, f"group {chat_id}")
    asyncio.run(server.serve(args.port))


def main() -> None:
    """Serve until killed."""
    run_server(DrivenServer, "local Bot API server with a load driver")


if __name__ == "__main__":
    main()
