"""An outbox no row can block: a moved MDT chat (ChatMigrated), refusals and errors of every
kind end with that row alone marked, the admins told, and the other rows delivered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from natars_bot.bot import delivery
from natars_bot.bot.callbacks import Vote, encode
from natars_bot.dialogue.engine import DialogueState
from natars_bot.sandbox.local_api import ApiError, LocalBotApi
from natars_bot.store import Outgoing, Store

from .harness import MDT_CHAT, TOKEN, BotUnderTest
from .test_e2e_mdt import APPROVE, _team, complete_and_submit, settled

SUPERGROUP = -1005550001
ADMIN = 7001
UPGRADED = "Bad Request: group chat was upgraded to a supergroup chat"


@pytest.fixture
async def bot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BotUnderTest]:
    """The usual end-to-end bot, on a server that answers UPGRADED errors as Telegram does:
    with `parameters.migrate_to_chat_id` (which ptb turns into ChatMigrated)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = LocalBotApi(TOKEN)
    original = server._handle

    async def handle(request: web.Request) -> web.Response:
        response = await original(request)
        body = json.loads(response.text or "{}")
        if not body.get("ok") and body.get("description") == UPGRADED:
            body["parameters"] = {"migrate_to_chat_id": SUPERGROUP}
            return web.json_response(body, status=400)
        return response

    server._handle = handle  # type: ignore[method-assign]  # start() routes to it
    base_url = await server.start()
    server.group(MDT_CHAT, "NATARS MDT")
    server.group(SUPERGROUP, "NATARS MDT")
    under_test = BotUnderTest(server=server, database=tmp_path / "natars.sqlite3")
    await under_test.start(base_url)
    try:
        yield under_test
    finally:
        await under_test.stop()
        await server.stop()


def _upgraded(method: str, params: dict[str, Any]) -> None:
    """The old group refuses everything once it became a supergroup."""
    if str(params.get("chat_id")) == str(MDT_CHAT):
        raise ApiError(400, UPGRADED)


async def _admin(bot: BotUnderTest) -> None:
    """An admin, who has talked to the bot (Telegram lets a bot write only to such users)."""
    await bot.register(ADMIN, role="admin")
    bot.server.private_chat(bot.person(ADMIN, "Admin").user)


def _summary_of(method: str, params: dict[str, Any], referral: str) -> bool:
    """Whether a call posts a referral's summary in the MDT group."""
    return (
        method == "sendMessage"
        and str(params.get("chat_id")) == str(MDT_CHAT)
        and referral in str(params.get("text"))
    )


def _summaries(bot: BotUnderTest, chat: int) -> list[dict[str, Any]]:
    return [m for m in bot.server.bot_messages(chat) if "NATARS referral" in m.get("text", "")]


async def _audit_actions(bot: BotUnderTest) -> list[tuple[str, dict[str, Any]]]:
    store = await Store.open(bot.database)
    try:
        return [(r.action, r.detail) for r in await store.audit_rows()]
    finally:
        await store.close()


async def test_a_moved_mdt_chat_takes_both_waiting_cases(bot: BotUnderTest) -> None:
    """The group became a supergroup before two cases were posted: both summaries reach the
    new chat, the move is stored and audited once, the admin is told, and after a restart the
    bot still posts there; votes in the new chat count."""
    surgeon, chen, liu = await _team(bot)
    await _admin(bot)
    bot.server.faults.append(_upgraded)
    await complete_and_submit(surgeon)
    await complete_and_submit(surgeon, "LMS")
    # each summary gets its buttons by an edit once posted (delivery.py)
    await settled(
        bot,
        lambda: (
            len(_summaries(bot, SUPERGROUP)) == 2
            and all(m.get("reply_markup") for m in _summaries(bot, SUPERGROUP))
        ),
    )
    assert _summaries(bot, MDT_CHAT) == []
    first, second = _summaries(bot, SUPERGROUP)
    assert "NAT-2026-0001" in first["text"] and "NAT-2026-0002" in second["text"]
    [alert] = bot.server.bot_messages(ADMIN)
    assert f"from chat {MDT_CHAT} to chat {SUPERGROUP}" in alert["text"]
    assert f"NATARS_MDT_CHAT_ID={SUPERGROUP}" in alert["text"]
    moves = [d for a, d in await _audit_actions(bot) if a == "mdt_chat_migrated"]
    assert moves == [{"from": MDT_CHAT, "to": SUPERGROUP}]
    await bot.restart()
    assert bot.application is not None
    assert bot.application.bot_data["services"].mdt_chat_id == SUPERGROUP
    for reviewer in (chen, liu):
        update_id = await bot.server.user_presses(reviewer.user, second, APPROVE)
        await bot.handled(update_id)
    await settled(bot, lambda: "MDT decision on NAT-2026-0002" in surgeon.last()["text"])


