"""Hypothesis strategies for referrals: any valid referral, every field possibly unknown."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from natars_bot.protocol.referral import (
    Consent,
    FishResult,
    Histology,
    IhcResult,
    MdtAssessment,
    Metastasis,
    OrganFunction,
    Origin,
    Referral,
    Sex,
)

BOOLEAN_FIELDS = [
    name for name, info in Referral.model_fields.items() if "bool" in str(info.annotation)
]
FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "age_years": st.integers(0, 120),
    "sex": st.sampled_from(Sex),
    "histology": st.sampled_from(Histology),
    "grade": st.integers(1, 3),
    "tumor_size_cm": st.floats(0.1, 200, allow_nan=False),
    "origin": st.sampled_from(Origin),
    "ihc_mdm2": st.sampled_from(IhcResult),
    "ihc_cdk4": st.sampled_from(IhcResult),
    "fish_mdm2": st.sampled_from(FishResult),
    "sft_mitoses_per_2mm2": st.integers(0, 1000),
    "sft_necrosis_percent": st.floats(0, 100, allow_nan=False),
    "sft_risk_score": st.integers(0, 7),
    "metastasis": st.sampled_from(Metastasis),
    "r0_r1_resectable": st.sampled_from(MdtAssessment),
    "organ_function": st.sampled_from(OrganFunction),
    "fit_for_chemo_and_surgery": st.sampled_from(MdtAssessment),
    "asa_class": st.integers(1, 6),
    "consent": st.sampled_from(Consent),
    **{name: st.booleans() for name in BOOLEAN_FIELDS},
}
ANSWERABLE = sorted(FIELD_VALUES)


@st.composite
def referrals(draw: st.DrawFn) -> Referral:
    """A valid referral with a random subset of its questions answered."""
    answers = {name: draw(st.none() | strategy) for name, strategy in FIELD_VALUES.items()}
    if answers["sex"] == Sex.male and answers["pregnant_or_breastfeeding"]:
        answers["pregnant_or_breastfeeding"] = False  # refused as input (spec revision 2)
    return Referral(**answers)
