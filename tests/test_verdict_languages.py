"""The verdict and the MDT summary for any referral (hypothesis): Chinese but for the citations,
English with no raw value, and the verdict always within one Telegram message."""

from __future__ import annotations

import re

from hypothesis import given, settings

from natars_bot.bot.screens import verdict_text
from natars_bot.dialogue.wording import default_wording
from natars_bot.protocol.eligibility import Assessment, Outcome, evaluate
from natars_bot.protocol.referral import Referral
from natars_bot.sandbox.local_api import MAX_TEXT, check_html

from .helpers import referral
from .test_e2e_chinese import english_left
from .test_properties import referrals

WORDING = default_wording()


def _results(assessment: Assessment, outcome: Outcome) -> list[object]:
    return [r for r in assessment.results if r.outcome is outcome]


def verdict(assessment: Assessment, language: str) -> str:
    """The verdict's text as bot/screens.py renders it."""
    return verdict_text(WORDING, language, "NAT-2026-0001", assessment, True)


def summary(assessment: Assessment, language: str) -> str:
    """mdt_summary.html.j2 as bot/mdt_screens.py renders it (without the answers' rows)."""
    return WORDING.render(
        "mdt_summary.html.j2",
        language,
        referral="NAT-2026-0001",
        version=1,
        # Names as the group would see them, in the summary's language.
        site="复旦大学附属中山医院" if language == "zh" else "Zhongshan Hospital",
        surgeon="李医生" if language == "zh" else "Dr Li",
        submitted="2026-12-03 14:05 北京时间" if language == "zh" else "2026-12-03 14:05 CST",
        changes=[],
        rows=[],
        assessment=assessment,
        failed=_results(assessment, Outcome.failed),
        unknown=_results(assessment, Outcome.unknown),
        note=None,
    )


@settings(max_examples=300)
@given(referrals())
def test_any_verdict_reads_in_chinese(referral: Referral) -> None:
    """No English in the Chinese verdict or summary but the citations and usual terms."""
    assessment = evaluate(referral)
    for text in (verdict(assessment, "zh"), summary(assessment, "zh")):
        assert english_left(check_html(text)) == [], text


@settings(max_examples=300)
@given(referrals())
def test_any_english_verdict_names_values_as_words(referral: Referral) -> None:
    """No enum value ("gi_tract", "not_assessed") and no Chinese in the English texts."""
    assessment = evaluate(referral)
    for text in (verdict(assessment, "en"), summary(assessment, "en")):
        plain = check_html(text)
        assert "_" not in plain and not re.search(r"\bgi\b", plain), plain
        assert not re.search(r"[\u4e00-\u9fff]", plain), plain


@settings(max_examples=300)
@given(referrals())
def test_any_verdict_fits_one_message(referral: Referral) -> None:
    """The verdict screen is one message: within Telegram's 4096 characters in every language."""
    assessment = evaluate(referral)
    for language in ("en", "zh"):
        assert len(check_html(verdict(assessment, language))) <= MAX_TEXT


def test_an_open_criterion_shows_its_interpretation_too() -> None:
    """Grade not stated: INC-04 is open only for that answer, and its interpretation is shown
    on the verdict and in the MDT summary, in the reader's language."""
    assessment = evaluate(referral("DDLPS", grade=None))
    criterion = assessment.result("INC-04").criterion
    for language in ("en", "zh"):
        interpretation = criterion.interpretation_in(language)
        assert interpretation and interpretation in verdict(assessment, language)
        assert interpretation in summary(assessment, language)
