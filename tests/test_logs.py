"""The bot token never appears in a log line, even with httpx logging request URLs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from natars_bot.logs import JsonFormatter, TokenFilter, configure_logging

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


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The root logger's output after configure_logging(fmt="json"), undone afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.DEBUG)  # basicConfig leaves the level alone once handlers exist
    formatters = {each: each.formatter for each in root.handlers}  # pytest's handlers too
    token_filter = configure_logging(TOKEN, logging.DEBUG, fmt="json")
    yield stream
    for each in root.handlers:
        each.removeFilter(token_filter)
        each.setFormatter(formatters.get(each))
    root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.NOTSET)


def test_json_logs_are_one_object_a_line_without_the_token(json_lines: io.StringIO) -> None:
    """Each record is one JSON line with time, level, logger and message (a traceback under
    `exception`); the token is redacted in messages, %-arguments (httpx's URLs), exception
    text and stack traces."""
    logging.getLogger("httpx").setLevel(logging.INFO)  # httpx logging its request URLs
    logging.getLogger("httpx").info(
        'HTTP Request: %s %s "%s"', "POST", f"http://127.0.0.1/bot{TOKEN}/getUpdates", "200 OK"
    )
    logging.getLogger("natars_bot.bot").warning("two\nlines")
    try:
        raise RuntimeError(f"url /bot{TOKEN}/sendMessage")
    except RuntimeError:
        logging.getLogger("telegram.ext").exception("handler failed")
    logging.getLogger("natars_bot").info("here", stack_info=True)
    text = json_lines.getvalue()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text
    lines = text.splitlines()
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    assert [(r["level"], r["logger"]) for r in records] == [
        ("INFO", "httpx"),
        ("WARNING", "natars_bot.bot"),
        ("ERROR", "telegram.ext"),
        ("INFO", "natars_bot"),
    ]
    assert records[0]["message"] == (
        'HTTP Request: POST http://127.0.0.1/bot[token]/getUpdates "200 OK"'
    )
    assert records[1]["message"] == "two\nlines"
    assert "exception" not in records[1]
    assert records[2]["message"] == "handler failed"
    assert "RuntimeError: url /bot[token]/sendMessage" in records[2]["exception"]
    assert "Traceback" in records[2]["exception"]
    assert "stack" in records[3]
    for record in records:
        moment = datetime.fromisoformat(record["time"])
        assert moment.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


def test_text_remains_the_default_format() -> None:
    """Without fmt, records are plain text lines (no handler gets the JSON formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    token_filter = configure_logging(TOKEN)
    try:
        logging.getLogger("natars_bot").warning("plain %s", TOKEN)
    finally:
        for each in root.handlers:
            each.removeFilter(token_filter)
        root.removeHandler(handler)
        logging.getLogger("httpx").setLevel(logging.NOTSET)
    assert not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    assert stream.getvalue() == "plain [token]\n"
