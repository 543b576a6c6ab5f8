"""Menus per role and chat, commands in the wrong place, /help per role, and errors told in the
user's language with the admins alerted once per kind of error per hour (issue #16, item 3)."""

from __future__ import annotations

from typing import Any

from natars_bot.sandbox.local_api import ApiError
from natars_bot.store import Store

from .harness import MDT_CHAT, BotUnderTest

SURGEON, COORDINATOR, REVIEWER, ADMIN, STRANGER = 1001, 2001, 3001, 4001, 5001
SURGEONS_MENU = ["new", "status", "cancel", "help", "language"]
COORDINATORS_MENU = ["cases", "case", "stats", "export", "help", "language"]


def _chat_menu(bot: BotUnderTest, user_id: int, code: str | None = None) -> list[str] | None:
    return bot.server.menu(code, type="chat", chat_id=user_id)


def _descriptions(bot: BotUnderTest, code: str | None = None) -> dict[str, str]:
    """The default scope's command descriptions (the server keeps the whole commands)."""
    return {c["command"]: c["description"] for c in bot.server.commands.get(code, [])}


async def test_each_role_sees_its_own_menu_in_both_languages(bot: BotUnderTest) -> None:
    await bot.register(SURGEON)
    await bot.register(COORDINATOR, "coordinator")
    await bot.register(REVIEWER, "reviewer")
    await bot.register(ADMIN, "admin")
    await bot.register(ADMIN, "surgeon")
    await bot.restart()  # start-up publishes everyone registered (in the background)
    people = (SURGEON, COORDINATOR, REVIEWER, ADMIN)
    await bot.server.wait_for(
        lambda: all(_chat_menu(bot, p, c) is not None for p in people for c in (None, "zh"))
    )
    for code in (None, "zh"):
        assert _chat_menu(bot, SURGEON, code) == SURGEONS_MENU
        assert _chat_menu(bot, COORDINATOR, code) == COORDINATORS_MENU
        assert _chat_menu(bot, REVIEWER, code) == ["help", "language"]
        # one menu for two roles, each command once
        assert _chat_menu(bot, ADMIN, code) == [
            "new", "status", "cancel", "cases", "case", "stats", "export", "help", "language",
        ]  # fmt: skip
        # the MDT group and every other group: only what works there
        assert bot.server.menu(code, type="all_group_chats") == ["help"]
        # strangers
        assert bot.server.menu(code) == ["help", "language"]
    assert _chat_menu(bot, STRANGER) is None
    english, chinese = _descriptions(bot), _descriptions(bot, "zh")
    assert english["help"] == "How this works" and chinese["help"] == "使用说明"


async def test_the_menu_follows_roles_and_language_from_the_next_update(
    bot: BotUnderTest,
) -> None:
    """Roles changed by another process (`natars-bot users`) and /language show in the menu
    from the person's next update."""
    surgeon = bot.person(SURGEON)
    await bot.register(SURGEON)
    await surgeon.says("/help")
    await bot.server.wait_for(lambda: _chat_menu(bot, SURGEON) == SURGEONS_MENU)
    await bot.register(SURGEON, "coordinator")
    await surgeon.says("/help")
    both = ["new", "status", "cancel", "cases", "case", "stats", "export", "help", "language"]
    await bot.server.wait_for(
        lambda: _chat_menu(bot, SURGEON) == both and _chat_menu(bot, SURGEON, "zh") == both
    )
    await surgeon.says("/language")
    await surgeon.presses("中文")
    await surgeon.says("/help")
    # chosen: Chinese whatever the app's language, and no separate Chinese variant
    await bot.server.wait_for(lambda: _chat_menu(bot, SURGEON, "zh") is None)
    store = await Store.open(bot.database)
    try:
        await store.remove_user(SURGEON, None, actor="cli")
    finally:
        await store.close()
    await surgeon.says("/help")
    await bot.server.wait_for(lambda: _chat_menu(bot, SURGEON) is None)


async def test_commands_in_the_wrong_place_say_where_they_work(bot: BotUnderTest) -> None:
    for user_id, role in ((SURGEON, "surgeon"), (COORDINATOR, "coordinator")):
        await bot.register(user_id, role)
    surgeon, coordinator = bot.person(SURGEON), bot.person(COORDINATOR)
    stranger = bot.person(STRANGER)
    for person, command in ((surgeon, "/status"), (surgeon, "/cancel"), (coordinator, "/stats")):
        reply = await person.says(command, MDT_CHAT)
        name = command.lstrip("/")
        assert reply["text"] == (
            f"/{name} works in your private chat with me, not in a group: "
            "tap my name and send it there."
        )
    reply = await surgeon.says("/new", MDT_CHAT)
    assert "private chat" in reply["text"]
    # Someone who may not have the log at all hears that, not where it works (and is audited).
    reply = await stranger.says("/export", MDT_CHAT)
    assert reply["text"].startswith("Exports are for trial coordinators")


async def test_help_names_what_each_role_can_do(bot: BotUnderTest) -> None:
    await bot.register(SURGEON)
    await bot.register(COORDINATOR, "coordinator")
    await bot.register(REVIEWER, "reviewer")
    surgeon_help = (await bot.person(SURGEON).says("/help"))["text"]
    coordinator_help = (await bot.person(COORDINATOR).says("/help"))["text"]
    reviewer_help = (await bot.person(REVIEWER, language="zh").says("/help"))["text"]
    assert "/new" in surgeon_help and "/export" not in surgeon_help
    assert "/cases" in coordinator_help and "/export" in coordinator_help
    assert "MDT评审专家" in reviewer_help


async def test_an_error_is_told_in_the_users_language_and_the_admins_alerted_once_an_hour(
    bot: BotUnderTest,
) -> None:
    await bot.register(ADMIN, "admin")
    await bot.register(SURGEON)
    admin, surgeon = bot.person(ADMIN), bot.person(SURGEON, "李医生", language="zh")
    await admin.says("/help")  # the admin's private chat exists
    failures = [ApiError(400, "Bad Request: injected"), ApiError(400, "Bad Request: injected")]

    def fail_the_welcome(method: str, params: dict[str, Any]) -> None:
        if method == "sendMessage" and "NATARS" in str(params.get("text")) and failures:
            raise failures.pop()

    bot.server.faults.append(fail_the_welcome)
    for _ in range(2):
        reply = await surgeon.says("/start")
        assert reply["text"].startswith("抱歉，系统出错了。已保存您之前的回答，请重试。")
        assert "错误编号" in reply["text"]
    first = reply["text"]

    def alerts() -> list[str]:
        return [m["text"] for m in bot.server.bot_messages(ADMIN) if m["text"].startswith("⚠")]

    await bot.server.wait_for(lambda: len(alerts()) == 1)
    [alert] = alerts()
    assert "BadRequest" in alert
    # the reference in the alert is one the user was told; no text of the update is in it
    reference = alert.split("reference ")[1].split(".")[0]
    assert reference in "".join(m["text"] for m in bot.server.bot_messages(SURGEON))
    assert "/start" not in alert
    assert len(alerts()) == 1 and first  # the second BadRequest within the hour: logged only
