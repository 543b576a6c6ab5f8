"""The local Bot API server refuses what Telegram refuses, so such bugs show up offline."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import ParseMode
from telegram.error import BadRequest, InvalidToken

from natars_bot.sandbox.local_api import ApiError, LocalBotApi, check_html

from .harness import TOKEN

USER = {"id": 5, "is_bot": False, "first_name": "Dr Zhao"}


@pytest.fixture
async def api() -> AsyncIterator[tuple[LocalBotApi, Bot]]:
    """The server and a plain ptb Bot talking to it."""
    server = LocalBotApi(TOKEN)
    base_url = await server.start()
    server.private_chat(USER)
    bot = Bot(TOKEN, base_url=base_url)
    async with bot:
        yield server, bot
    await server.stop()


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("<b>bold</b> &amp; <i>it</i>", "bold & it"),
        ("a &lt; b", "a < b"),
        ('<a href="http://x">x</a>', "x"),
        ("no markup", "no markup"),
    ],
)
def test_valid_html_is_reduced_to_its_text(text: str, plain: str) -> None:
    """Telegram HTML parses to its plain text (what counts towards 4096)."""
    assert check_html(text) == plain


@pytest.mark.parametrize(
    "text", ["<b>open", "a < b", "x & y", "<div>x</div>", "<b><i>x</b></i>", "&nbsp;"]
)
def test_invalid_html_is_refused(text: str) -> None:
    """Unclosed, crossed or unknown tags, and unescaped < or &, are refused."""
    with pytest.raises(ApiError, match="can't parse entities"):
        check_html(text)


async def test_telegrams_limits_are_enforced(api: tuple[LocalBotApi, Bot]) -> None:
    """Callback data over 64 bytes, text over 4096 characters, bad HTML: 400 as on Telegram."""
    _, bot = api
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(5, "hi", reply_markup=too_long)
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(5, "x" * 4097)
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(5, "<b>x", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
        await bot.send_message(999, "hi")
    await bot.send_message(5, "x" * 4096)


async def test_an_edit_that_changes_nothing_is_refused(api: tuple[LocalBotApi, Bot]) -> None:
    """Like Telegram: "message is not modified"."""
    server, bot = api
    sent = await bot.send_message(5, "<b>hi</b>", parse_mode=ParseMode.HTML)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("<b>hi</b>", 5, sent.message_id, parse_mode=ParseMode.HTML)
    await bot.edit_message_text("<b>hello</b>", 5, sent.message_id, parse_mode=ParseMode.HTML)
    assert server.bot_messages(5)[-1]["text"] == "hello"


async def test_long_polling_returns_updates_and_confirms_them(api: tuple[LocalBotApi, Bot]) -> None:
    """getUpdates waits for an update, and an offset confirms the ones before it."""
    server, bot = api
    assert await bot.get_updates(timeout=0) == ()
    await server.user_says(USER, "/start")
    [update] = await bot.get_updates(timeout=1)
    assert update.message is not None and update.message.text == "/start"
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()


async def test_a_wrong_token_is_unauthorized() -> None:
    """Another token gets 401, which ptb reports as InvalidToken."""
    server = LocalBotApi(TOKEN)
    base_url = await server.start()
    try:
        with pytest.raises(InvalidToken):
            await Bot("1:wrong", base_url=base_url).initialize()
    finally:
        await server.stop()
