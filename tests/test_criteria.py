"""Each criterion of shared/spec/criteria.md, with its boundaries, one table row per case."""

from __future__ import annotations

from typing import Any

import pytest

from natars_bot.protocol.criteria import default_protocol
from natars_bot.protocol.eligibility import Outcome, Verdict
from natars_bot.protocol.referral import (
    Consent,
    FishResult,
    Histology,
    IhcResult,
    MdtAssessment,
    Metastasis,
    OrganFunction,
    Origin,
)

from .helpers import ELIGIBLE, assess, outcome

P, F, U, NA = Outcome.passed, Outcome.failed, Outcome.unknown, Outcome.not_applicable

# (criterion, histology, changed answers, expected outcome)
CASES: list[tuple[str, str, dict[str, Any], Outcome]] = [
    # INC-01 histologically proven DDLPS/LMS/UPS/SFT
    ("INC-01", "UPS", {}, P),
    ("INC-01", "UPS", {"histology": "WDLPS"}, F),
    ("INC-01", "UPS", {"histology": "other"}, F),
    ("INC-01", "UPS", {"histology": None}, U),
    ("INC-01", "UPS", {"histologically_proven": False}, U),
    ("INC-01", "UPS", {"histologically_proven": None}, U),
    ("INC-01", "UPS", {"histology": "other", "histologically_proven": False}, F),
    # INC-02 primary: no prior resection, chemo, RT, targeted therapy
    ("INC-02", "UPS", {}, P),
    ("INC-02", "UPS", {"prior_resection": True}, F),
    ("INC-02", "UPS", {"prior_chemotherapy": True}, F),
    ("INC-02", "UPS", {"prior_radiotherapy": True}, F),
    ("INC-02", "UPS", {"prior_targeted_therapy": True}, F),
    ("INC-02", "UPS", {"prior_resection": None}, U),
    ("INC-02", "UPS", {"prior_targeted_therapy": None}, U),
    ("INC-02", "UPS", {"prior_resection": None, "prior_chemotherapy": True}, F),
    # INC-03 no second malignancy
    ("INC-03", "UPS", {"second_malignancy": True}, F),
    ("INC-03", "UPS", {"second_malignancy": None}, U),
    # INC-04 DDLPS: IHC, FISH, grade 2-3 (revision 2: FISH amplification outweighs a negative IHC;
    # every IHC x FISH pair is in test_every_ihc_and_fish_pair below)
    ("INC-04", "DDLPS", {}, P),
    ("INC-04", "DDLPS", {"grade": 1}, F),
    ("INC-04", "DDLPS", {"grade": 2}, P),
    ("INC-04", "DDLPS", {"grade": 3}, P),
    ("INC-04", "DDLPS", {"grade": None}, U),
    ("INC-04", "DDLPS", {"ihc_mdm2": "negative"}, U),  # FISH amplified: the MDT adjudicates
    ("INC-04", "DDLPS", {"ihc_cdk4": "negative"}, U),
    ("INC-04", "DDLPS", {"ihc_mdm2": "negative", "fish_mdm2": "not_done"}, F),
    ("INC-04", "DDLPS", {"ihc_cdk4": "negative", "fish_mdm2": "not_amplified"}, F),
    ("INC-04", "DDLPS", {"ihc_mdm2": "negative", "fish_mdm2": None}, U),  # FISH still to come
    ("INC-04", "DDLPS", {"ihc_mdm2": "equivocal"}, U),
    ("INC-04", "DDLPS", {"ihc_cdk4": "equivocal", "fish_mdm2": "amplified"}, U),
    ("INC-04", "DDLPS", {"ihc_mdm2": "not_done"}, U),
    ("INC-04", "DDLPS", {"ihc_cdk4": None}, U),
    ("INC-04", "DDLPS", {"fish_mdm2": "not_amplified"}, U),
    ("INC-04", "DDLPS", {"fish_mdm2": "not_done"}, P),
    ("INC-04", "DDLPS", {"fish_mdm2": None}, P),
    ("INC-04", "DDLPS", {"grade": 1, "ihc_mdm2": "equivocal"}, F),
    ("INC-04", "LMS", {}, NA),
    ("INC-04", "UPS", {"histology": None}, NA),
    # INC-05 LMS: size >= 10 cm
    ("INC-05", "LMS", {"tumor_size_cm": 9.9}, F),
    ("INC-05", "LMS", {"tumor_size_cm": 10.0}, P),
    ("INC-05", "LMS", {"tumor_size_cm": 10}, P),
    ("INC-05", "LMS", {"tumor_size_cm": None}, U),
    ("INC-05", "LMS", {"grade": 1}, P),
    ("INC-05", "UPS", {"tumor_size_cm": 4.0}, NA),
    ("INC-05", "DDLPS", {"tumor_size_cm": 4.0}, NA),
    # INC-06 UPS: all grades
    ("INC-06", "UPS", {"grade": 1}, P),
    ("INC-06", "UPS", {"grade": None}, P),
    ("INC-06", "SFT", {}, NA),
    # INC-07 SFT: risk score >= 6, from the range the parts known allow (revision 2; every
    # combination is in test_sft_risk.py). The eligible SFT's parts give 1 + 3 + 2 + 0 = 6.
    ("INC-07", "SFT", {}, P),
    ("INC-07", "SFT", {"sft_mitoses_per_2mm2": 3}, F),  # 1 + 3 + 1 + 0 = 5
    ("INC-07", "SFT", {"sft_risk_score": 6}, P),  # agrees with the parts
    ("INC-07", "SFT", {"sft_risk_score": 5}, U),  # contradicts 6
    ("INC-07", "SFT", {"sft_risk_score": 6, "sft_mitoses_per_2mm2": 0}, U),  # contradicts 4
    ("INC-07", "SFT", {"sft_risk_score": 5, "sft_mitoses_per_2mm2": 9}, U),  # contradicts 6
    ("INC-07", "SFT", {"sft_necrosis_percent": None}, P),  # [6, 7]
    ("INC-07", "SFT", {"age_years": None}, U),  # [5, 6]
    ("INC-07", "SFT", {"age_years": None, "sft_risk_score": 6}, P),  # inside [5, 6]
    ("INC-07", "SFT", {"age_years": None, "sft_risk_score": 5}, F),  # inside [5, 6]
    ("INC-07", "SFT", {"age_years": None, "sft_risk_score": 7}, U),  # outside [5, 6]
    (
        "INC-07",
        "SFT",
        {
            "age_years": 40,
            "tumor_size_cm": 6.0,
            "sft_mitoses_per_2mm2": None,
            "sft_necrosis_percent": None,
        },
        F,
    ),  # [1, 4]
    ("INC-07", "UPS", {}, NA),
    # INC-08 not across the diaphragm
    ("INC-08", "UPS", {"crosses_diaphragm": True}, F),
    ("INC-08", "UPS", {"crosses_diaphragm": None}, U),
    # INC-09 R0/R1 resectable per MDT
    ("INC-09", "UPS", {"r0_r1_resectable": "yes"}, P),
    ("INC-09", "UPS", {"r0_r1_resectable": "no"}, F),
    ("INC-09", "UPS", {"r0_r1_resectable": "not_assessed"}, U),
    ("INC-09", "UPS", {"r0_r1_resectable": None}, U),
    # INC-10 organ function
    ("INC-10", "UPS", {"organ_function": "normal"}, P),
    ("INC-10", "UPS", {"organ_function": "slight_recoverable"}, P),
    ("INC-10", "UPS", {"organ_function": "persistent_dysfunction"}, F),
    ("INC-10", "UPS", {"organ_function": "multi_organ_failure"}, F),
    ("INC-10", "UPS", {"organ_function": None}, U),
    # INC-11 fit for chemotherapy and surgery
    ("INC-11", "UPS", {"fit_for_chemo_and_surgery": "yes"}, P),
    ("INC-11", "UPS", {"fit_for_chemo_and_surgery": "no"}, F),
    ("INC-11", "UPS", {"fit_for_chemo_and_surgery": "not_assessed"}, U),
    ("INC-11", "UPS", {"fit_for_chemo_and_surgery": None}, U),
    # INC-12 ASA <= 3
    *[("INC-12", "UPS", {"asa_class": asa}, P) for asa in (1, 2, 3)],
    *[("INC-12", "UPS", {"asa_class": asa}, F) for asa in (4, 5, 6)],
    ("INC-12", "UPS", {"asa_class": None}, U),
    # INC-13 consent
    ("INC-13", "UPS", {"consent": "signed"}, P),
    ("INC-13", "UPS", {"consent": "pending"}, U),
    ("INC-13", "UPS", {"consent": "declined"}, F),
    ("INC-13", "UPS", {"consent": None}, U),
    # INC-14 age 18-75
    ("INC-14", "UPS", {"age_years": 17}, F),
    ("INC-14", "UPS", {"age_years": 18}, P),
    ("INC-14", "UPS", {"age_years": 75}, P),
    ("INC-14", "UPS", {"age_years": 76}, F),
    ("INC-14", "UPS", {"age_years": 0}, F),
    ("INC-14", "UPS", {"age_years": 120}, F),
    ("INC-14", "UPS", {"age_years": None}, U),
    # EXC-01 origin
    ("EXC-01", "UPS", {"origin": "retroperitoneum"}, P),
    ("EXC-01", "UPS", {"origin": "gi_tract"}, F),
    ("EXC-01", "UPS", {"origin": "uterus"}, F),
    ("EXC-01", "UPS", {"origin": "urinary_tract"}, F),
    ("EXC-01", "UPS", {"origin": None}, U),
    # EXC-02 WDLPS, grade 1 LPS, other types
    ("EXC-02", "UPS", {"histology": "WDLPS"}, F),
    ("EXC-02", "UPS", {"histology": "other"}, F),
    ("EXC-02", "DDLPS", {"grade": 1}, F),
    ("EXC-02", "DDLPS", {"grade": 2}, P),
    ("EXC-02", "DDLPS", {"grade": None}, U),
    ("EXC-02", "UPS", {"histology": None}, U),
    ("EXC-02", "LMS", {"grade": 1}, P),
    ("EXC-02", "UPS", {"grade": 1}, P),
    ("EXC-02", "SFT", {"grade": None}, P),
    # EXC-03 chest cavity
    ("EXC-03", "UPS", {"chest_cavity_protrusion": True}, F),
    ("EXC-03", "UPS", {"chest_cavity_protrusion": None}, U),
    # EXC-04 metastasis
    ("EXC-04", "UPS", {"metastasis": "none"}, P),
    ("EXC-04", "UPS", {"metastasis": "equivocal"}, U),
    ("EXC-04", "UPS", {"metastasis": "highly_suspicious"}, F),
    ("EXC-04", "UPS", {"metastasis": "confirmed"}, F),
    ("EXC-04", "UPS", {"metastasis": None}, U),
    ("EXC-04", "UPS", {"pet_ct_done": False}, P),
    ("EXC-04", "UPS", {"pet_ct_done": None}, P),
    # EXC-05 previous anthracyclines, ifosfamide, targeted agents
    ("EXC-05", "UPS", {"prior_anthracycline_or_ifosfamide": True}, F),
    ("EXC-05", "UPS", {"prior_targeted_therapy": True}, F),
    ("EXC-05", "UPS", {"prior_anthracycline_or_ifosfamide": None}, U),
    ("EXC-05", "UPS", {"prior_targeted_therapy": None}, U),
    (
        "EXC-05",
        "UPS",
        {"prior_targeted_therapy": None, "prior_anthracycline_or_ifosfamide": True},
        F,
    ),
    # EXC-06 severe event within 6 months
    ("EXC-06", "UPS", {"severe_event_last_6_months": True}, F),
    ("EXC-06", "UPS", {"severe_event_last_6_months": None}, U),
    # EXC-07 infection or bleeding-risk surgery within a month
    ("EXC-07", "UPS", {"infection_or_bleeding_surgery_last_month": True}, F),
    ("EXC-07", "UPS", {"infection_or_bleeding_surgery_last_month": None}, U),
    # EXC-08 persistent organ dysfunction (same answer as INC-10)
    ("EXC-08", "UPS", {"organ_function": "slight_recoverable"}, P),
    ("EXC-08", "UPS", {"organ_function": "persistent_dysfunction"}, F),
    ("EXC-08", "UPS", {"organ_function": "multi_organ_failure"}, F),
    ("EXC-08", "UPS", {"organ_function": None}, U),
    # EXC-09 pregnancy, contraception
    ("EXC-09", "UPS", {"pregnant_or_breastfeeding": True}, F),
    ("EXC-09", "UPS", {"unwilling_contraception": True}, F),
    ("EXC-09", "UPS", {"pregnant_or_breastfeeding": None}, U),
    ("EXC-09", "UPS", {"unwilling_contraception": None}, U),
    ("EXC-09", "UPS", {"sex": "male", "pregnant_or_breastfeeding": None}, P),
    ("EXC-09", "UPS", {"sex": "male", "unwilling_contraception": None}, U),
    ("EXC-09", "UPS", {"sex": "male", "unwilling_contraception": True}, F),
    ("EXC-09", "UPS", {"sex": None, "pregnant_or_breastfeeding": None}, U),
    ("EXC-09", "UPS", {"sex": None}, P),
    # EXC-10 psychological conditions: MDT judges
    ("EXC-10", "UPS", {"psychological_condition": True}, U),
    ("EXC-10", "UPS", {"psychological_condition": False}, P),
    ("EXC-10", "UPS", {"psychological_condition": None}, U),
]


