"""The load benchmark's simulated people, shared by benchmarks.load (over HTTP, whole bots in
their own processes) and benchmarks.replay (in one process): surgeons answering the triage
dialogue as told, two MDT reviewers approving, the echo floor's equivalent traffic, and the
figures one run collects.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from natars_bot.dialogue.flow import default_flow
from natars_bot.store import Store

TOKEN = "777:load-benchmark"
MDT = -1009
REVIEWERS = (9001, 9002)
APPROVE = "✅ Approve for enrolment"  # the summary's button the reviewers press


FLOW = default_flow()


PROMPTS = [(q.prompt["en"].replace("<i>", "").replace("</i>", ""), q) for q in FLOW.questions]
TYPED = {
    "screening_number": "S-{n}",
    "age_years": "62",
    "tumor_size_cm": "12 cm",
    "asa_class": "ASA II",
    "sft_mitoses_per_2mm2": "5",
    "sft_necrosis_percent": "20%",
    "sft_risk_score": "6",
    "note": "large mass",
}
WRONG = {"age_years": "sixty", "tumor_size_cm": "big", "asa_class": "ASA 9"}
PRESS = {
    "sex": "Male",
    "origin": "Retroperitoneum",
    "metastasis": "None",
    "organ_function": "Normal",
    "r0_r1_resectable": "Yes",
    "fit_for_chemo_and_surgery": "Yes",
    "consent": "Signed",
    "ihc_mdm2": "Positive",
    "ihc_cdk4": "Positive",
    "fish_mdm2": "Amplified",
    "grade": "G2",
    "histologically_proven": "Yes",
    "pet_ct_done": "Yes",
}


@dataclass
class Run:
    """One bot's figures for one round."""

    bot: str
    updates: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # the bot process's own CPU time (user + system) meanwhile
    calls: dict[str, int] = field(default_factory=dict)  # Bot API calls meanwhile, by method
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    peak_mb: float = 0.0
    database_mb: float = 0.0
    says: int = 0
    presses: int = 0
    votes: int = 0  # the MDT reviewers' presses (two reviewers at a time), within `presses`
    submitted: int = 0
    # The same latencies by phase ("refer": the surgeons at once; "vote": the reviewers in the
    # group), and each phase's wall time: the two phases wait on different things (the
    # surgeons' chats run side by side, the group's presses one after another).
    phase_latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    # Private presses timed to their callback answer only (their latency above waits for the
    # next screen too): the benchmark's definition before 2026-12-04.
    answered_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The figures, without the raw latencies."""
        lat = sorted(self.latencies_ms) or [0.0]

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1)

        raw = ("latencies_ms", "phase_latencies_ms", "phase_seconds", "answered_ms")
        data = {k: v for k, v in asdict(self).items() if k not in raw}
        return {
            **data,
            "phases": self.phases(),
            "updates_per_s": round(self.updates / self.seconds, 1) if self.seconds else 0,
            "cpu_ms_per_update": round(1000 * self.cpu_seconds / self.updates, 2)
            if self.updates
            else 0,
            "calls_per_update": round(
                sum(n for m, n in self.calls.items() if m != "getUpdates") / self.updates, 2
            )
            if self.updates
            else 0,
            "p50_ms": pct(0.5),
            "p95_ms": pct(0.95),
            "p99_ms": pct(0.99),
            "max_ms": round(lat[-1], 1),
            "press_answered_p50_ms": _percentile(self.answered_ms, 0.5),
            "press_answered_p99_ms": _percentile(self.answered_ms, 0.99),
        }

    def phases(self) -> dict[str, dict[str, float]]:
        """Per phase: updates, wall seconds, updates/s, p50/p99/max latency."""
        figures: dict[str, dict[str, float]] = {}
        for phase, values in self.phase_latencies_ms.items():
            lat = sorted(values) or [0.0]
            seconds = self.phase_seconds.get(phase, 0.0)
            figures[phase] = {
                "updates": len(values),
                "seconds": round(seconds, 2),
                "updates_per_s": round(len(values) / seconds, 1) if seconds else 0.0,
                "p50_ms": round(lat[min(len(lat) - 1, len(lat) // 2)], 1),
                "p99_ms": round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
                "max_ms": round(lat[-1], 1),
            }
        return figures


def _percentile(values: list[float], p: float) -> float:
    """The `p` quantile of `values` as Run.summary takes it (0 for none)."""
    ordered = sorted(values) or [0.0]
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1)


class Driver:
    """Talks to natars_bot.sandbox.driver over HTTP."""

    def __init__(self, session: aiohttp.ClientSession, port: int, run: Run) -> None:
        self.http, self.base, self.run = session, f"http://127.0.0.1:{port + 1}/driver", run
        self.phase = "refer"  # whose latencies the next replies are ("refer" or "vote")
        # A surgeon's time to read a screen before answering it, drawn between `think` and
        # twice that (0: answer the moment it arrives, which saturates the bot).
        self.think = 0.0
        self._think_rng = random.Random(11)

    async def _read(self) -> None:
        """A surgeon reading the screen before answering (the reviewers press at once)."""
        if self.think and self.phase == "refer":
            await asyncio.sleep(self._think_rng.uniform(self.think, 2 * self.think))

    async def _post(self, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            async with self.http.post(f"{self.base}/{path}", json=body) as response:
                data = await response.json()
        except Exception:
            self.run.errors += 1
            print(f"no reply to {path} {json.dumps(body)[:200]}", file=sys.stderr)
            return []
        self.run.updates += 1
        self.run.latencies_ms.append(data["latency_ms"])
        self.run.phase_latencies_ms.setdefault(self.phase, []).append(data["latency_ms"])
        if "answered_ms" in data:  # a private press: its callback answer alone, for comparison
            self.run.answered_ms.append(data["answered_ms"])
        return list(data["chat"])

    async def say(
        self, user: dict[str, Any], text: str, chat_id: int | None = None
    ) -> list[dict[str, Any]]:
        await self._read()
        self.run.says += 1
        return await self._post("say", {"user": user, "text": text, "chat_id": chat_id})

    async def press(
        self, user: dict[str, Any], chat_id: int, message: dict[str, Any], data: str
    ) -> list[dict[str, Any]]:
        await self._read()
        self.run.presses += 1
        return await self._post(
            "press",
            {"user": user, "chat_id": chat_id, "message_id": message["message_id"], "data": data},
        )

    async def calls(self) -> dict[str, int]:
        """Bot API calls so far, by method."""
        async with self.http.get(f"{self.base}/calls") as response:
            return dict(await response.json())

    async def messages(self, chat_id: int) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.base}/messages/{chat_id}") as response:
            return list(await response.json())


def _button(message: dict[str, Any], label: str) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if button["text"] == label:
                return str(button["callback_data"])
    return None


def _first_button(message: dict[str, Any]) -> str | None:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return str(rows[0][0]["callback_data"]) if rows and rows[0] else None


def _question(message: dict[str, Any]) -> Any:
    text = message.get("text", "")
    for prompt, question in PROMPTS:
        if prompt in text:
            return question
    return None


# The group screens (issue #18): the exclusion checklist is confirmed with none ticked; a rows
# screen gets the usual answer in each row (a heading "▾ Label" above its buttons, the chosen
# one marked "• "), then its confirm button.
CHECKLIST_NONE = ("None of these applies ✓", "None of the others applies ✓")
ROWS_CONFIRM = "Confirm ✓"
BY_LABEL = {f"▾ {q.label['en']}": q for q in FLOW.questions}


def _group_press(message: dict[str, Any], histology: str) -> str | None:
    """The press a group screen wants next (None: not a group screen)."""
    for label in CHECKLIST_NONE:
        if (data := _button(message, label)) is not None:
            return data
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    rows: list[tuple[Any, list[dict[str, Any]]]] = []
    for line in keyboard:
        question = BY_LABEL.get(line[0]["text"])
        if question is not None:
            rows.append((question, []))
        elif rows:
            rows[-1][1].extend(line)
    if not rows:
        return None
    for question, buttons in rows:
        if any(b["text"].startswith("• ") for b in buttons):
            continue
        wanted = histology if question.field == "histology" else PRESS.get(question.field, "No")
        chosen = next((b for b in buttons if b["text"] == wanted), buttons[0] if buttons else None)
        if chosen is not None:
            return str(chosen["callback_data"])
    return _button(message, ROWS_CONFIRM)


async def refer(driver: Driver, n: int, rng: random.Random, stop_after: int) -> None:
    """One surgeon's complete referral (or the first `stop_after` answers of one)."""
    user: dict[str, Any] = {"id": 10_000 + n, "is_bot": False, "first_name": f"Surgeon {n}"}
    chat = await driver.say(user, "/new")
    histology = rng.choice(["DDLPS", "LMS", "UPS", "SFT"])
    answered = 0
    backed = False
    for _ in range(80):
        if not chat:
            return
        screen = chat[-1]
        group = _group_press(screen, histology)
        if group is not None:
            if stop_after and answered >= stop_after:
                return
            answered += 1
            chat = await driver.press(user, user["id"], screen, group)
            continue
        question = _question(screen)
        if question is None:
            break
        if stop_after and answered >= stop_after:
            return
        field_name = question.field
        if not backed and answered == 5 and rng.random() < 0.2 and _button(screen, "⬅ Back"):
            backed = True
            chat = await driver.press(user, user["id"], screen, _button(screen, "⬅ Back") or "")
            continue
        if field_name in WRONG and rng.random() < 0.15:
            chat = await driver.say(user, WRONG[field_name])
            continue
        answered += 1
        if field_name in TYPED:
            chat = await driver.say(user, TYPED[field_name].format(n=n))
            continue
        label = histology if field_name == "histology" else PRESS.get(field_name, "No")
        data = _button(screen, label) or _first_button(screen)
        if data is None:
            return
        chat = await driver.press(user, user["id"], screen, data)
    # The review carries "Submit to MDT" itself; an older review first showed the verdict.
    for label in ("See the verdict ➜", "✅ Submit to MDT"):
        if not chat:
            return
        data = _button(chat[-1], label)
        if data is None:
            if label == "✅ Submit to MDT":
                return
            continue
        chat = await driver.press(user, user["id"], chat[-1], data)
    driver.run.submitted += 1


