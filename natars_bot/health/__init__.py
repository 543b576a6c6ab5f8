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
  that `ApplicationBuilder` has built (its `.request()` slot holds the request that
  `build_application` makes, `bot/connections.py`, and can be set only once). ptb lets protected
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

from natars_bot.health.metrics import error_kind, update_kind
from natars_bot.health.monitor import HealthSettings, Monitor, ObservedRequest, install
from natars_bot.health.snapshot import Snapshot, read_snapshot

__all__ = [
    "HealthSettings",
    "Monitor",
    "ObservedRequest",
    "Snapshot",
    "error_kind",
    "install",
    "read_snapshot",
    "update_kind",
]