@pytest.mark.parametrize(
    ("criterion", "histology", "changes", "expected"),
    CASES,
    ids=[f"{c}-{h}-{v}-{e.value}" for c, h, v, e in CASES],
)
def test_criterion_outcome(
    criterion: str, histology: str, changes: dict[str, Any], expected: Outcome
) -> None:
    """Each criterion gives the outcome the spec's interpretation table prescribes."""
    assert outcome(criterion, histology, **changes) is expected


def test_every_criterion_has_a_row() -> None:
    """The table covers every criterion, and a fail or unknown case of each that can have one."""
    criteria = default_protocol().criteria
    assert {c.id for c in criteria} == {row[0] for row in CASES}
    decisive = {c.id for c in criteria if c.fail or c.unknown}
    assert decisive == {row[0] for row in CASES if row[3] in (F, U)}


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("histology", list(Histology)),
        ("origin", list(Origin)),
        ("ihc_mdm2", list(IhcResult)),
        ("ihc_cdk4", list(IhcResult)),
        ("fish_mdm2", list(FishResult)),
        ("metastasis", list(Metastasis)),
        ("r0_r1_resectable", list(MdtAssessment)),
        ("fit_for_chemo_and_surgery", list(MdtAssessment)),
        ("organ_function", list(OrganFunction)),
        ("consent", list(Consent)),
    ],
)
@pytest.mark.parametrize("histology", sorted(ELIGIBLE))
def test_every_enum_value_is_decided(field: str, values: list[Any], histology: str) -> None:
    """Every value of every enumeration gets a verdict, with a reason for every criterion."""
    for value in values:
        assessment = assess(histology, **{field: value.value})
        assert len(assessment.results) == len(default_protocol().criteria)
        assert all(result.reason for result in assessment.results)


