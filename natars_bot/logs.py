"""Logging that never shows the bot token.

httpx logs every request URL at INFO, and Bot API URLs contain the token
(`…/bot123:ABC/sendMessage`). The httpx logger is raised to WARNING, and a filter on every root
handler replaces the token, wherever it appears in a record, with `[token]`.
"""

from __future__ import annotations

import logging

__all__ = ["TokenFilter", "configure_logging"]


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


def configure_logging(token: str, level: int = logging.INFO) -> TokenFilter:
    """Log to stderr at `level` with the token redacted; returns the filter (tests add it too)."""
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level, force=False
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    token_filter = TokenFilter(token)
    for handler in logging.getLogger().handlers:
        handler.addFilter(token_filter)
    return token_filter
