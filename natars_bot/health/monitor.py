"""The Monitor: observes updates and Bot API calls of a running Application and serves
`/healthz` and `/metrics` (see the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    generate_latest,
)
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from telegram import Update
from telegram.error import TimedOut
from telegram.ext import Application, ContextTypes, TypeHandler
from telegram.request import BaseRequest, RequestData

from natars_bot.health.metrics import (
    OUTBOX_STATUSES,
    REFERRAL_STATUSES,
    Metrics,
    error_kind,
    update_kind,
)
from natars_bot.health.snapshot import Snapshot, read_snapshot

log = logging.getLogger(__name__)


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