@pytest.mark.parametrize("histology", sorted(ELIGIBLE))
def test_complete_referrals_are_eligible(histology: str) -> None:
    """The complete referral of each included histology passes every criterion that applies."""
    assessment = assess(histology)
    assert assessment.verdict is Verdict.eligible, [
        (r.id, r.reason) for r in assessment.results if r.outcome in (F, U)
    ]
    assert assessment.warnings == ()


@pytest.mark.parametrize(
    ("criterion", "histology", "changes", "reason"),
    [
        ("INC-05", "LMS", {"tumor_size_cm": 9.5}, "tumour 9.5 cm; LMS needs ≥ 10 cm"),
        ("INC-05", "LMS", {"tumor_size_cm": 10.0}, "tumour 10 cm (≥ 10 cm)"),
        ("INC-12", "UPS", {"asa_class": 4}, "ASA 4; needs ASA ≤ 3"),
        ("INC-14", "UPS", {"age_years": 76}, "age 76; the trial takes 18–75"),
        ("EXC-01", "UPS", {"origin": "gi_tract"}, "originates from the GI tract"),
        ("EXC-01", "UPS", {"origin": "urinary_tract"}, "originates from the urinary tract"),
        ("EXC-04", "UPS", {"metastasis": "confirmed"}, "metastasis confirmed pathologically"),
        (
            "INC-10",
            "UPS",
            {"organ_function": "multi_organ_failure"},
            "organ function: multi-organ failure",
        ),
        ("INC-07", "SFT", {"sft_mitoses_per_2mm2": 3}, "SFT risk score 5; needs ≥ 6"),
        (
            "INC-07",
            "SFT",
            {"sft_necrosis_percent": None},
            "SFT risk score 6–7 (high risk, ≥ 6)",
        ),
        (
            "INC-07",
            "SFT",
            {"sft_risk_score": 6, "sft_mitoses_per_2mm2": 0},
            "the given SFT risk score 6 contradicts its parts: "
            "age, size, mitoses and necrosis give 4",
        ),
        (
            "INC-04",
            "DDLPS",
            {"ihc_mdm2": "negative", "fish_mdm2": "not_done"},
            "MDM2 negative on IHC, and MDM2 FISH not done",
        ),
        ("INC-01", "UPS", {"histology": "other"}, "histology is not DDLPS, LMS, UPS or SFT"),
        ("INC-01", "UPS", {}, "UPS, histologically proven"),
        ("INC-04", "LMS", {}, "applies to DDLPS only; histology is LMS"),
        (
            "INC-04",
            "UPS",
            {"histology": "other"},
            "applies to DDLPS only; histology is another type",
        ),
        ("INC-07", "UPS", {"histology": None}, "applies to SFT only; histology not known yet"),
        (
            "INC-02",
            "UPS",
            {"prior_resection": True, "prior_radiotherapy": True},
            "previous surgical resection; previous radiotherapy",
        ),
    ],
)
def test_reasons_read_like_a_surgeon_would_say_them(
    criterion: str, histology: str, changes: dict[str, Any], reason: str
) -> None:
    """Reasons quote the answer and the threshold, and list every cause of a fail."""
    assert assess(histology, **changes).result(criterion).reason == reason


