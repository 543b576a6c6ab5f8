"""`natars-bot sandbox`: the page's API, the port message, and the whole flow in real Chromium."""

from __future__ import annotations

import asyncio
import csv
import io
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from natars_bot.errors import ConfigError
from natars_bot.sandbox.page import MDT_CHAT, Sandbox

from .harness import draft_answers

ARTIFACTS = Path(__file__).parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Debian's Chromium under Playwright, headless as root in CI, with nothing to download.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


@pytest.fixture
async def sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Sandbox, str]]:
    """The sandbox on a free port with its own database."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    running = Sandbox(tmp_path / "sandbox.sqlite3", port=0)
    url = await running.start()
    yield running, url
    await running.stop()


async def test_the_page_api_drives_the_bot(sandbox: tuple[Sandbox, str]) -> None:
    """The page sends as a demo user, presses buttons, and sees the bot's answers."""
    running, url = sandbox
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as page:
            assert "NATARS triage bot — sandbox" in await page.text()
        async with http.post(
            f"{url}/api/send", json={"user_id": 1001, "chat_id": 1001, "text": "/new"}
        ) as sent:
            assert sent.status == 200
        await running.api.wait_for(lambda: len(running.api.bot_messages(1001)) == 1)
        async with http.get(f"{url}/api/state") as response:
            state = await response.json()
        [question] = [m for m in state["panels"]["surgeon"]["messages"] if m["bot"]]
        assert question["buttons"] == [["No number yet"]]
        assert state["panels"]["mdt"]["chat_id"] == MDT_CHAT
        press = {
            "user_id": 1001,
            "chat_id": 1001,
            "message_id": question["id"],
            "row": 0,
            "column": 0,
        }
        # A person reads before pressing: the bot refuses presses within a second of a screen.
        await asyncio.sleep(1.1)
        async with http.post(f"{url}/api/press", json=press) as pressed:
            assert pressed.status == 200
        await running.api.wait_for(
            lambda: "Patient's age" in running.api.bot_messages(1001)[-1]["text"]
        )
        async with http.get(
            f"{url}/api/state", params={"after": str(state["version"])}
        ) as response:
            assert (await response.json())["version"] > state["version"]


async def test_a_taken_port_is_one_clear_line(tmp_path: Path) -> None:
    """If the port is in use, the sandbox says so and suggests --port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            ConfigError, match=rf"port {port} is taken: try natars-bot sandbox --port"
        ):
            await Sandbox(tmp_path / "s.sqlite3", port).start()


# The surgeon's answers for a complete UPS referral: a button label to press (the first button
# with that label, as two rows of one screen may both have a "Yes"), or text to type. On the
# checklist, a slip: "Second malignancy" ticked, its exclusion shown at once, the tick undone;
# the MDT's two assessments by the rows screen's one-tap usual result.
SURGEON_STEPS = [
    ("press", "No number yet"), ("type", "58"), ("press", "Male"), ("press", "UPS"),
    ("press", "Yes"), ("type", "18 cm"), ("press", "Retroperitoneum"),
    ("press", "☐ Second malignancy"), ("press", "✏ Change this answer"),
    ("press", "None of these applies ✓"),
    ("press", "None"), ("press", "Yes"), ("press", "Normal"), ("type", "ASA II"),
    ("press", "✓ Both yes: R0/R1 resectable, fit"), ("press", "Signed"),
    ("type", "Large left-sided mass"), ("press", "✅ Submit to MDT"),
]  # fmt: skip


@pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here: apt-get install chromium (.ci/run does)"
)
async def test_the_whole_flow_in_a_browser(sandbox: tuple[Sandbox, str]) -> None:
    """In headless Chromium: a referral by buttons and typing, two approvals in the MDT panel,
    the surgeon's notification, and an export; a screenshot is kept in test-artifacts/."""
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is a dev extra")
    _, url = sandbox
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        page.set_default_timeout(15_000)
        await page.goto(url)
        surgeon = page.locator("#surgeon")

        async def last_bot_text() -> str:
            messages = surgeon.locator(".msg:not(.mine)")
            return await messages.last.inner_text() if await messages.count() else ""

        async def step(kind: str, value: str) -> None:
            before = await last_bot_text()
            if kind == "press":
                # As a person would: read first (presses within a second of a screen are
                # refused as the second tap of a double tap).
                await asyncio.sleep(1.1)
                await (
                    surgeon.locator(".msg")
                    .last.get_by_role("button", name=value, exact=True)
                    .first.click()
                )
            else:
                await surgeon.locator("input").fill(value)
                await surgeon.locator("form button").click()
            await page.wait_for_function(
                """before => {
                    const bots = document.querySelectorAll('#surgeon .msg:not(.mine)');
                    return bots.length && bots[bots.length - 1].innerText !== before;
                }""",
                arg=before,
            )

        await step("type", "/new")
        for kind, value in SURGEON_STEPS:
            await step(kind, value)
            if value == "☐ Second malignancy":
                # The exclusion a tick causes is shown at once, with its criterion.
                assert "INC-03" in await last_bot_text()
        await surgeon.get_by_text("is submitted to the MDT").wait_for()
        # The checklist stays in the chat as the record of what was answered.
        await surgeon.get_by_text("None of: resection, chemotherapy").first.wait_for()

        mdt = page.locator("#mdt")
        await mdt.get_by_text("NATARS referral NAT-2026-0001").wait_for()
        for reviewer in ("3001", "3002"):
            await page.select_option("#mdt-who", reviewer)
            await mdt.get_by_role("button", name="✅ Approve for enrolment").click()
            await page.wait_for_timeout(300)
        # The bot's answer to a press shows as a toast, as Telegram shows it.
        await page.locator("#toasts .toast", has_text="Recorded").first.wait_for()
        await mdt.get_by_text("Decision: ✅ Approved for enrolment").wait_for()
        await surgeon.get_by_text("MDT decision on NAT-2026-0001").wait_for()

        coordinator = page.locator("#coordinator")
        await coordinator.locator("input").fill("/export")
        await coordinator.locator("form button").click()
        link = coordinator.locator("a.doc", has_text=".csv")
        await link.wait_for()
        async with page.expect_download() as download_info:
            await link.click()
        download = await download_info.value
        data = Path(await download.path()).read_bytes()
        [row] = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
        assert (row["referral_id"], row["mdt_decision"]) == ("NAT-2026-0001", "approved")

        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "sandbox.png"), full_page=True)
        await browser.close()


