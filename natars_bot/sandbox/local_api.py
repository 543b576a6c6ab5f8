"""A local Telegram Bot API server on loopback, strict like Telegram, with chats in memory.

The end-to-end tests (and, later, the offline sandbox) point the real python-telegram-bot stack
at it: `Bot(token, base_url="http://127.0.0.1:PORT/bot")`. It speaks the part of the Bot API
natars-bot uses — getMe, getUpdates with long polling, sendMessage, editMessageText,
editMessageReplyMarkup, answerCallbackQuery, setMyCommands, deleteWebhook, deleteMessage,
sendDocument, sendPhoto — and refuses what Telegram refuses: callback data over 64 bytes, text over
4096 characters, malformed HTML, edits that change nothing, unknown chats.

People are simulated through `user_says()` and `user_presses()`, which queue updates as
Telegram would deliver them.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

__all__ = ["ApiError", "Disconnect", "LocalBotApi", "check_html"]

MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
_ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
     "tg-emoji", "code", "pre", "blockquote"}
)  # fmt: skip
_ENTITIES = frozenset({"lt", "gt", "amp", "quot"})
# Parameters that are text even when they look like JSON ("12" stays the string "12").
TEXT_PARAMS = frozenset(
    {"text", "caption", "parse_mode", "callback_query_id", "description", "url", "language_code",
     "filename", "short_description"}
)  # fmt: skip


class ApiError(Exception):
    """A Bot API error answer: status code and Telegram's description."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after


class Disconnect(Exception):
    """Raised by a fault to drop the connection without an answer (a network failure)."""


class _HtmlChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.plain: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ALLOWED_TAGS:
            raise ApiError(
                400, f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"'
            )
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise ApiError(400, f'Bad Request: can\'t parse entities: Unexpected end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        if "<" in data or "&" in data:
            raise ApiError(400, "Bad Request: can't parse entities: unescaped '<' or '&' in text")
        self.plain.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in _ENTITIES:
            raise ApiError(
                400, f'Bad Request: can\'t parse entities: Unsupported HTML entity "&{name};"'
            )
        self.plain.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.plain.append(html.unescape(f"&#{name};"))


def check_html(text: str) -> str:
    """The plain text of Telegram HTML; ApiError (400) where Telegram would refuse it."""
    checker = _HtmlChecker()
    checker.feed(text)
    checker.close()
    if checker.rawdata:
        raise ApiError(400, "Bad Request: can't parse entities: unescaped '<' or '&' in text")
    if checker.stack:
        raise ApiError(
            400,
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{checker.stack[-1]}"',
        )
    return "".join(checker.plain)


@dataclass
class ChatLog:
    """A chat as the server keeps it: who is in it and every message, by id."""

    chat: dict[str, Any]
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)


