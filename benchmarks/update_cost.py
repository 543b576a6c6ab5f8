"""Where natars-bot's own time per update goes, in one process, without the network.

    python -m benchmarks.update_cost [--rounds 20] [--surgeons 50]

benchmarks/load.py measures whole bots, and on a shared VM its figures drift from run to run.
This measures in one process (CPU time, best of several runs):

- whole updates: natars-bot, the mimic of its Telegram traffic (benchmarks/mimic_bot.py) and
  the bare echo bot (benchmarks/echo_bot.py), each a real
  python-telegram-bot Application, fed the load benchmark's own surgeons and MDT reviewers
  (benchmarks.load's `refer`, `vote_all`, `echo_load`, `echo_votes`) one update at a time. Each
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
import json
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from telegram import Bot, Message, Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, MessageHandler
from telegram.ext import filters as ptb_filters
from telegram.request import BaseRequest, RequestData

from benchmarks import echo_bot, load, mimic_bot
from natars_bot.bot.app import build_application, shut_down, start_up
from natars_bot.bot.screens import question_screen
from natars_bot.bot.services import Services
from natars_bot.dialogue import Accepted, DialogueState, answer, current, to_referral
from natars_bot.eligibility import evaluate
from natars_bot.flow import default_flow
from natars_bot.local_api import TEXT_PARAMS, ApiError, LocalBotApi
from natars_bot.protocol import default_protocol
from natars_bot.settings import Settings
from natars_bot.store import ReferralRow, Store
from natars_bot.wording import default_wording

FLOW = default_flow()
PROTOCOL = default_protocol()
SERVICES = Services(store=None, flow=FLOW, protocol=PROTOCOL, wording=default_wording())  # type: ignore[arg-type]


def _answers() -> list[DialogueState]:
    """The states of one complete DDLPS referral, answer after answer."""
    states, state = [], DialogueState()
    typed = {"age_years": "62", "tumor_size_cm": "12", "asa_class": "2", "note": "none"}
    for _ in range(60):
        question = current(FLOW, state)
        if question is None:
            break
        if question.field in typed or not question.choices:
            result = answer(FLOW, state, text=typed.get(question.field, "S-1"))
        else:
            labels = [c.label.get("en", "") for c in question.choices]
            pick = next((labels.index(x) for x in ("DDLPS", "Yes", "Positive") if x in labels), 0)
            result = answer(FLOW, state, choice=pick)
        assert isinstance(result, Accepted), (question.field, result)
        state = result.state
        states.append(state)
    return states


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


def _buttons(data: Any) -> int:
    """Inline buttons anywhere in a JSON value (what python-telegram-bot builds objects for)."""
    if isinstance(data, dict):
        keyboard = data.get("inline_keyboard")
        own = sum(len(row) for row in keyboard) if isinstance(keyboard, list) else 0
        return own + sum(_buttons(v) for k, v in data.items() if k != "inline_keyboard")
    if isinstance(data, list):
        return sum(_buttons(v) for v in data)
    return 0


@dataclass
class _Tally:
    """What the simulated world did, to be taken out of the bot's CPU time, and counted."""

    world_seconds: float = 0.0  # the server's methods and the simulated users
    calls: int = 0
    buttons: int = 0