async def echo_load(driver: Driver, n: int, says: int, presses: int) -> None:
    """The same number of messages and presses, for the echo bot."""
    user: dict[str, Any] = {"id": 10_000 + n, "is_bot": False, "first_name": f"Surgeon {n}"}
    chat = await driver.say(user, "/new")
    for step in range(says + presses - 1):
        if step < presses and chat:
            chat = await driver.press(user, user["id"], chat[-1], "ok")
        else:
            chat = await driver.say(user, f"answer {step}")


async def echo_votes(driver: Driver, reviewer: int, presses: int) -> None:
    """One reviewer's presses in the group, one after another, as natars-bot's MDT phase."""
    user: dict[str, Any] = {"id": reviewer, "is_bot": False, "first_name": f"Reviewer {reviewer}"}
    chat = await driver.say(user, "vote", MDT)
    for _ in range(presses - 1):
        if not chat:
            return
        await driver.press(user, MDT, chat[-1], "ok")


async def wait_for_summaries(
    driver: Driver, submitted: int, after: int = 0
) -> list[dict[str, Any]]:
    """The MDT summaries posted after message `after`, once every submission has been posted
    with its vote buttons (or after 60 s). Earlier rounds' summaries, and the mimic's copies,
    stay in the group. (A summary may be posted first and get its buttons by an edit.)"""
    summaries: list[dict[str, Any]] = []
    for _ in range(240):
        summaries = [
            m
            for m in await driver.messages(MDT)
            if m["message_id"] > after
            and "NATARS referral" in m.get("text", "")
            and _button(m, APPROVE) is not None
        ]
        if len(summaries) >= submitted:
            break
        await asyncio.sleep(0.25)
    return summaries


async def vote_all(driver: Driver, summaries: list[dict[str, Any]]) -> None:
    """Two reviewers approve every summary posted to the MDT group."""

    async def approve(reviewer: int) -> None:
        user: dict[str, Any] = {
            "id": reviewer,
            "is_bot": False,
            "first_name": f"Reviewer {reviewer}",
        }
        for summary in summaries:
            data = _button(summary, APPROVE)
            if data:
                await driver.press(user, MDT, summary, data)

    await asyncio.gather(*(approve(r) for r in REVIEWERS))


async def register(database: Path, surgeons: int) -> None:
    store = await Store.open(database)
    for n in range(surgeons + 1):
        await store.add_user(
            10_000 + n, "surgeon", site="Shanghai Zhongshan Hospital", name=None, actor="load"
        )
    for reviewer in REVIEWERS:
        await store.add_user(
            reviewer, "reviewer", site=None, name=f"Reviewer {reviewer}", actor="load"
        )
    await store.close()
