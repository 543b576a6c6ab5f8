"""The load benchmark's server: natars_bot.sandbox.driver, with a press in a private chat timed
to the screen it brings, not to its callback answer.

    python -m benchmarks.server --port P --token T [--group ID] [--reply-timeout S] [--latency-ms N]

The sandbox driver answers a press once the callback query is answered and the chat has an
edited or new message, whichever comes first. natars-bot answers a surgeon's press at once,
beside its work (presses.py), and shows the next question as a new message while the pressed
one is edited to its record: with Telegram's latency the record's edit often lands first, so
the driver returned the old, buttonless message as the chat's last, and the benchmark's
surgeon, finding no button, gave up (2 of 50 referrals reached the MDT). And the callback
answer says nothing of when the surgeon can read the next question.

Here a press in a private chat (not answered with an alert) is answered once the callback
query is answered *and* the next screen is there: a sendMessage to the chat, or an
editMessageText in it that carries buttons (a screen edited in place). `latency_ms` is the
later of the two, what a surgeon waits for; `answered_ms` the callback answer alone. A press
in a group is answered with its callback answer, as before (a vote's tally follows by the
outbox). Screens without buttons edited in place (Stop, Discard) are never pressed for by the
benchmark's people.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from natars_bot.sandbox.driver import DrivenServer, run_server

__all__ = ["ScreenServer", "is_screen", "main"]


def is_screen(method: str, params: dict[str, Any]) -> bool:
    """Whether a call shows a surgeon their next screen: a new message, or one edited in
    place to a screen with buttons (an answered question's record has none)."""
    if method == "sendMessage":
        return True
    return method == "editMessageText" and bool(params.get("reply_markup"))


class ScreenServer(DrivenServer):
    """DrivenServer whose private presses wait for the next screen (the module says why)."""

    def __init__(self, token: str, reply_timeout: float = 30.0) -> None:
        super().__init__(token, reply_timeout)
        self._screens: list[tuple[float, int]] = []  # (when, chat) of every screen shown
        self._screen_waiters: list[tuple[int, asyncio.Future[float]]] = []
        self.api.observers.append(self._observe_screen)

    def _observe_screen(self, method: str, params: dict[str, Any]) -> None:
        chat = params.get("chat_id")
        if chat is None or not is_screen(method, params):
            return
        at, chat_id = time.perf_counter(), int(chat)
        self._screens.append((at, chat_id))
        waiting = []
        for wanted, future in self._screen_waiters:
            if future.done():
                continue
            if wanted == chat_id:
                future.set_result(at)
            else:
                waiting.append((wanted, future))
        self._screen_waiters = waiting

    async def _next_screen(self, since: int, chat_id: int) -> float:
        """The time of the first screen in `chat_id` after screen number `since`."""
        for at, chat in self._screens[since:]:
            if chat == chat_id:
                return at
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._screen_waiters.append((chat_id, future))
        try:
            return await asyncio.wait_for(future, self.reply_timeout)
        except TimeoutError:
            raise web.HTTPGatewayTimeout() from None

    async def press(self, request: web.Request) -> web.Response:
        """A press: its callback answer and, in a private chat, the next screen."""
        body = await request.json()
        chat_id = int(body["chat_id"])
        message = self.api.chats[chat_id].messages[int(body["message_id"])]
        mark, screens = len(self._replies), len(self._screens)
        started = time.perf_counter()
        query = await self.api.press_query(body["user"], message, str(body["data"]))
        answered = await self._wait(
            mark, lambda r: r.method == "answerCallbackQuery" and r.query == query
        )
        at = answered
        alerted = bool(self.api.callback_answers.get(query, {}).get("show_alert"))
        if chat_id > 0 and not alerted:
            at = max(answered, await self._next_screen(screens, chat_id))
        await asyncio.sleep(0)  # let the handler's last calls land before the driver reads
        return web.json_response(
            {
                "latency_ms": (at - started) * 1000,
                "answered_ms": (answered - started) * 1000,
                "chat": self._chat(chat_id),
            }
        )


def main() -> None:
    """Serve until killed (the sandbox driver's arguments)."""
    run_server(ScreenServer, __doc__.splitlines()[0])


if __name__ == "__main__":
    main()