class DirectRequest(BaseRequest):
    """python-telegram-bot's network layer replaced by a call of the local server's method.

    Parameters arrive as the server would decode them from the form python-telegram-bot
    posts; the reply is the JSON the server would send. The server's own time is tallied
    separately so that only the bot's time is measured.
    """

    def __init__(self, api: LocalBotApi, tally: _Tally) -> None:
        self.api, self.tally = api, tally

    @property
    def read_timeout(self) -> float | None:
        """No network: nothing to wait for."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        """Run the method on the server; (status, JSON body) as over HTTP."""
        encoded = request_data.json_parameters if request_data is not None else {}
        started = time.process_time()
        params: dict[str, Any] = {}
        for name, value in encoded.items():
            try:
                params[name] = value if name in TEXT_PARAMS else json.loads(value)
            except ValueError:
                params[name] = value
        endpoint = url.rpartition("/")[2]
        self.tally.calls += 1
        try:
            result = await self.api.call(endpoint, params)
            status, body = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status = exc.code
            body = {"ok": False, "error_code": exc.code, "description": exc.description}
        self.tally.buttons += _buttons(result if status == 200 else None)
        encoded_body = json.dumps(body).encode()
        self.tally.world_seconds += time.process_time() - started
        return status, encoded_body


class DirectDriver(load.Driver):
    """The load benchmark's users, each update handed to the Application at once."""

    def __init__(
        self,
        api: LocalBotApi,
        application: Application,  # type: ignore[type-arg]
        run: load.Run,
        tally: _Tally,
    ) -> None:
        self.api, self.application, self.run, self.tally = api, application, run, tally
        self.offset = 0

    async def _deliver(self, chat_id: int) -> list[dict[str, Any]]:
        started = time.process_time()
        pending = await self.api.call("getUpdates", {"offset": self.offset})
        if pending:
            self.offset = pending[-1]["update_id"] + 1
        # As getUpdates would bring them: JSON text, parsed by python-telegram-bot.
        texts = [json.dumps(update) for update in pending]
        self.tally.world_seconds += time.process_time() - started
        for text in texts:
            data = json.loads(text)
            self.tally.buttons += _buttons(data)
            await self.application.process_update(Update.de_json(data, self.application.bot))
            self.run.updates += 1
        started = time.process_time()
        chat = self.api.messages(chat_id)
        self.tally.world_seconds += time.process_time() - started
        return chat

    async def say(
        self, user: dict[str, Any], text: str, chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        """A message from `user`, handled; the chat afterwards."""
        self.run.says += 1
        started = time.process_time()
        await self.api.user_says(user, text, chat_id)
        self.tally.world_seconds += time.process_time() - started
        return await self._deliver(chat_id if chat_id is not None else int(user["id"]))

    async def press(
        self, user: dict[str, Any], chat_id: int, message: dict[str, Any], data: str
    ) -> list[dict[str, Any]]:
        """A press of the button carrying `data`, handled; the chat afterwards."""
        self.run.presses += 1
        started = time.process_time()
        await self.api.press_data(
            user, self.api.chats[chat_id].messages[message["message_id"]], data
        )
        self.tally.world_seconds += time.process_time() - started
        return await self._deliver(chat_id)

    async def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The chat as shown (after letting the outbox run)."""
        await asyncio.sleep(0.01)
        return self.api.messages(chat_id)


@dataclass
class WholeUpdates:
    """One bot's figures from a replay."""

    updates: int
    cpu_ms: float  # per update, best of the runs
    calls: float  # Bot API calls per update
    buttons: float  # inline buttons parsed per update


async def _replay(
    kind: str,
    folder: Path,
    surgeons: int,
    counts: tuple[int, int, int],
    screens: dict[str, list[dict[str, Any]]] | None = None,
) -> tuple[load.Run, float, _Tally, LocalBotApi]:
    """One replay of the load benchmark's users against one bot (for the mimic: natars-bot's
    recorded `screens`); (run, the bot's CPU seconds, tally, the server with its call log)."""
    api, tally = LocalBotApi(load.TOKEN), _Tally()
    api.group(load.MDT, "MDT")
    application: Application  # type: ignore[type-arg]
    if kind == "natars":
        database = folder / f"replay-{time.monotonic_ns()}.sqlite3"
        await load._register(database, surgeons)
        settings = Settings(
            telegram_token=load.TOKEN,
            database=database,
            mdt_chat_id=load.MDT,
            rate_limit=False,
            outbox_interval_seconds=3600,
            read_delay_seconds=0,  # the benchmark's users press the moment a screen arrives
        )
        application = build_application(settings)
    elif kind == "mimic":
        application = ApplicationBuilder().token(load.TOKEN).concurrent_updates(False).build()
        says, presses, votes = counts
        mimic_bot.build(application, screens or {}, load.MDT, (presses - votes) // surgeons)
    else:
        application = ApplicationBuilder().token(load.TOKEN).concurrent_updates(False).build()
        application.add_handler(MessageHandler(ptb_filters.TEXT, echo_bot.echo))
        application.add_handler(CallbackQueryHandler(echo_bot.pressed))
    request = DirectRequest(api, tally)
    # A seam for this benchmark only: build_application sets timeouts, which ptb's builder
    # refuses to combine with a request object of one's own.
    application.bot._request = (request, request)
    run = load.Run(kind)
    driver = DirectDriver(api, application, run, tally)
    async with application:
        if kind == "natars":
            await start_up(application)
        await application.start()
        tally.world_seconds, tally.calls, tally.buttons = 0.0, 0, 0
        started = time.process_time()
        if kind == "natars":
            rng = random.Random(7)
            for n in range(1, surgeons + 1):
                await load.refer(driver, n, random.Random(rng.random()), 0)
            summaries = await load.wait_for_summaries(driver, run.submitted)
            presses = run.presses
            await load.vote_all(driver, summaries)
            run.votes = run.presses - presses
        else:
            says, presses, votes = counts
            for n in range(1, surgeons + 1):
                await load.echo_load(driver, n, says // surgeons, (presses - votes) // surgeons)
            for reviewer in load.REVIEWERS:
                await load.echo_votes(driver, reviewer, votes // len(load.REVIEWERS))
        await asyncio.sleep(0.05)  # the outbox's last edits
        seconds = time.process_time() - started - tally.world_seconds
        await application.stop()
        if kind == "natars":
            await shut_down(application)
    return run, seconds, tally, api


async def record_natars_screens(folder: Path, surgeons: int = 5) -> dict[str, list[dict[str, Any]]]:
    """natars-bot's messages from a short replay, for the mimic bot."""
    *_, api = await _replay("natars", folder, surgeons, (0, 0, 0))
    return mimic_bot.record_screens(list(api.calls))


async def whole_updates(surgeons: int, runs: int = 3) -> dict[str, WholeUpdates]:
    """natars-bot, the mimic of its traffic and the echo bot over the same users, alternated,
    best of `runs` each."""
    best: dict[str, WholeUpdates] = {}
    counts = (0, 0, 0)
    screens: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            for kind in ("natars", "mimic", "echo"):
                run, seconds, tally, api = await _replay(
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
