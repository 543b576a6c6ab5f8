"""The bot token never appears in a log line, even with httpx logging request URLs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from natars_bot.logs import TokenFilter, configure_logging

from .harness import TOKEN, BotUnderTest


@pytest.fixture
def redacting(caplog: pytest.LogCaptureFixture) -> Iterator[TokenFilter]:
    """configure_logging as `natars-bot run` calls it, undone afterwards."""
    caplog.set_level(logging.DEBUG)
    token_filter = configure_logging(TOKEN, logging.DEBUG)
    caplog.handler.addFilter(token_filter)
    yield token_filter
    for handler in [*logging.getLogger().handlers, caplog.handler]:
        handler.removeFilter(token_filter)
    logging.getLogger("httpx").setLevel(logging.NOTSET)


async def test_httpx_is_quiet_and_the_token_is_redacted(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture, redacting: TokenFilter
) -> None:
    """With httpx forced to log every URL, a whole exchange still shows `[token]` only."""
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("httpx").setLevel(logging.DEBUG)  # worst case: someone turns it back on
    await bot.register(1001)
    surgeon = bot.person(1001)
    await surgeon.says("/new")
    await surgeon.says("S-1")
    logging.getLogger("telegram").exception(
        "a failure", exc_info=RuntimeError(f"url /bot{TOKEN}/x")
    )
    text = caplog.text
    assert "/bot[token]/" in text  # the URLs were logged, redacted
    assert TOKEN not in text
    assert TOKEN.split(":")[1] not in text


def test_the_filter_redacts_arguments_and_tracebacks() -> None:
    """Tokens in %-arguments and in exception text are replaced too."""
    token_filter = TokenFilter("123:abc")
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "GET %s", ("/bot123:abc/getMe",), None
    )
    token_filter.filter(record)
    assert record.getMessage() == "GET /bot[token]/getMe"
    try:
        raise ValueError("/bot123:abc/sendMessage")
    except ValueError as exc:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "boom", (), (ValueError, exc, exc.__traceback__)
        )
    token_filter.filter(record)
    assert "123:abc" not in logging.Formatter().format(record)