class LocalBotApi:
    """The server; `await start()` returns the base URL to give python-telegram-bot."""

    def __init__(self, token: str, *, bot_name: str = "NATARS triage") -> None:
        self.token = token
        self.bot_user = {
            "id": int(token.partition(":")[0]) if token.partition(":")[0].isdigit() else 1,
            "is_bot": True,
            "first_name": bot_name,
            "username": "natars_triage_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.chats: dict[int, ChatLog] = {}
        # The latest calls, for tests to look at; bounded so that a sandbox left running for
        # days does not keep every request it ever answered.
        self.calls: deque[tuple[str, dict[str, Any]]] = deque(maxlen=10_000)
        self.call_counts: Counter[str] = Counter()  # every call ever, by method
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.callback_users: dict[str, int] = {}  # query id → who pressed (the sandbox's toasts)
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # the default scope's
        # every scope's menu: (scope as a sorted tuple of its fields, language code) → names
        self.menus: dict[tuple[tuple[tuple[str, Any], ...], str | None], list[str]] = {}
        self.files: dict[str, bytes] = {}
        self._updates: list[dict[str, Any]] = []
        self.sent_updates: dict[int, dict[str, Any]] = {}
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._query_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self.version = 0  # counts changes, for watchers such as the sandbox page
        self._runner: web.AppRunner | None = None
        # Failure injection for tests: each is called as fault(method, params) before a method
        # runs, and may raise ApiError (e.g. 502, or 429 with retry_after), raise Disconnect, or
        # return a coroutine that sleeps (a slow answer).
        self.faults: list[Callable[[str, dict[str, Any]], Any]] = []
        # Called as observer(method, params) once a method has run (or failed): for drivers
        # that wait for particular replies (natars_bot.sandbox.driver).
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        # Telegram's network round trip, added to every call but getUpdates (whose wait is
        # the long poll's own): loopback answers in microseconds, Telegram in 50–300 ms.
        self.latency_seconds = 0.0

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port); returns the base URL, e.g. http://127.0.0.1:PORT/bot."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self.host = host
        await self._listen(port)
        return f"http://{host}:{self.port}/bot"

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.host, port)
        await self._site.start()
        server = self._site._server  # aiohttp exposes the bound port only here
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else port

    async def go_offline(self) -> None:
        """Stop listening and drop open connections (new ones are refused); chats are kept."""
        await self._site.stop()
        server = self._runner.server if self._runner is not None else None
        for connection in list(getattr(server, "connections", [])):
            connection.force_close()

    async def come_back(self) -> None:
        """Listen again on the same port."""
        await self._listen(self.port)

    async def stop(self) -> None:
        """Stop listening; waiting long polls are answered first."""
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ people

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        """The private chat between `user` and the bot (created on first use)."""
        chat = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
        self.chats.setdefault(user["id"], ChatLog(chat))
        return self.chats[user["id"]].chat

    def group(self, chat_id: int, title: str) -> dict[str, Any]:
        """A group chat the bot is a member of (created on first use); ids are negative."""
        chat = {"id": chat_id, "type": "group", "title": title}
        self.chats.setdefault(chat_id, ChatLog(chat))
        return self.chats[chat_id].chat

    async def user_says(
        self,
        user: dict[str, Any],
        text: str,
        chat_id: int | None = None,
        reply_to: dict[str, Any] | None = None,
    ) -> int:
        """Queue a text message from `user` (commands get their bot_command entity)."""
        chat = self.chats[chat_id].chat if chat_id is not None else self.private_chat(user)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            "text": text,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        self.chats[chat["id"]].messages[message["message_id"]] = message
        return await self._queue({"message": message})

    async def user_sends(self, user: dict[str, Any], content: dict[str, Any]) -> int:
        """Queue a message of another kind from `user` in their private chat: `content` is the
        Message's own fields, e.g. {"sticker": {...}} or {"location": {...}}."""
        chat = self.private_chat(user)
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": user,
            **content,
        }
        self.chats[chat["id"]].messages[message["message_id"]] = message
        return await self._queue({"message": message})

    async def user_presses(self, user: dict[str, Any], message: dict[str, Any], label: str) -> int:
        """Queue a press of the inline button labelled `label` (exactly) under `message`."""
        for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
            for button in row:
                if button["text"] == label:
                    return await self._press(user, message, button["callback_data"])
        labels = [
            b["text"]
            for row in message.get("reply_markup", {}).get("inline_keyboard", [])
            for b in row
        ]
        raise LookupError(
            f"no button {label!r} under message {message['message_id']}; buttons: {labels}"
        )

    async def press_data(self, user: dict[str, Any], message: dict[str, Any], data: str) -> int:
        """Queue a press of the button carrying `data` under `message`."""
        return await self._press(user, message, data)

    async def press_query(self, user: dict[str, Any], message: dict[str, Any], data: str) -> str:
        """Queue a press of the button carrying `data`; returns the callback query's id."""
        query_id = str(next(self._query_ids))
        await self._press(user, message, data, query_id)
        return query_id

    async def _press(
        self, user: dict[str, Any], message: dict[str, Any], data: str, query_id: str = ""
    ) -> int:
        query_id = query_id or str(next(self._query_ids))
        self.callback_answers[query_id] = {}
        self.callback_users[query_id] = int(user["id"])
        query = {
            "id": query_id,
            "from": user,
            "message": message,
            "chat_instance": "1",
            "data": data,
        }
        return await self._queue({"callback_query": query})

    async def _queue(self, payload: dict[str, Any]) -> int:
        update_id = next(self._update_ids)
        self.sent_updates[update_id] = {"update_id": update_id, **payload}
        self._updates.append(self.sent_updates[update_id])
        self.version += 1
        async with self._changed:
            self._changed.notify_all()
        return update_id

    async def redeliver(self, update_id: int) -> None:
        """Deliver an update again, as Telegram does when a bot died before confirming it."""
        self._updates.insert(0, self.sent_updates[update_id])
        async with self._changed:
            self._changed.notify_all()

    # ------------------------------------------------------------------ inspection

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Every message in a chat, oldest first (as currently shown: edits applied)."""
        log = self.chats.get(chat_id)
        return sorted(log.messages.values(), key=lambda m: m["message_id"]) if log else []

    def bot_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat, oldest first."""
        return [m for m in self.messages(chat_id) if m.get("from", {}).get("is_bot")]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds, re-checking after every API call."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by the bot's next getUpdates offset."""
        return len(self._updates)

    # ------------------------------------------------------------------ HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        try:
            result = await self.call(request.match_info["method"], await self._params(request))
        except ApiError as exc:
            body: dict[str, Any] = {
                "ok": False,
                "error_code": exc.code,
                "description": exc.description,
            }
            if exc.retry_after is not None:
                body["parameters"] = {"retry_after": exc.retry_after}
            return web.json_response(body, status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """Run a Bot API method with decoded parameters, as a request over HTTP would: the
        call is recorded, faults apply, observers see it; raises ApiError as Telegram fails.
        (benchmarks/update_cost.py calls it directly, without HTTP.)"""
        self.calls.append((method, params))
        self.call_counts[method] += 1
        if self.latency_seconds and method.lower() != "getupdates":
            await asyncio.sleep(self.latency_seconds)
        try:
            for fault in list(self.faults):
                await _maybe_await(fault(method, params))
            handler = getattr(self, f"_api_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found: method not found")
            return await handler(params)
        finally:
            self.version += 1
            for observe in self.observers:
                observe(method, params)
            async with self._changed:
                self._changed.notify_all()

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            data = await request.json()
            return dict(data) if isinstance(data, dict) else {}
        params: dict[str, Any] = {}
        form = await request.post() if request.can_read_body else request.query
        for name, value in {**request.query, **form}.items():
            if isinstance(value, web.FileField):  # an uploaded file
                params[name] = {"filename": value.filename, "content": value.file.read()}
            elif name in TEXT_PARAMS:
                params[name] = str(value)
            else:
                try:
                    params[name] = json.loads(str(value))
                except ValueError:
                    params[name] = str(value)
        return params

    # ------------------------------------------------------------------ methods

    async def _api_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _api_deletewebhook(self, params: dict[str, Any]) -> bool:
        return True

    async def _api_setmycommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands") or []
        for command in commands:
            if not 1 <= len(command.get("description", "")) <= 256:
                raise ApiError(400, "Bad Request: command description is invalid")
        scope = _scope_key(params.get("scope"))
        if scope == (("type", "default"),):
            self.commands[params.get("language_code")] = commands
        self.menus[(scope, params.get("language_code"))] = [c["command"] for c in commands]
        return True

    async def _api_deletemycommands(self, params: dict[str, Any]) -> bool:
        scope = _scope_key(params.get("scope"))
        if scope == (("type", "default"),):
            self.commands.pop(params.get("language_code"), None)
        self.menus.pop((scope, params.get("language_code")), None)
        return True

    def menu(self, language_code: str | None = None, **scope: Any) -> list[str] | None:
        """The command names published for a scope (`type="chat", chat_id=…`; none: the
        default scope) and language, as Telegram would choose them: None if never set."""
        key = _scope_key(scope or None)
        return self.menus.get((key, language_code))

    async def _api_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        timeout = float(params.get("timeout") or 0)
        if not self._updates and timeout > 0:
            try:
                async with self._changed:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: bool(self._updates)), timeout
                    )
            except TimeoutError:
                return []
        limit = int(params.get("limit") or 100)
        return self._updates[:limit]

    def _chat(self, params: dict[str, Any]) -> ChatLog:
        try:
            return self.chats[int(params["chat_id"])]
        except (KeyError, ValueError, TypeError):
            raise ApiError(400, "Bad Request: chat not found") from None

    def _text(self, params: dict[str, Any], key: str = "text", limit: int = MAX_TEXT) -> str:
        text = str(params.get(key) or "")
        if not text.strip() and key == "text":
            raise ApiError(400, "Bad Request: message text is empty")
        plain = check_html(text) if params.get("parse_mode") == "HTML" else text
        if len(plain) > limit:
            raise ApiError(400, "Bad Request: message is too long")
        return text

    @staticmethod
    def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
        markup = params.get("reply_markup")
        if not markup:
            return None
        for row in markup.get("inline_keyboard", []):
            for button in row:
                data = button.get("callback_data")
                if (
                    data is not None
                    and not 1 <= len(str(data).encode("utf-8")) <= MAX_CALLBACK_DATA
                ):
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                if not button.get("text"):
                    raise ApiError(
                        400, "Bad Request: text buttons are unallowed in the inline keyboard"
                    )
        return dict(markup)

    def _store(self, log: ChatLog, message: dict[str, Any]) -> dict[str, Any]:
        log.messages[message["message_id"]] = message
        return message

    def _new_message(self, log: ChatLog, **content: Any) -> dict[str, Any]:
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": log.chat,
            "from": self.bot_user,
            **{k: v for k, v in content.items() if v is not None},
        }
        return self._store(log, message)

    async def _api_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        log = self._chat(params)
        text = self._text(params)
        markup = self._markup(params)
        extra: dict[str, Any] = {}
        if markup and "inline_keyboard" not in markup:
            # Only inline keyboards come back in a Message; ForceReply and reply keyboards do not.
            extra["requested_markup"] = markup
            markup = None
        reply = params.get("reply_parameters") or {}
        reply_to = log.messages.get(
            int(reply.get("message_id") or params.get("reply_to_message_id") or 0)
        )
        return self._new_message(
            log,
            text=_plain(text, params),
            html=text,
            reply_markup=markup,
            reply_to_message=reply_to,
            **extra,
        )

    def _bot_message(self, params: dict[str, Any]) -> tuple[ChatLog, dict[str, Any]]:
        log = self._chat(params)
        message = log.messages.get(int(params.get("message_id") or 0))
        if message is None or not message.get("from", {}).get("is_bot"):
            raise ApiError(400, "Bad Request: message to edit not found")
        return log, message

    async def _api_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        log, message = self._bot_message(params)
        text = self._text(params)
        markup = self._markup(params)
        if message.get("html") == text and message.get("reply_markup") == markup:
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        updated = {
            **message,
            "text": _plain(text, params),
            "html": text,
            "edit_date": int(time.time()),
        }
        updated.pop("reply_markup", None)
        if markup:
            updated["reply_markup"] = markup
        return self._store(log, updated)

    async def _api_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        log, message = self._bot_message(params)
        markup = self._markup(params)
        if message.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified")
        updated = {**message, "edit_date": int(time.time())}
        updated.pop("reply_markup", None)
        if markup:
            updated["reply_markup"] = markup
        return self._store(log, updated)

    async def _api_deletemessage(self, params: dict[str, Any]) -> bool:
        log, message = self._bot_message(params)
        del log.messages[message["message_id"]]
        return True

    async def _api_answercallbackquery(self, params: dict[str, Any]) -> bool:
        query_id = str(params.get("callback_query_id"))
        if query_id not in self.callback_answers or self.callback_answers[query_id]:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        text = str(params.get("text") or "")
        if len(text) > MAX_CALLBACK_ANSWER:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers[query_id] = {
            "text": text,
            "show_alert": bool(params.get("show_alert")),
            "answered": True,
        }
        return True

    async def _file_message(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        log = self._chat(params)
        upload = params.get(kind)
        if not isinstance(upload, dict):
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        caption = self._text(params, "caption", 1024) if params.get("caption") else None
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = upload["content"]
        meta = {"file_id": file_id, "file_unique_id": file_id, "file_size": len(upload["content"])}
        if kind == "photo":
            content: Any = [{**meta, "width": 1, "height": 1}]
        else:
            content = {**meta, "file_name": upload["filename"]}
        return self._new_message(
            log, **{kind: content}, caption=caption and _plain(caption, params)
        )

    async def _api_senddocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._file_message(params, "document")

    async def _api_sendphoto(self, params: dict[str, Any]) -> dict[str, Any]:
        return await self._file_message(params, "photo")


def _plain(text: str, params: dict[str, Any]) -> str:
    return check_html(text) if params.get("parse_mode") == "HTML" else text


async def _maybe_await(value: Any) -> None:
    if asyncio.iscoroutine(value):
        await value


def _scope_key(scope: object) -> tuple[tuple[str, Any], ...]:
    """A BotCommandScope (as sent: a dict, or its JSON text) as a hashable key."""
    if isinstance(scope, str):
        scope = json.loads(scope)
    if not isinstance(scope, dict):
        return (("type", "default"),)
    return tuple(sorted((str(k), v) for k, v in scope.items()))
