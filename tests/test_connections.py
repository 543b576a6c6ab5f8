"""The Bot API's connection pool (natars_bot/bot/connections.py): it does what httpcore's does —
reuses idle connections, never reuses one the server closed, opens no more than the calls in
flight need — while its bookkeeping per request does not grow with the idle connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpcore
import pytest
from aiohttp import web
from telegram.request import BaseRequest, HTTPXRequest

from natars_bot.bot import connections
from natars_bot.bot.app import build_application
from natars_bot.bot.connections import BotApiTransport, LinearConnectionPool, bot_api_request
from natars_bot.health.monitor import ObservedRequest
from natars_bot.settings import Settings


class Server:
    """An HTTP server on 127.0.0.1 that answers after `delay` and notes each connection."""

    def __init__(self, delay: float, keepalive: float = 75.0) -> None:
        self.delay, self.keepalive = delay, keepalive
        self.peers: set[Any] = set()
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        assert request.transport is not None
        self.peers.add(request.transport.get_extra_info("peername"))
        await asyncio.sleep(self.delay)
        return web.json_response({"ok": True, "result": True})


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[Server]:
    delay, keepalive = getattr(request, "param", (0.0, 75.0))
    instance = Server(delay, keepalive)
    app = web.Application()
    app.router.add_post("/{tail:.*}", instance.handle)
    runner = web.AppRunner(app, keepalive_timeout=keepalive)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    instance.port = runner.addresses[0][1]
    yield instance
    await runner.cleanup()


def _pool(request: BaseRequest) -> LinearConnectionPool:
    if isinstance(request, ObservedRequest):  # the health monitor's wrapper
        request = request.inner
    transport = request._client._transport  # type: ignore[attr-defined]
    assert isinstance(transport, BotApiTransport)
    pool = transport._pool
    assert isinstance(pool, LinearConnectionPool)
    return pool


async def _call(request: HTTPXRequest, server: Server) -> int:
    code, _ = await request.do_request(f"http://127.0.0.1:{server.port}/bot1:x/getMe", "POST")
    return code


@pytest.mark.parametrize("server", [(0.05, 75.0)], indirect=True)
async def test_calls_in_flight_get_a_connection_each_and_later_calls_reuse_them(
    server: Server,
) -> None:
    request = bot_api_request(read_timeout=5, write_timeout=5)
    await request.initialize()
    try:
        codes = await asyncio.gather(*(_call(request, server) for _ in range(40)))
        assert codes == [200] * 40
        opened = len(server.peers)
        assert opened <= 40
        # The same burst again: the idle connections are used, none is opened.
        codes = await asyncio.gather(*(_call(request, server) for _ in range(40)))
        assert codes == [200] * 40
        assert len(server.peers) == opened
    finally:
        await request.shutdown()


async def test_its_bookkeeping_does_not_poll_every_idle_connection_on_every_call(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = bot_api_request(read_timeout=5, write_timeout=5)
    await request.initialize()
    try:
        # 30 idle connections, as after a burst.
        server.delay = 0.05
        await asyncio.gather(*(_call(request, server) for _ in range(30)))
        server.delay = 0.0
        pool = _pool(request)
        assert len(pool.connections) == 30
        polled = 0
        original = httpcore.AsyncHTTPConnection.has_expired

        def counting(self: httpcore.AsyncHTTPConnection) -> bool:
            nonlocal polled
            polled += 1
            return original(self)

        monkeypatch.setattr(httpcore.AsyncHTTPConnection, "has_expired", counting)
        pool.next_sweep = float("inf")  # no sweep in this window: only the reuse check
        for _ in range(10):
            assert await _call(request, server) == 200
        # One check of the connection about to be reused per call (httpcore's own pool polls
        # all 30, twice per call: 600).
        assert polled == 10
        # The sweep still comes, at most once a SWEEP_SECONDS.
        pool.next_sweep = 0.0
        polled = 0
        assert await _call(request, server) == 200
        assert 30 <= polled <= 32
    finally:
        await request.shutdown()


@pytest.mark.parametrize("server", [(0.0, 0.05)], indirect=True)
async def test_a_connection_the_server_closed_is_never_reused(server: Server) -> None:
    request = bot_api_request(read_timeout=5, write_timeout=5)
    await request.initialize()
    try:
        assert await _call(request, server) == 200
        await asyncio.sleep(0.3)  # the server's keep-alive ends: it closes the connection
        _pool(request).next_sweep = float("inf")  # the check before reuse alone must see it
        for _ in range(3):
            assert await _call(request, server) == 200
        assert len(server.peers) == 2
    finally:
        await request.shutdown()


class FakeConnection(httpcore.AsyncConnectionInterface):
    """An HTTP/1.1 connection's state, as the pool asks it."""

    def __init__(self, idle: bool = True) -> None:
        self.idle, self.closed, self.expired = idle, False, False

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return True

    def is_available(self) -> bool:
        return self.idle and not self.closed

    def is_idle(self) -> bool:
        return self.idle

    def is_closed(self) -> bool:
        return self.closed

    def has_expired(self) -> bool:
        return self.expired


