"""Referrals used across the tests: complete eligible ones per histology, and variations."""

from __future__ import annotations

from typing import Any

from natars_bot.protocol.eligibility import Assessment, Outcome, evaluate
from natars_bot.protocol.referral import Referral

COMMON: dict[str, Any] = {
    "referral_id": "T-1",
    "site": "Beijing Friendship Hospital",
    "age_years": 50,
    "sex": "female",
    "histologically_proven": True,
    "tumor_size_cm": 14.0,
    "origin": "retroperitoneum",
    "prior_resection": False,
    "prior_chemotherapy": False,
    "prior_radiotherapy": False,
    "prior_targeted_therapy": False,
    "prior_anthracycline_or_ifosfamide": False,
    "second_malignancy": False,
    "crosses_diaphragm": False,
    "chest_cavity_protrusion": False,
    "metastasis": "none",
    "pet_ct_done": True,
    "r0_r1_resectable": "yes",
    "organ_function": "normal",
    "fit_for_chemo_and_surgery": "yes",
    "asa_class": 2,
    "severe_event_last_6_months": False,
    "infection_or_bleeding_surgery_last_month": False,
    "pregnant_or_breastfeeding": False,
    "unwilling_contraception": False,
    "psychological_condition": False,
    "consent": "signed",
}

ELIGIBLE: dict[str, dict[str, Any]] = {
    "DDLPS": {
        **COMMON,
        "histology": "DDLPS",
        "grade": 2,
        "ihc_mdm2": "positive",
        "ihc_cdk4": "positive",
        "fish_mdm2": "amplified",
    },
    "LMS": {**COMMON, "histology": "LMS", "grade": 3, "tumor_size_cm": 12.0},
    "UPS": {**COMMON, "histology": "UPS", "grade": 3},
    # 60 years (1) + 16 cm (3) + 4 mitoses (2) + 5 % necrosis (0) = 6: high risk.
    "SFT": {
        **COMMON,
        "histology": "SFT",
        "age_years": 60,
        "tumor_size_cm": 16.0,
        "sft_mitoses_per_2mm2": 4,
        "sft_necrosis_percent": 5.0,
    },
}


def referral(base: str = "UPS", **changes: Any) -> Referral:
    """The eligible referral `ELIGIBLE[base]` with some answers changed (None: not known)."""
    return Referral.model_validate({**ELIGIBLE[base], **changes})


def assess(base: str = "UPS", **changes: Any) -> Assessment:
    """evaluate() on `referral(base, **changes)`."""
    return evaluate(referral(base, **changes))


def outcome(criterion_id: str, base: str = "UPS", **changes: Any) -> Outcome:
    """The outcome of one criterion for `referral(base, **changes)`."""
    return assess(base, **changes).result(criterion_id).outcome
