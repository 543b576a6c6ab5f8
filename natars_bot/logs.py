"""Logging that never shows the bot token, as text lines or JSON lines.

httpx logs every request URL at INFO, and Bot API URLs contain the token
(`…/bot123:ABC/sendMessage`). The httpx logger is raised to WARNING, and a filter on every root
handler replaces the token, wherever it appears in a record, with `[token]`.

`NATARS_LOG_FORMAT=json` makes every record one JSON object on one line (time in UTC, level,
logger, message, and the traceback as `exception`), for journald, Docker and log shippers; the
same filter redacts first, and the JSON formatter replaces the token once more in what it
writes (a stack trace, say, is not something the filter sees).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

__all__ = ["JsonFormatter", "LogFormat", "TokenFilter", "configure_logging"]

LogFormat = Literal["text", "json"]


class TokenFilter(logging.Filter):
    """Replaces the token in a record's message and arguments."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact, then let the record through."""
        if not self._token:
            return True
        message = record.getMessage()
        if self._token in message:
            record.msg = message.replace(self._token, "[token]")
            record.args = None
        if record.exc_info and not record.exc_text:
            # Formatters reuse a record's exc_text; filling it here lets the traceback be redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self._token in record.exc_text:
            record.exc_text = record.exc_text.replace(self._token, "[token]")
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and exception when there is
    one (a newline in any of them is escaped, so a record stays one line)."""

    def __init__(self, token: str = "") -> None:
        super().__init__()
        self._token = token

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line of JSON, with the token replaced."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, ensure_ascii=False)
        return line.replace(self._token, "[token]") if self._token else line


def configure_logging(
    token: str, level: int = logging.INFO, fmt: LogFormat = "text"
) -> TokenFilter:
    """Log to stderr at `level` with the token redacted, as text lines or (`fmt="json"`) JSON
    lines; returns the filter (tests add it too)."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level, force=False
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    token_filter = TokenFilter(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(token_filter)
        if fmt == "json":
            handler.setFormatter(JsonFormatter(token))
    return token_filter