def _queued(pool: LinearConnectionPool) -> httpcore._async.connection_pool.AsyncPoolRequest:
    request = httpcore.Request("POST", "http://127.0.0.1:1/bot1:x/getMe")
    pool_request = httpcore._async.connection_pool.AsyncPoolRequest(request)
    pool._requests.append(pool_request)
    return pool_request


async def test_a_connection_handed_to_a_request_is_not_handed_again_nor_closed() -> None:
    pool = LinearConnectionPool(max_connections=1)
    connection = FakeConnection()
    pool._connections = [connection]
    first, second = _queued(pool), _queued(pool)
    assert pool._assign_requests_to_connections() == []
    # The idle connection goes to the first request; the second waits (the pool is full and
    # the only connection is spoken for, though still idle until the first starts on it).
    assert first.connection is connection
    assert second.connection is None
    assert pool._connections == [connection]


async def test_closed_connections_leave_at_once_and_expired_ones_at_the_sweep() -> None:
    pool = LinearConnectionPool(max_connections=4)
    closed, expired, alive = FakeConnection(), FakeConnection(), FakeConnection(idle=False)
    closed.closed, expired.expired = True, True
    pool._connections = [closed, expired, alive]
    pool.next_sweep = float("inf")
    assert pool._assign_requests_to_connections() == []
    assert pool._connections == [expired, alive]
    pool.next_sweep = 0.0
    assert pool._assign_requests_to_connections() == [expired]
    assert pool._connections == [alive]


async def test_surplus_idle_connections_are_closed_beyond_the_keepalive_limit() -> None:
    pool = LinearConnectionPool(max_connections=10, max_keepalive_connections=2)
    idle = [FakeConnection() for _ in range(4)]
    busy = FakeConnection(idle=False)
    pool._connections = [*idle, busy]
    pool.next_sweep = float("inf")
    assert pool._assign_requests_to_connections() == idle[:2]
    assert pool._connections == [*idle[2:], busy]


async def test_an_expired_connection_is_not_handed_out_but_closed() -> None:
    pool = LinearConnectionPool(max_connections=4)
    stale, fresh = FakeConnection(), FakeConnection()
    stale.expired = True
    pool._connections = [stale, fresh]
    pool.next_sweep = float("inf")
    queued = _queued(pool)
    assert pool._assign_requests_to_connections() == [stale]
    assert queued.connection is fresh


def test_with_a_proxy_in_the_environment_it_is_ptbs_request_as_it_comes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert connections.proxies_in_environment()
    request = bot_api_request(read_timeout=5, write_timeout=5)
    assert not isinstance(request._client._transport, BotApiTransport)
    monkeypatch.delenv("HTTPS_PROXY")
    for name in ("HTTP_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert not connections.proxies_in_environment()
    assert isinstance(_pool(bot_api_request(read_timeout=5, write_timeout=5)), LinearConnectionPool)


def test_the_bot_makes_its_calls_through_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(
        telegram_token="1:test",
        bot_api_url="http://127.0.0.1:9/bot",
        database=tmp_path / "natars.sqlite3",
        rate_limit=False,
    )
    application = build_application(settings)
    assert isinstance(_pool(application.bot.request), LinearConnectionPool)
