"""Health and metrics of a running bot: `/healthz` and Prometheus `/metrics` on a local port.

`install(application, database)` returns a `Monitor` (also kept in
`application.bot_data["health"]`) whose `start()` and `stop()` the application's post_init and
post_shutdown call. It observes the bot three ways:

- **updates**: a `TypeHandler(Update)` in group -2 (before every other group, including the
  replay check in group -1) counts each update by kind and notes when it arrived; one in group
  100 (after every other group) observes how long all its handlers took. An update that an
  earlier group stops with ApplicationHandlerStop (a replayed update shown its screen again) is
  counted but not timed; its arrival note is pruned later.
- **Bot API calls**: the bot's two request objects (getUpdates' and every other call's) are
  wrapped in `ObservedRequest`, a `BaseRequest` that delegates to the original one. It sees
  each call's HTTP status: a 2xx getUpdates is "the last successful getUpdates", anything else
  is counted as an error by kind, classified the way ptb's `BaseRequest` turns statuses into
  exceptions (`retry_after`, `chat_migrated`, `bad_request`, `forbidden`, `invalid_token`,
  `conflict`, `server_error`, `timed_out`, `network`). The wrapper is put in place by
  assigning the bot's `_request` pair: ptb has no public way to wrap the requests of a bot
  that `ApplicationBuilder` has built (its `.request()` would replace ours, and it refuses to
  be combined with the `.read_timeout()` that `build_application` sets). ptb lets protected
  attributes be set on a frozen bot; tests/test_health.py fails if ptb stops using them.
- **the database**: each request to the server reads it in a worker thread
  (`asyncio.to_thread`) with a connection of its own, opened read-only, so the bot's store
  and its event loop are untouched. Whether the database is *writable* is asked of SQLite
  itself with a second connection that takes the write lock (`BEGIN IMMEDIATE`) and gives it
  back at once, writing nothing: file permissions alone would not show a database locked by
  another process, and permission bits do not bind root.

`/healthz` answers 200 with a JSON body when healthy, and 503 with the same body listing the
`problems` when not: the database cannot be read or written, no getUpdates has succeeded for
`NATARS_HEALTH_POLL_STALE_SECONDS`, or the oldest pending outbox message is older than
`NATARS_HEALTH_OUTBOX_STALE_SECONDS`. Uncertain deliveries (a post that timed out and may have
arrived) are reported but do not make the bot unhealthy: restarting would not settle them.

The server listens on 127.0.0.1:8090 by default (`NATARS_HEALTH_HOST`, `NATARS_HEALTH_PORT`;
`NATARS_HEALTH_ENABLED=false` turns it off). On by default because `natars-bot run` is meant
to be watched (a container's HEALTHCHECK, a Prometheus scrape) and a bot that is not watched
is noticed only by surgeons; on loopback because neither endpoint is for the outside world
(they need no authentication only because nobody else can reach them). In a container the
image sets `NATARS_HEALTH_HOST=0.0.0.0`, and compose publishes the port on the host's loopback.

`python -m natars_bot.health` is the health check's command: it asks `/healthz` on the
configured port and exits 0 when healthy, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from telegram import Update
from telegram.error import TimedOut
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest, RequestData

__all__ = ["HealthSettings", "Monitor", "ObservedRequest", "install", "probe"]

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
# Arrival notes of updates that never reached group 100 are dropped after this long.
ARRIVAL_TTL_SECONDS = 600.0
MONITOR_KEY = "health"


class HealthSettings(BaseSettings):
    """The health server's settings (the same environment and `.env` as the bot's)."""

    model_config = SettingsConfigDict(
        env_prefix="NATARS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    health_enabled: bool = True
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=8090, ge=0, le=65535, description="0: any free port")
    health_poll_stale_seconds: float = Field(
        default=120.0, gt=0, description="unhealthy when no getUpdates succeeded for this long"
    )
    health_outbox_stale_seconds: float = Field(
        default=900.0,
        gt=0,
        # The outbox's retries give up after about 5 minutes of backoff, and Telegram's
        # flood waits are seconds to minutes: a message pending for 15 minutes is stuck.
        description="unhealthy when the oldest pending outbox message is older than this",
    )
    health_database_timeout_seconds: float = Field(
        default=1.0, gt=0, description="how long the checks wait for SQLite's locks"
    )


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


@dataclass
class Snapshot:
    """What the database says, read in a worker thread."""

    outbox: dict[str, int] = field(default_factory=dict)
    oldest_pending: datetime | None = None
    referrals: dict[str, int] = field(default_factory=dict)
    read_error: str | None = None
    write_error: str | None = None


def _connect(database: Path, mode: str, timeout: float) -> sqlite3.Connection:
    """A connection of our own; `mode=ro`/`rw` never creates a missing database file."""
    uri = f"{database.resolve().as_uri()}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


def read_snapshot(database: Path, timeout: float) -> Snapshot:
    """Read the outbox and referral counts, and test that the database takes writes.

    Runs in a worker thread. The read connection is read-only; the write probe takes SQLite's
    write lock and releases it without writing (a rollback of an empty transaction), so it
    can delay the bot's next commit by microseconds and never changes a byte of the data.
    """
    snapshot = Snapshot()
    try:
        connection = _connect(database, "ro", timeout)
        try:
            snapshot.outbox = {
                str(status): int(count)
                for status, count in connection.execute(
                    "SELECT status, COUNT(*) FROM outbox GROUP BY status"
                )
            }
            (oldest,) = connection.execute(
                "SELECT MIN(created_at) FROM outbox WHERE status = 'pending'"
            ).fetchone()
            snapshot.oldest_pending = _instant(oldest) if oldest else None
            snapshot.referrals = {
                str(status): int(count)
                for status, count in connection.execute(
                    "SELECT status, COUNT(*) FROM referrals GROUP BY status"
                )
            }
        finally:
            connection.close()
    except sqlite3.Error as exc:
        snapshot.read_error = str(exc)
    try:
        connection = _connect(database, "rw", timeout)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    except sqlite3.Error as exc:
        snapshot.write_error = str(exc)
    return snapshot


def _instant(text: str) -> datetime:
    """A stored UTC timestamp (ISO 8601, with or without its offset)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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


