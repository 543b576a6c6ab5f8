"""What the health server counts for Prometheus: updates by kind, handler latency, Bot API
errors by kind, the outbox and referrals by status (prometheus-client, a registry per bot)."""

from __future__ import annotations

import json
import logging

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from telegram import Update

log = logging.getLogger(__name__)


# The statuses the schema allows (natars_bot/store/schema.py): each gets a sample, zero or
# not, so that a dashboard's series do not appear and vanish.
REFERRAL_STATUSES = (
    "draft",
    "screen_failed",
    "cancelled",
    "submitted",
    "more_info",
    "approved",
    "declined",
)


OUTBOX_STATUSES = ("pending", "sent", "uncertain", "failed", "superseded")


# Update kinds, in the order tried; anything else is "other" (the label set stays bounded).
UPDATE_KINDS = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "chat_member",
    "channel_post",
    "inline_query",
)


# Seconds: a handler that only reads answers in milliseconds; one that waits for Telegram
# takes one or two round trips (50–300 ms each); a stuck one hits the 10 s request timeout.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The Prometheus metrics of one application, in a registry of its own (several
    applications in one process, as in the tests, must not share the global registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.updates = Counter(
            "natars_updates",
            "Updates received for handling, by kind",
            ["kind"],
            registry=registry,
        )
        self.latency = Histogram(
            "natars_update_handling_seconds",
            "Time from an update's first handler group to its last, by kind",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.api_errors = Counter(
            "natars_bot_api_errors",
            "Bot API calls that failed, by method and kind of failure",
            ["method", "kind"],
            registry=registry,
        )
        self.last_poll = Gauge(
            "natars_last_get_updates_timestamp_seconds",
            "Unix time of the last successful getUpdates (0: none yet)",
            registry=registry,
        )
        self.outbox = Gauge(
            "natars_outbox_messages",
            "Outbox messages by status (pending is the backlog)",
            ["status"],
            registry=registry,
        )
        self.outbox_oldest = Gauge(
            "natars_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox message (0: none pending)",
            registry=registry,
        )
        self.referrals = Gauge(
            "natars_referrals", "Referrals by status", ["status"], registry=registry
        )
        self.writable = Gauge(
            "natars_database_writable",
            "1 when the database can be written, else 0",
            registry=registry,
        )
        self.healthy = Gauge(
            "natars_healthy", "1 when /healthz answers 200, else 0", registry=registry
        )


def update_kind(update: Update) -> str:
    """The kind of an update, for labels: a command is told from other messages."""
    message = update.message
    if message is not None and message.text is not None and message.text.startswith("/"):
        return "command"
    for kind in UPDATE_KINDS:
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


def error_kind(code: int, payload: bytes) -> str:
    """The kind of failure of a Bot API answer with a non-2xx status, as ptb's BaseRequest
    would raise it (its `_request_wrapper`: response parameters first, then the status)."""
    try:
        answer = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        answer = None
    parameters = answer.get("parameters") if isinstance(answer, dict) else None
    if isinstance(parameters, dict):
        if parameters.get("migrate_to_chat_id"):
            return "chat_migrated"
        if parameters.get("retry_after"):
            return "retry_after"
    if code == 403:
        return "forbidden"
    if code in (401, 404):
        return "invalid_token"
    if code == 400:
        return "bad_request"
    if code == 409:
        return "conflict"  # another getUpdates with the same token, or a webhook is set
    if code >= 500:
        return "server_error"
    return "other"
