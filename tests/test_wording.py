"""Messages exist in every language, every template renders, and the longest fits Telegram."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.taps import walk
from natars_bot.bot import screens
from natars_bot.bot.cases import case_text
from natars_bot.bot.mdt_screens import (
    compose_decision,
    compose_reminder,
    compose_summary,
    compose_tally,
)
from natars_bot.bot.services import Services
from natars_bot.dialogue.engine import DialogueState, on_screen, open_section
from natars_bot.dialogue.flow import default_flow
from natars_bot.dialogue.wording import default_wording, load_wording, split_html
from natars_bot.errors import FlowError
from natars_bot.mdt.rules import Ballot, Decision, Vote
from natars_bot.protocol.criteria import default_protocol
from natars_bot.protocol.eligibility import evaluate
from natars_bot.protocol.referral import Referral
from natars_bot.resources import resource_dir
from natars_bot.sandbox.local_api import MAX_TEXT, check_html
from natars_bot.store import ReferralRow, SubmissionRow

from .helpers import ELIGIBLE

WORDING = default_wording()
LANGUAGES = default_flow().languages


def _services() -> Services:
    return Services(store=None, flow=default_flow(), protocol=default_protocol(), wording=WORDING)  # type: ignore[arg-type]


def _submission(state: DialogueState) -> SubmissionRow:
    return SubmissionRow(
        1, 1, "NAT-2026-0001", 1, "A", 2, state, "needs_review", (), (), "v1",
        "2026-11-25T09:00:00+00:00", None, None, None, None, None,
    )  # fmt: skip


def test_a_long_summary_is_split_between_lines() -> None:
    """Every part fits Telegram's limit and is valid HTML on its own."""
    services = _services()
    text = compose_summary(services, _submission(DialogueState()), None, "Dr A")[0].text
    parts = split_html(text * 3, 700)
    assert len(parts) > 3
    for part in parts:
        assert len(check_html(part)) <= 700
    assert "".join(p.replace("\n", "") for p in parts) == (text * 3).replace("\n", "")


def _row(state: DialogueState) -> ReferralRow:
    opened, updated = "2026-11-25T09:00:00+00:00", "2026-11-25T09:30:00+00:00"
    return ReferralRow(
        1, "NAT-2026-0001", 1, "A", "draft", 1, state, None, None, opened, updated, None
    )


def test_every_message_exists_in_every_language() -> None:
    """messages.yaml has every key in English and Chinese."""
    for key, texts in WORDING.messages.items():
        assert set(LANGUAGES) <= set(texts), key


def test_a_missing_translation_is_named(tmp_path: Path) -> None:
    """A message without its Chinese text stops loading, naming file and key."""
    (tmp_path / "messages.yaml").write_text('hello: {en: "Hello"}\n', encoding="utf-8")
    with pytest.raises(FlowError, match=r"messages\.yaml: question hello: no 'zh' translation"):
        load_wording(tmp_path / "messages.yaml", resource_dir("templates"), LANGUAGES)