class ObservedRequest(BaseRequest):
    """A ptb request that delegates to another and tells the monitor how each call went.

    It wraps `do_request`, the documented extension point of `BaseRequest`; ptb's own
    `post()` still parses answers and raises its exceptions on top of it, unchanged.
    """

    __slots__ = ("_inner", "_monitor")

    def __init__(self, inner: BaseRequest, monitor: Monitor) -> None:
        self._inner = inner
        self._monitor = monitor

    @property
    def inner(self) -> BaseRequest:
        """The wrapped request."""
        return self._inner

    @property
    def read_timeout(self) -> float | None:
        """The wrapped request's default read timeout (ptb adds it to getUpdates' timeout)."""
        return self._inner.read_timeout

    async def initialize(self) -> None:
        """Initialize the wrapped request."""
        await self._inner.initialize()

    async def shutdown(self) -> None:
        """Shut the wrapped request down."""
        await self._inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Make the call through the wrapped request, and record its outcome."""
        # The URL is `<base>/bot<token>/<method>`: only its last part is kept (never the
        # token). A GET is a file download, whose path is not a method.
        endpoint = url.rsplit("/", 1)[-1] if method == "POST" else "file"
        try:
            code, payload = await self._inner.do_request(
                url,
                method,
                request_data=request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except TimedOut:
            self._monitor.api_error(endpoint, "timed_out")
            raise
        except Exception:
            # ptb turns every other failure of the HTTP layer into a NetworkError.
            self._monitor.api_error(endpoint, "network")
            raise
        if 200 <= code <= 299:
            if endpoint == "getUpdates":
                self._monitor.polled()
        else:
            self._monitor.api_error(endpoint, error_kind(code, payload))
        return code, payload


class Monitor:
    """The health server of one application, and what it has observed."""

    def __init__(self, database: Path, settings: HealthSettings) -> None:
        self.database = database
        self.settings = settings
        self.metrics = Metrics()
        self.last_poll: float | None = None  # Unix time of the last successful getUpdates
        self.port: int | None = None  # the port listened on, once started
        self._started_at = time.monotonic()
        self._last_poll_monotonic: float | None = None
        self._arrivals: dict[int, tuple[float, str]] = {}
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ observations

    def polled(self) -> None:
        """A getUpdates succeeded."""
        self.last_poll = time.time()
        self._last_poll_monotonic = time.monotonic()
        self.metrics.last_poll.set(self.last_poll)

    def api_error(self, method: str, kind: str) -> None:
        """A Bot API call failed."""
        self.metrics.api_errors.labels(method=method, kind=kind).inc()

    async def on_arrival(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group -2: count the update and note when its handling began."""
        kind = update_kind(update)
        self.metrics.updates.labels(kind=kind).inc()
        now = time.perf_counter()
        if len(self._arrivals) > 1000:
            self._prune(now)
        # Keyed by the object: under concurrent updates several are in flight at once.
        self._arrivals[id(update)] = (now, kind)

    async def on_handled(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Group 100: observe how long the update's handlers took."""
        arrival = self._arrivals.pop(id(update), None)
        if arrival is not None:
            began, kind = arrival
            self.metrics.latency.labels(kind=kind).observe(time.perf_counter() - began)

    def _prune(self, now: float) -> None:
        """Forget arrivals of updates that an earlier group stopped (they never reach 100)."""
        for key, (began, _) in list(self._arrivals.items()):
            if now - began > ARRIVAL_TTL_SECONDS:
                del self._arrivals[key]

    # ------------------------------------------------------------------ the server

    async def start(self) -> None:
        """Listen (post_init). A port that cannot be bound is logged and the bot runs on:
        surgeons matter more than metrics, and the health check then reports the problem."""
        if not self.settings.health_enabled or self._runner is not None:
            return
        self._started_at = time.monotonic()
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.health_host, self.settings.health_port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            log.error(
                "health server: cannot listen on %s:%d (%s); /healthz and /metrics are off",
                self.settings.health_host,
                self.settings.health_port,
                exc.strerror or exc,
            )
            return
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info(
            "health server on http://%s:%d (/healthz, /metrics)",
            self.settings.health_host,
            self.port,
        )

    async def stop(self) -> None:
        """Stop listening (post_shutdown)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def report(self) -> tuple[bool, dict[str, Any]]:
        """Read the database (in a worker thread) and judge: (healthy, the /healthz body)."""
        settings = self.settings
        snapshot = await asyncio.to_thread(
            read_snapshot, self.database, settings.health_database_timeout_seconds
        )
        problems: list[str] = []
        if snapshot.read_error is not None:
            problems.append(f"database cannot be read: {snapshot.read_error}")
        if snapshot.write_error is not None:
            problems.append(f"database not writable: {snapshot.write_error}")
        # Before the first getUpdates, the grace period runs from the server's start.
        since = self._last_poll_monotonic or self._started_at
        quiet = time.monotonic() - since
        if quiet > settings.health_poll_stale_seconds:
            problems.append(f"no successful getUpdates for {quiet:.0f} s")
        oldest_age = None
        if snapshot.oldest_pending is not None:
            oldest_age = max(0.0, (datetime.now(UTC) - snapshot.oldest_pending).total_seconds())
            if oldest_age > settings.health_outbox_stale_seconds:
                problems.append(f"the oldest pending outbox message is {oldest_age:.0f} s old")
        healthy = not problems
        self._set_gauges(snapshot, oldest_age, healthy)
        body: dict[str, Any] = {
            "status": "ok" if healthy else "unhealthy",
            "problems": problems,
            "last_get_updates": (
                datetime.fromtimestamp(self.last_poll, UTC).isoformat(timespec="milliseconds")
                if self.last_poll is not None
                else None
            ),
            "seconds_since_get_updates": (
                round(time.monotonic() - self._last_poll_monotonic, 3)
                if self._last_poll_monotonic is not None
                else None
            ),
            "outbox": {
                "backlog": snapshot.outbox.get("pending", 0),
                "oldest_pending_age_seconds": (
                    round(oldest_age, 3) if oldest_age is not None else None
                ),
                "failed": snapshot.outbox.get("failed", 0),
            },
            "uncertain_deliveries": snapshot.outbox.get("uncertain", 0),
            "database_writable": snapshot.write_error is None,
        }
        return healthy, body

    def _set_gauges(self, snapshot: Snapshot, oldest_age: float | None, healthy: bool) -> None:
        """Bring the database gauges up to date (read at each request, never in between)."""
        metrics = self.metrics
        if snapshot.read_error is None:
            for status in (*OUTBOX_STATUSES, *snapshot.outbox.keys() - set(OUTBOX_STATUSES)):
                metrics.outbox.labels(status=status).set(snapshot.outbox.get(status, 0))
            for status in (*REFERRAL_STATUSES, *snapshot.referrals.keys() - set(REFERRAL_STATUSES)):
                metrics.referrals.labels(status=status).set(snapshot.referrals.get(status, 0))
            metrics.outbox_oldest.set(oldest_age or 0.0)
        metrics.writable.set(1 if snapshot.write_error is None else 0)
        metrics.healthy.set(1 if healthy else 0)

    async def _healthz(self, request: web.Request) -> web.Response:
        healthy, body = await self.report()
        return web.json_response(body, status=200 if healthy else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        await self.report()
        return web.Response(
            body=generate_latest(self.metrics.registry),
            headers={"Content-Type": CONTENT_TYPE_LATEST},
        )


def install(
    application: Application,  # type: ignore[type-arg]
    database: Path,
    settings: HealthSettings | None = None,
) -> Monitor:
    """Observe `application` (before `initialize()`): returns its Monitor, whose `start()`
    and `stop()` post_init and post_shutdown must call. Installing twice returns the first
    Monitor (its settings stay those of the first call)."""
    existing = application.bot_data.get(MONITOR_KEY)
    if isinstance(existing, Monitor):
        return existing
    monitor = Monitor(database, settings or HealthSettings())
    application.bot_data[MONITOR_KEY] = monitor
    application.add_handler(TypeHandler(Update, monitor.on_arrival), group=-2)
    application.add_handler(TypeHandler(Update, monitor.on_handled), group=100)
    bot = application.bot
    # Bot._request is (getUpdates' request, every other call's); see the module docstring.
    polling, calls = bot._request
    bot._request = (ObservedRequest(polling, monitor), ObservedRequest(calls, monitor))
    return monitor


def probe(settings: HealthSettings | None = None, timeout: float = 5.0) -> int:
    """The health check: 0 when `/healthz` answers 200, else 1 (problems on stderr)."""
    settings = settings or HealthSettings()
    host = settings.health_host
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # listening everywhere: ask on loopback
    url = f"http://{host}:{settings.health_port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return 0 if answer.status == 200 else 1
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        try:
            problems = json.loads(body).get("problems", [])
        except (ValueError, AttributeError):
            problems = [body[:200]]
        print(f"unhealthy: {'; '.join(map(str, problems))}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"no answer from {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(probe())