async def test_a_summary_posted_before_the_move_is_posted_again_with_its_tally(
    bot: BotUnderTest,
) -> None:
    """A case posted in the old group and voted on once: when the tally edit meets the move,
    the summary is posted in the new chat with the tally as it stands, and voting goes on."""
    surgeon, chen, liu = await _team(bot)
    await complete_and_submit(surgeon)
    await settled(
        bot,
        lambda: (
            len(_summaries(bot, MDT_CHAT)) == 1
            and bool(_summaries(bot, MDT_CHAT)[0].get("reply_markup"))
        ),
    )
    [old] = _summaries(bot, MDT_CHAT)
    bot.server.faults.append(_upgraded)
    update_id = await bot.server.user_presses(chen.user, old, APPROVE)
    await bot.handled(update_id)

    def reposted() -> list[dict[str, Any]]:
        return [
            m
            for m in _summaries(bot, SUPERGROUP)
            if "✅ 1 ·" in m["text"] and m.get("reply_markup")
        ]

    await settled(bot, lambda: len(reposted()) == 1)
    [new] = reposted()
    assert "Dr" in new["text"] or "reviewer 3001" in new["text"]
    update_id = await bot.server.user_presses(liu.user, new, APPROVE)
    await bot.handled(update_id)
    await settled(bot, lambda: "MDT decision on NAT-2026-0001" in surgeon.last()["text"])
    assert len(_summaries(bot, SUPERGROUP)) == 1


async def test_a_refused_summary_is_failed_the_admin_told_and_the_next_case_posted(
    bot: BotUnderTest,
) -> None:
    """A 403 on the first case's summary marks that row failed and alerts the admin; the
    second case is posted all the same."""
    surgeon, _, _ = await _team(bot)
    await _admin(bot)
    refusals = [ApiError(403, "Forbidden: bot was kicked from the group chat")]

    def once(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and str(params.get("chat_id")) == str(MDT_CHAT) and refusals:
            raise refusals.pop()

    bot.server.faults.append(once)
    await complete_and_submit(surgeon)
    await complete_and_submit(surgeon, "LMS")
    await settled(bot, lambda: len(_summaries(bot, MDT_CHAT)) == 1)
    assert "NAT-2026-0002" in _summaries(bot, MDT_CHAT)[0]["text"]
    await settled(bot, lambda: bool(bot.server.bot_messages(ADMIN)))
    assert (
        "could not deliver message 1 (summary, chat MDT)"
        in (bot.server.bot_messages(ADMIN)[0]["text"])
    )
    failed = [d for a, d in await _audit_actions(bot) if a == "outbox_failed"]
    assert [d["kind"] for d in failed] == ["summary"]


async def test_a_row_that_keeps_failing_is_capped_and_the_rest_flow(
    bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error ptb has no special class for (409) on one case's summary, again and again:
    the second case is posted while the first backs off; at the cap the first is failed and
    the admin told."""
    monkeypatch.setattr(delivery, "MAX_ATTEMPTS", 3)
    surgeon, _, _ = await _team(bot)
    await _admin(bot)

    def conflict(method: str, params: dict[str, Any]) -> None:
        if _summary_of(method, params, "NAT-2026-0001"):
            raise ApiError(409, "Conflict: terminated by other request")

    bot.server.faults.append(conflict)
    await complete_and_submit(surgeon)
    await complete_and_submit(surgeon, "LMS")
    await settled(bot, lambda: len(_summaries(bot, MDT_CHAT)) == 1)
    await settled(bot, lambda: bool(bot.server.bot_messages(ADMIN)))
    assert "Conflict" in bot.server.bot_messages(ADMIN)[0]["text"]
    tries = [p for m, p in bot.server.calls if _summary_of(m, p, "NAT-2026-0001")]
    assert len(tries) == 3
    store = await Store.open(bot.database)
    try:
        for _ in range(50):  # the alert's delivery is committed just after it arrives
            counts = await store.outbox_counts()
            if not counts.get("pending"):
                break
            await asyncio.sleep(0.1)
    finally:
        await store.close()
    # the second summary, its buttons added by an edit, the admin's alert
    assert counts == {"failed": 1, "sent": 3}


async def test_a_long_summarys_parts_go_out_in_order_when_the_first_backs_off(
    bot: BotUnderTest,
) -> None:
    """A summary in two parts (the second with the buttons); the first part's post gets a
    502: the second waits for it instead of going out alone (which would leave the first
    superseded, the MDT reading half a case)."""
    gateway = [ApiError(502, "Bad Gateway")]

    def first_part_fails_once(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and "PART ONE" in str(params.get("text")) and gateway:
            raise gateway.pop()

    bot.server.faults.append(first_part_fails_once)
    store = await Store.open(bot.database)
    try:
        await store.add_user(1001, "surgeon", site="A", name=None, actor="test")
        draft = await store.start_referral(1001, "A")
        draft = await store.save_state(
            draft, DialogueState(answers={"histology": "UPS"}), actor="t", action="a", detail={}
        )

        def compose(submission_id: int) -> list[Outgoing]:
            button = {"text": "✅ Approve", "callback_data": encode(Vote(submission_id, "a"))}
            return [
                Outgoing(kind="message", text="NATARS referral NAT-2026-0001 PART ONE"),
                Outgoing(kind="summary", text="PART TWO", markup={"inline_keyboard": [[button]]}),
            ]

        await store.submit(
            draft, verdict="needs_review", failed=(), unknown=(), protocol="v1",
            remind_at=datetime(2030, 1, 1, tzinfo=UTC), compose=compose, actor="t",
        )  # fmt: skip
    finally:
        await store.close()

    def parts() -> list[str]:
        return [m["text"] for m in bot.server.bot_messages(MDT_CHAT) if "PART" in m["text"]]

    await settled(bot, lambda: len(parts()) == 2)
    assert gateway == []
    assert parts() == ["NATARS referral NAT-2026-0001 PART ONE", "PART TWO"]