IHC = ["positive", "equivocal", "negative", "not_done", None]
FISH = ["amplified", "not_amplified", "not_done", None]


def _inc04_by_the_spec(mdm2: str | None, cdk4: str | None, fish: str | None) -> Outcome:
    """INC-04 for grade 2, as shared/spec/criteria.md (revision 2) words it."""
    ihcs = (mdm2, cdk4)
    if "negative" in ihcs and fish in ("not_amplified", "not_done"):
        return F
    if any(ihc in (None, "not_done", "equivocal") for ihc in ihcs):
        return U
    if "negative" in ihcs and fish in ("amplified", None):
        return U
    if fish == "not_amplified":
        return U
    return P


@pytest.mark.parametrize("fish", FISH)
@pytest.mark.parametrize("cdk4", IHC)
@pytest.mark.parametrize("mdm2", IHC)
def test_every_ihc_and_fish_pair(mdm2: str | None, cdk4: str | None, fish: str | None) -> None:
    """Every MDM2 × CDK4 IHC × FISH combination gives the spec's outcome; FISH not done or not
    stated is warned about whatever the outcome."""
    assessment = assess("DDLPS", ihc_mdm2=mdm2, ihc_cdk4=cdk4, fish_mdm2=fish)
    assert assessment.result("INC-04").outcome is _inc04_by_the_spec(mdm2, cdk4, fish)
    warned = [w.kind for w in assessment.warnings if w.id == "INC-04"]
    assert warned == (["recommended"] if fish in ("not_done", None) else [])


def test_a_negative_ihc_waits_for_fish() -> None:
    """Before the FISH answer a negative IHC is open, so the dialogue offers no early stop; each
    FISH answer then decides as the spec says (answering never removes a fail)."""
    waiting = assess("DDLPS", ihc_cdk4="negative", fish_mdm2=None)
    assert waiting.failed == () and "INC-04" in waiting.unknown
    assert "the MDM2 FISH result decides" in waiting.result("INC-04").reason
    outcomes = {
        fish: outcome("INC-04", "DDLPS", ihc_cdk4="negative", fish_mdm2=fish)
        for fish in ("amplified", "not_amplified", "not_done")
    }
    assert outcomes == {"amplified": U, "not_amplified": F, "not_done": F}