async def test_a_double_click_in_the_page_answers_one_question(
    sandbox: tuple[Sandbox, str],
) -> None:
    """Two clicks 0.15 s apart at the same spot: the first answers, the second (on whatever is
    under the pointer then) records nothing and gets an alert; a vanished button is a 400."""
    running, url = sandbox
    async with aiohttp.ClientSession() as http:

        async def send(text: str) -> None:
            body = {"user_id": 1001, "chat_id": 1001, "text": text}
            async with http.post(f"{url}/api/send", json=body) as sent:
                assert sent.status == 200

        async def press(message_id: int) -> int:
            body = {"user_id": 1001, "chat_id": 1001, "message_id": message_id}
            async with http.post(f"{url}/api/press", json={**body, "row": 0, "column": 0}) as r:
                return r.status

        await send("/new")
        await running.api.wait_for(lambda: len(running.api.bot_messages(1001)) == 1)
        await send("S-1")
        await running.api.wait_for(
            lambda: "Patient's age" in running.api.bot_messages(1001)[-1]["text"]
        )
        await send("62")
        await running.api.wait_for(lambda: "Sex?" in running.api.bot_messages(1001)[-1]["text"])
        question = running.api.bot_messages(1001)[-1]
        await asyncio.sleep(1.1)
        assert await press(question["message_id"]) == 200  # "Female"
        await running.api.wait_for(
            lambda: "Histology" in running.api.bot_messages(1001)[-1]["text"]
        )
        await asyncio.sleep(0.15)
        # Same spot, same message: its buttons are gone (the answer is shown in their place) …
        assert await press(question["message_id"]) == 400
        # … and the new question under the finger refuses a press so soon after it appeared.
        assert await press(running.api.bot_messages(1001)[-1]["message_id"]) == 200
        await running.api.wait_for(
            lambda: any("read the question" in a.get("text", "")
                        for a in running.api.callback_answers.values())
        )  # fmt: skip
    assert await draft_answers(running.database, 1001) == {
        "screening_number": "S-1",
        "age_years": 62,
        "sex": "female",
    }


@pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here: apt-get install chromium (.ci/run does)"
)
async def test_a_double_click_in_a_browser_answers_one_question(
    sandbox: tuple[Sandbox, str],
) -> None:
    """On a phone-sized page, a double click on an answer button: one answer stored, and the
    second click's alert shown as a toast."""
    playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is a dev extra")
    running, url = sandbox
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        page.set_default_timeout(15_000)
        await page.goto(url)
        surgeon = page.locator("#surgeon")
        for text, expect in (
            ("/new", "Screening number"),
            ("S-1", "Patient's age"),
            ("62", "Sex?"),
        ):
            await surgeon.locator("input").fill(text)
            await surgeon.locator("form button").click()
            await surgeon.locator(".msg:not(.mine)").last.get_by_text(expect).wait_for()
        await asyncio.sleep(1.1)  # read the question
        await (
            surgeon.locator(".msg").last.get_by_role("button", name="Female", exact=True).dblclick()
        )
        await surgeon.get_by_text("Histology").last.wait_for()
        await page.locator("#toasts .toast").first.wait_for()
        shown = await page.locator("#toasts .toast").all_inner_texts()
        assert any("Already answered" in t or "read the question" in t for t in shown), shown
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "sandbox-double-click.png"))
        await browser.close()
    assert await draft_answers(running.database, 1001) == {
        "screening_number": "S-1",
        "age_years": 62,
        "sex": "female",
    }