def test_a_template_with_a_syntax_error_is_named(tmp_path: Path) -> None:
    """Templates compile at load time."""
    (tmp_path / "broken.html.j2").write_text("{% if %}", encoding="utf-8")
    with pytest.raises(FlowError, match=r"broken\.html\.j2: line 1"):
        load_wording(resource_dir("conversations") / "messages.yaml", tmp_path, LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_renders_valid_telegram_html(language: str) -> None:
    """Question, review, verdict, early-fail and status screens are HTML Telegram accepts."""
    services = _services()
    empty = _row(DialogueState())
    texts = [
        screens.question_screen(services, language, empty)[0],
        screens.review_screen(services, language, empty)[0],
        screens.verdict_screen(services, language, empty, evaluate(Referral()), True)[0],
        screens.failed_now_screen(services, language, empty, WORDING.text(language, "yes"), [])[0],
        WORDING.render(
            "status.html.j2", language, rows=[{"public_id": "N", "status_text": "x", "date": "d"}]
        ),
    ]
    submission = _submission(DialogueState(answers={"note": "x" * 500}))
    ballots = [
        Ballot(7, "Dr <Chen>", Vote.not_eligible, "metastatic & large", "2026-11-25T10:00:00+00:00")
    ]
    mdt = replace(services, mdt_language=language)
    texts += [o.text for o in compose_summary(mdt, submission, submission, "Dr A")]
    texts.append(compose_tally(mdt, submission, None, "Dr A", ballots, Decision.declined).text)
    texts.append(compose_decision(mdt, submission, ballots, Decision.more_info, language).text)
    texts.append(
        compose_reminder(mdt, submission, ballots, datetime(2026, 11, 28, tzinfo=UTC)).text
    )
    referral = _row(DialogueState(answers={"histology": "UPS"}))
    texts.append(case_text(services, language, referral, [(submission, ballots)]))
    texts.append(WORDING.render("cases.html.j2", language, cases=[], first=0, last=0, filters=""))
    for name in ("pathology_tests", "exclusions"):  # the rows screen and the checklist
        state = DialogueState()
        while (group := on_screen(services.flow, state)) is None or group.name != name:
            state = walk(services.flow, {"histology": "DDLPS"}, state, limit=1).state
        texts.append(screens.question_screen(services, language, _row(state))[0])
    done = walk(services.flow, {"histology": "DDLPS"}).state
    listed = open_section(services.flow, done, "tumour")
    assert isinstance(listed, DialogueState)
    texts.append(screens.section_screen(services, language, _row(listed))[0])
    texts.append(screens.review_screen(services, language, _row(done))[0])
    templates = {name for name in WORDING.templates.list_templates() if name.endswith(".j2")}
    assert len(templates) == 14  # each rendered above
    for text in texts:
        assert len(check_html(text)) <= MAX_TEXT


# The longest verdicts: nothing known, and every criterion that can be open for a judgement
# (which shows its interpretation) open for one, with the most open criteria (DDLPS, a woman).
LONGEST = [
    Referral(),
    Referral(histology="DDLPS", sex="female"),
    Referral(
        histology="DDLPS", sex="female", histologically_proven=False, ihc_mdm2="equivocal",
        ihc_cdk4="negative", r0_r1_resectable="not_assessed", consent="pending",
        fit_for_chemo_and_surgery="not_assessed", psychological_condition=True,
        metastasis="equivocal",
    ),
    Referral(
        histology="SFT", sex="female", age_years=40, tumor_size_cm=6.0, sft_mitoses_per_2mm2=0,
        sft_necrosis_percent=50.0, sft_risk_score=6, histologically_proven=False,
        metastasis="equivocal", psychological_condition=True,
    ),
]  # fmt: skip


@pytest.mark.parametrize("referral", LONGEST)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_longest_verdict_fits_one_message(language: str, referral: Referral) -> None:
    """Every criterion open, with reasons and interpretations, still renders under Telegram's
    4096 characters."""
    text = screens.verdict_screen(
        _services(), language, _row(DialogueState()), evaluate(referral), True
    )[0]
    assert len(check_html(text)) <= MAX_TEXT


def test_user_text_is_escaped() -> None:
    """A note with markup is shown as text, not interpreted as HTML."""
    text = WORDING.text("en", "answer_recorded", label="Note", value="<b>x</b> & y")
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in text
    assert check_html(str(text)) == "✓ Note: <b>x</b> & y"


def test_an_eligible_verdict_reads_well() -> None:
    """The eligible SFT verdict names the risk score in words."""
    assessment = evaluate(Referral.model_validate(ELIGIBLE["SFT"]))
    text = screens.verdict_screen(_services(), "en", _row(DialogueState()), assessment, False)[0]
    assert "Eligible on the information given" in text
    assert "SFT risk score 6 (high risk)" in text


def test_a_message_key_defined_in_two_files_is_named_with_both(tmp_path: Path) -> None:
    first, second = tmp_path / "messages.yaml", tmp_path / "messages-mdt.yaml"
    first.write_text("hello: {en: Hello, zh: 你好}\n", encoding="utf-8")
    second.write_text("hello: {en: Hi, zh: 嗨}\n", encoding="utf-8")
    with pytest.raises(FlowError, match=r"messages-mdt.yaml.*hello.*defined in messages.yaml"):
        load_wording([first, second], resource_dir("templates"), LANGUAGES)
    second.write_text("bye: {en: Bye, zh: 再见}\n", encoding="utf-8")
    wording = load_wording([first, second], resource_dir("templates"), LANGUAGES)
    assert wording.text("zh", "bye") == "再见"
