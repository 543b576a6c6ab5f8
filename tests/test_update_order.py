"""PerChatUpdateProcessor on its own: one chat's updates start in order, other chats run beside
them, and a handler's hand-over lets its chat's next update start before it ends."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from natars_bot.bot.updates import PerChatUpdateProcessor, chat_key

USER = User(7, "Dr Li", is_bot=False)


def _update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE if chat_id > 0 else Chat.GROUP)
    message = Message(update_id, None, chat, from_user=USER, text=str(update_id))  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_one_chat_in_order_other_chats_beside_it() -> None:
    """A slow first update holds its chat's second one back, not another chat's."""
    processor = PerChatUpdateProcessor(8)
    events: list[str] = []
    release = asyncio.Event()

    async def handle(name: str, wait: asyncio.Event | None = None) -> None:
        events.append(f"{name} starts")
        if wait is not None:
            await wait.wait()
        events.append(f"{name} ends")

    first, second, other = _update(1, 5), _update(2, 5), _update(3, 6)
    tasks = [
        asyncio.create_task(processor.process_update(first, handle("a1", release))),
        asyncio.create_task(processor.process_update(second, handle("a2"))),
        asyncio.create_task(processor.process_update(other, handle("b1"))),
    ]
    await asyncio.sleep(0.05)
    assert events == ["a1 starts", "b1 starts", "b1 ends"]  # a2 waits for a1, b1 does not
    release.set()
    await asyncio.gather(*tasks)
    assert events[3:] == ["a1 ends", "a2 starts", "a2 ends"]
    assert processor._latest == {} and processor._turns == {}  # nothing kept for idle chats


async def test_a_hand_over_lets_the_next_update_start_and_keeps_the_order() -> None:
    """After handing over, the update goes on beside the next one of its chat; the updates
    still start in the order they came, and the next waits for what came before the call."""
    processor = PerChatUpdateProcessor(8)
    events: list[str] = []
    answered = asyncio.Event()
    updates = [_update(n, -100) for n in range(1, 5)]

    async def vote(update: Update) -> None:
        name = f"vote {update.update_id}"
        events.append(f"{name} committed")
        processor.hand_over(update)
        if update.update_id == 1:
            await answered.wait()  # its callback answer, slow to come back
        events.append(f"{name} answered")

    tasks = [asyncio.create_task(processor.process_update(u, vote(u))) for u in updates]
    await asyncio.sleep(0.05)
    # The first vote's answer is still out; the ones after it were committed in order.
    assert events[:2] == ["vote 1 committed", "vote 2 committed"]
    assert [e for e in events if e.endswith("committed")] == [
        f"vote {n} committed" for n in range(1, 5)
    ]
    assert "vote 1 answered" not in events
    answered.set()
    await asyncio.gather(*tasks)
    assert events[-1] == "vote 1 answered"
    assert processor._latest == {} and processor._turns == {}


async def test_the_next_update_waits_until_the_hand_over() -> None:
    """What an update does before handing over happens before its chat's next update starts."""
    processor = PerChatUpdateProcessor(8)
    events: list[str] = []
    commit = asyncio.Event()
    first, second = _update(1, -100), _update(2, -100)

    async def slow_commit() -> None:
        await commit.wait()
        events.append("first committed")
        processor.hand_over(first)
        await asyncio.sleep(0.05)
        events.append("first answered")

    async def quick() -> None:
        events.append("second starts")

    tasks = [
        asyncio.create_task(processor.process_update(first, slow_commit())),
        asyncio.create_task(processor.process_update(second, quick())),
    ]
    await asyncio.sleep(0.05)
    assert events == []
    commit.set()
    await asyncio.gather(*tasks)
    assert events == ["first committed", "second starts", "first answered"]


async def test_a_cancelled_waiting_update_does_not_let_a_later_one_overtake() -> None:
    """The second update is cancelled while it waits: the third still waits for the first."""
    processor = PerChatUpdateProcessor(8)
    events: list[str] = []
    release = asyncio.Event()

    async def handle(name: str, wait: asyncio.Event | None = None) -> None:
        events.append(f"{name} starts")
        if wait is not None:
            await wait.wait()
        events.append(f"{name} ends")

    first, second, third = (_update(n, 5) for n in (1, 2, 3))
    one = asyncio.create_task(processor.process_update(first, handle("1", release)))
    two = asyncio.create_task(processor.process_update(second, handle("2")))
    three = asyncio.create_task(processor.process_update(third, handle("3")))
    await asyncio.sleep(0.05)
    two.cancel()
    await asyncio.sleep(0.05)
    assert events == ["1 starts"]  # the third does not start behind the cancelled second
    release.set()
    await asyncio.gather(one, three)
    assert events == ["1 starts", "1 ends", "3 starts", "3 ends"]
    assert two.cancelled()


def test_chat_key() -> None:
    """An update's chat; its sender without a chat; 0 for anything else."""
    assert chat_key(_update(1, -100)) == -100
    assert chat_key(Update(2)) == 0
    assert chat_key(object()) == 0
