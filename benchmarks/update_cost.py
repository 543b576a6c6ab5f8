"""Where natars-bot's own time per update goes, in one process, without the network.

    python -m benchmarks.update_cost [--rounds 20] [--surgeons 50]

benchmarks/load.py measures whole bots, and on a shared VM its figures drift from run to run.
This measures in one process (CPU time, best of several runs):

- whole updates: natars-bot, the mimic of its Telegram traffic (benchmarks/mimic_bot.py) and
  the bare echo bot (benchmarks/echo_bot.py), each a real
  python-telegram-bot Application, fed the load benchmark's own surgeons and MDT reviewers
  (benchmarks.users' `refer`, `vote_all`, `echo_load`, `echo_votes`) one update at a time. Each
  Bot API call goes to the local server's method directly instead of over HTTP, and the
  server's and the simulated users' time is taken out: what is left is the bot's handlers,
  its store, and python-telegram-bot building the requests and parsing updates and replies.
  With the Bot API calls per update, and the inline buttons python-telegram-bot parsed per
  update (in the updates and in the messages the server returned), this is where the load
  benchmark's ratio comes from, without HTTP and the VM's drift.

and, for natars-bot alone, the parts it does per answered question that the echo bot does not:

- store: the user lookup, the draft read and the answer's transaction (update, audit row,
  update id; committed with fsync), as the handlers call them;
- core: reading the answer, assessing the referral, rendering the next question and its buttons;
- telegram objects: python-telegram-bot building the incoming press (Update.de_json) and the
  returned edited message (Message.de_json), averaged over every question of the referral
  against the echo bot's one-button message — the part of the calls that grows with a message.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from telegram import Bot, Message, Update

from benchmarks import mimic_bot, taps
from benchmarks.replay import replay
from natars_bot.bot.screens import question_screen
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import DialogueState, answer, current, to_referral
from natars_bot.dialogue.flow import default_flow
from natars_bot.dialogue.wording import default_wording
from natars_bot.protocol.criteria import default_protocol
from natars_bot.protocol.eligibility import evaluate
from natars_bot.store import ReferralRow, Store

FLOW = default_flow()
PROTOCOL = default_protocol()
SERVICES = Services(store=None, flow=FLOW, protocol=PROTOCOL, wording=default_wording())  # type: ignore[arg-type]


def _answers() -> list[DialogueState]:
    """The states of one complete eligible DDLPS referral, input after input (checklist ticks
    and rows included), as the dialogue engine walks it (benchmarks.taps). Row by row, not by
    the rows screens' shortcuts: the cost per update is measured over the same 22 updates as
    before the shortcuts, so that the figures stay comparable."""
    answers = {**taps.examples()["DDLPS"], "note": "none"}
    return list(taps.walk(FLOW, answers, shortcuts=False).states[1:])


def _best(repeat: Callable[[], None], times: int = 5) -> float:
    """The lowest CPU seconds of `times` runs (the others had the VM's noise in them)."""
    best = float("inf")
    for _ in range(times):
        started = time.process_time()
        repeat()
        best = min(best, time.process_time() - started)
    return best


def core(states: list[DialogueState], rounds: int) -> float:
    """CPU ms per answer: answer(), the assessment, the next question's screen."""
    row = ReferralRow(1, "NAT-2026-0001", 1, "X", "draft", 1, states[0], None, None, "", "", None)

    def repeat() -> None:
        for _ in range(rounds):
            previous = DialogueState()
            for state in states:
                question = current(FLOW, previous)
                if question is not None and question.choices:
                    answer(FLOW, previous, choice=0)
                evaluate(to_referral(FLOW, state, referral_id=row.public_id), PROTOCOL)
                question_screen(SERVICES, "en", replace(row, state=state))
                previous = state

    return 1000 * _best(repeat) / (rounds * len(states))


async def store(states: list[DialogueState], folder: Path) -> float:
    """CPU ms per answer of the store calls a handler makes (one draft, answered repeatedly)."""
    db = await Store.open(folder / "cost.sqlite3")
    await db.add_user(1, "surgeon", site="X", name=None, actor="bench")
    best = float("inf")
    for attempt in range(5):
        referral = await db.start_referral(1, "X")
        started = time.process_time()
        for n, state in enumerate(states):
            db.handling(10_000 * attempt + n + 1, f"bench-{n}")
            await db.person(1)
            referral = await db.referral(referral.id)
            referral = await db.save_state(
                referral, state, actor="1", action="answer", detail={"n": n}
            )
            # The next screen reached the chat: recorded at once (a typed answer needs it).
            referral = await db.set_message(referral, n + 1, referral.state.screen)
        best = min(best, time.process_time() - started)
        await db.close_referral(referral, "cancelled", actor="1")
    await db.close()
    return 1000 * best / len(states)


def telegram_objects(states: list[DialogueState], rounds: int) -> tuple[float, float]:
    """CPU ms to build one press and one edited message: natars-bot's (averaged over every
    question of the referral, each with its own buttons), the echo bot's (one button)."""
    bot = Bot("1:x")
    row = ReferralRow(
        1, "NAT-2026-0001", 1, "X", "draft", 1, DialogueState(), None, None, "", "", None
    )
    natars = []
    for state in [DialogueState(), *states[:-1]]:
        text, markup = question_screen(SERVICES, "en", replace(row, state=state))
        natars.append(_message(text, markup.to_dict() if markup else None))
    echo = _message(
        "pressed 123456789", {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}
    )

    def cost(messages: list[dict[str, Any]]) -> float:
        presses = [
            {
                "update_id": 1,
                "callback_query": {
                    "id": "1",
                    "from": {"id": 10_001, "is_bot": False, "first_name": "Surgeon"},
                    "chat_instance": "1",
                    "data": "a:1:0:0",
                    "message": message,
                },
            }
            for message in messages
        ]

        def repeat() -> None:
            for _ in range(rounds):
                for press, message in zip(presses, messages, strict=True):
                    Update.de_json(press, bot)
                    Message.de_json(message, bot)

        return 1000 * _best(repeat) / (rounds * len(messages))

    return cost(natars), cost([echo] * len(natars))


# ------------------------------------------------------------------ whole updates


@dataclass
class WholeUpdates:
    """One bot's figures from a replay."""

    updates: int
    cpu_ms: float  # per update, best of the runs
    calls: float  # Bot API calls per update
    buttons: float  # inline buttons parsed per update
    submitted: int = 0  # referrals the simulated surgeons submitted to the MDT


async def whole_updates(surgeons: int, runs: int = 3) -> dict[str, WholeUpdates]:
    """natars-bot, the mimic of its traffic and the echo bot over the same users, alternated,
    best of `runs` each."""
    best: dict[str, WholeUpdates] = {}
    counts = (0, 0, 0)
    screens: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            for kind in ("natars", "mimic", "echo"):
                run, seconds, tally, api = await replay(
                    kind, Path(folder), surgeons, counts, screens
                )
                if kind == "natars":
                    counts = (run.says, run.presses, run.votes)
                    screens = screens or mimic_bot.record_screens(list(api.calls))
                figures = WholeUpdates(
                    run.updates,
                    1000 * seconds / run.updates,
                    tally.calls / run.updates,
                    tally.buttons / run.updates,
                    run.submitted,
                )
                if kind not in best or figures.cpu_ms < best[kind].cpu_ms:
                    best[kind] = figures
    return best


def _message(text: str, markup: dict[str, Any] | None) -> dict[str, Any]:
    chat = {"id": 10_001, "type": "private", "first_name": "Surgeon"}
    message = {
        "message_id": 7,
        "date": 1_764_000_000,
        "chat": chat,
        "from": {"id": 777, "is_bot": True, "first_name": "NATARS"},
        "text": text,
    }
    if markup:
        message["reply_markup"] = markup
    return message


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--surgeons", type=int, default=50)
    args = parser.parse_args()
    whole = asyncio.run(whole_updates(args.surgeons))
    print("whole updates through python-telegram-bot, no network (CPU, best of 3)")
    print(f"{'bot':12}{'updates':>9}{'CPU ms':>9}{'calls':>8}{'buttons':>9}   per update")
    for kind, figures in whole.items():
        print(
            f"{kind:12}{figures.updates:>9}{figures.cpu_ms:>9.2f}{figures.calls:>8.2f}"
            f"{figures.buttons:>9.1f}"
        )
    natars, mimic, echo = whole["natars"].cpu_ms, whole["mimic"].cpu_ms, whole["echo"].cpu_ms
    print(
        f"CPU per update: natars-bot / echo {natars / echo:.2f}×, of which natars-bot's own"
        f" processing (natars-bot / mimic) {natars / mimic:.2f}× and its Telegram traffic"
        f" (mimic / echo) {mimic / echo:.2f}×\n"
    )
    states = _answers()
    with tempfile.TemporaryDirectory() as folder:
        store_ms = asyncio.run(store(states, Path(folder)))
    core_ms = core(states, args.rounds)
    natars_ms, echo_ms = telegram_objects(states, 5 * args.rounds)
    print(f"per answer, CPU ms (best of 5; {len(states)} answers of a DDLPS referral)")
    print(f"{'store (user, draft, transaction)':45}{store_ms:8.2f}")
    print(f"{'core (answer, assessment, next screen)':45}{core_ms:8.2f}")
    print(f"{'ptb objects: press + edited message, natars':45}{natars_ms:8.2f}")
    print(f"{'ptb objects: press + edited message, echo':45}{echo_ms:8.2f}")


if __name__ == "__main__":
    main()
