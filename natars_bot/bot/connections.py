"""The HTTP connections to the Bot API: httpx as python-telegram-bot uses it, with a connection
pool whose bookkeeping does not grow with the square of the connections open.

Why not httpx's own pool as it is. Under Telegram's latency (~100 ms a call) and updates from
different chats handled at once (updates.py), ~100 Bot API calls are in flight together, so
HTTP/1.1 keeps ~100 connections open. httpcore 1.0's `_assign_requests_to_connections`, run
twice per request (when it is queued and when its response is closed), then (1) asks *every*
connection whether it has expired — for an idle one that is a `getpeername` and a `poll` system
call through anyio's attribute dictionary — and (2) for every idle connection counts all
connections again (O(n²)). Profiled in the load benchmark at 100 ms latency with 50 surgeons
(py-spy, docs/benchmarks.md): 47 % of the bot process's samples were in that one method, more
than all of natars-bot's own work. Upstream knows (encode/httpcore#928, #1035: linear
assignment, fewer socket polls; neither released in 1.0.9), so this is a subclass until it is.

What the subclass keeps: the same public pool, the same limits and keep-alive expiry, a closed
connection dropped on every pass, and never an expired or server-closed connection reused —
the connection about to be reused is checked (`has_expired`, the socket poll) just before it
is handed out. What it changes: the sweep that polls every idle connection runs at most once
a `SWEEP_SECONDS` (a dead idle connection is closed up to that much later, or at its reuse);
surplus idle connections are counted once per pass; and a connection already handed to a
request that has not started on it yet is neither given to a second request nor closed under
it (encode/httpcore#1110, which the original pass can do).

The pool is HTTP/1.1 only, as python-telegram-bot uses it by default (no multiplexing). It
overrides a private method of httpcore, so the version is pinned in pyproject.toml
(`httpcore>=1.0.9,<1.1`) and `tests/test_connections.py` exercises it against a real server.
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import httpcore
import httpx
from httpcore import AsyncConnectionInterface
from telegram.request import HTTPXRequest

__all__ = [
    "SWEEP_SECONDS",
    "BotApiTransport",
    "LinearConnectionPool",
    "bot_api_request",
    "proxies_in_environment",
]

SWEEP_SECONDS = 1.0


class LinearConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's pool, assigning requests to connections in time linear in their number."""

    next_sweep = 0.0  # when the next pass polls every idle connection (monotonic seconds)

    def _assign_requests_to_connections(self) -> list[AsyncConnectionInterface]:
        """Drop closed connections, sweep expired ones now and then, hand queued requests a
        connection (reused, new, or made room for); return the connections to close."""
        closing: list[AsyncConnectionInterface] = []
        now = time.monotonic()
        sweep = now >= self.next_sweep
        if sweep:
            self.next_sweep = now + SWEEP_SECONDS
        # Connections handed to a request (started on or not): an HTTP/1.1 connection stays
        # IDLE until its request starts, so idleness alone does not say it is free.
        taken = {id(r.connection) for r in self._requests if r.connection is not None}
        kept: list[AsyncConnectionInterface] = []
        idle = 0
        for connection in self._connections:
            if connection.is_closed():
                continue
            if sweep and id(connection) not in taken and connection.has_expired():
                closing.append(connection)
                continue
            kept.append(connection)
            if id(connection) not in taken and connection.is_idle():
                idle += 1
        surplus = idle - self._max_keepalive_connections
        if surplus > 0:
            for connection in [c for c in kept if id(c) not in taken and c.is_idle()][:surplus]:
                kept.remove(connection)
                closing.append(connection)
        self._connections = kept

        for pool_request in self._requests:
            if not pool_request.is_queued():
                continue
            origin = pool_request.request.url.origin
            reused = self._reusable(origin, taken, closing)
            if reused is not None:
                connection = reused
            else:
                if len(self._connections) >= self._max_connections:
                    spare = next(
                        (c for c in self._connections if id(c) not in taken and c.is_idle()),
                        None,
                    )
                    if spare is None:
                        continue  # it waits for a connection to be released
                    self._connections.remove(spare)
                    closing.append(spare)
                connection = self.create_connection(origin)
                self._connections.append(connection)
            pool_request.assign_to_connection(connection)
            taken.add(id(connection))
        return closing

    def _reusable(
        self,
        origin: httpcore.Origin,
        taken: set[int],
        closing: list[AsyncConnectionInterface],
    ) -> AsyncConnectionInterface | None:
        """A free connection to `origin` that is still alive; expired ones found on the way
        are moved to `closing`."""
        for connection in list(self._connections):
            if id(connection) in taken:
                continue
            if not (connection.can_handle_request(origin) and connection.is_available()):
                continue
            if connection.is_idle() and connection.has_expired():
                self._connections.remove(connection)
                closing.append(connection)
                continue
            return connection
        return None


class BotApiTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with `LinearConnectionPool` in place of httpcore's pool."""

    def __init__(self, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # httpx builds its pool in __init__ with no way to choose its class: rebuilt here
        # with the same arguments httpx gives it (no proxy, HTTP/1.1).
        self._pool = LinearConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
        )


def bot_api_request(
    *, read_timeout: float, write_timeout: float, connection_pool_size: int = 256
) -> HTTPXRequest:
    """python-telegram-bot's HTTPXRequest with its defaults (256 connections, no limit on
    idle ones, 5 s keep-alive) on `BotApiTransport`.

    With a proxy in the environment (HTTPS_PROXY, ALL_PROXY …) it is ptb's HTTPXRequest as it
    comes: httpx honours those variables only when it builds its own transport, and a
    hospital network's proxy matters more than the pool's bookkeeping.
    """
    if proxies_in_environment():
        return HTTPXRequest(
            connection_pool_size=connection_pool_size,
            read_timeout=read_timeout,
            write_timeout=write_timeout,
        )
    limits = httpx.Limits(max_connections=connection_pool_size, max_keepalive_connections=None)
    kwargs: dict[str, Any] = {"transport": BotApiTransport(limits=limits)}
    return HTTPXRequest(
        connection_pool_size=connection_pool_size,
        read_timeout=read_timeout,
        write_timeout=write_timeout,
        httpx_kwargs=kwargs,
    )


def proxies_in_environment() -> bool:
    """Whether a proxy variable is set (NO_PROXY alone is not a proxy)."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())
