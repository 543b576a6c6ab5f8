"""The referral model: the spec's fields exactly, all optional, strict about types and ranges."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from natars_bot.protocol.referral import Referral, referral_json_schema

SPEC = Path(__file__).parents[2] / "shared" / "spec" / "referral.md"


def test_fields_match_the_spec_table() -> None:
    """Every field of shared/spec/referral.md is on the model, and no other."""
    if not SPEC.exists():
        pytest.skip(f"the spec is not beside this checkout ({SPEC})")
    table = [line for line in SPEC.read_text("utf-8").splitlines() if line.startswith("| `")]
    spec_fields = {
        name for line in table for name in re.findall(r"`([a-z0-9_]+)`", line.split("|")[1])
    }
    assert spec_fields == set(Referral.model_fields)


def test_every_field_is_optional() -> None:
    """An empty referral is valid: nothing known yet."""
    assert all(value is None for value in Referral().model_dump().values())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("age_years", -1),
        ("age_years", 121),
        ("age_years", 40.5),
        ("age_years", "40"),
        ("grade", 0),
        ("grade", 4),
        ("tumor_size_cm", 0),
        ("tumor_size_cm", -3.0),
        ("tumor_size_cm", "12"),
        ("tumor_size_cm", float("nan")),
        ("sft_necrosis_percent", 100.5),
        ("sft_risk_score", 8),
        ("asa_class", 7),
        ("asa_class", 0),
        ("prior_resection", 1),
        ("prior_resection", "yes"),
        ("histology", "ddlps"),
        ("origin", "stomach"),
        ("consent", True),
        ("referral_id", 17),
        ("tumour_size_cm", 12.0),
    ],
)
def test_wrong_types_and_ranges_are_refused(field: str, value: Any) -> None:
    """Nothing is coerced: "12" is not 12, 1 is not true, an unknown field is an error."""
    with pytest.raises(ValidationError) as raised:
        Referral.model_validate_json(json.dumps({field: value}))
    assert raised.value.errors()[0]["loc"] == (field,)


def test_json_integers_are_accepted_as_numbers() -> None:
    """A size written as 12 is 12.0 cm."""
    assert Referral.model_validate_json('{"tumor_size_cm": 12}').tumor_size_cm == 12.0


def test_the_schema_describes_every_field() -> None:
    """`natars-bot schema` lists every field and forbids others."""
    schema = referral_json_schema()
    assert set(schema["properties"]) == set(Referral.model_fields)
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    ("document", "valid"),
    [
        ({"sex": "male", "pregnant_or_breastfeeding": True}, False),
        ({"pregnant_or_breastfeeding": True, "sex": "male"}, False),  # key order does not matter
        ({"sex": "male", "pregnant_or_breastfeeding": False}, True),
        ({"sex": "male", "pregnant_or_breastfeeding": None}, True),
        ({"sex": "female", "pregnant_or_breastfeeding": True}, True),
        ({"sex": None, "pregnant_or_breastfeeding": True}, True),
    ],
)
def test_a_man_recorded_as_pregnant_is_refused(document: dict[str, Any], valid: bool) -> None:
    """Spec revision 2, EXC-09: `sex: male` with pregnancy is invalid input naming the field."""
    text = json.dumps(document)
    if valid:
        Referral.model_validate_json(text)
        return
    with pytest.raises(ValidationError) as raised:
        Referral.model_validate_json(text)
    assert raised.value.errors()[0]["loc"] == ("pregnant_or_breastfeeding",)


def test_ihc_has_the_equivocal_value() -> None:
    """Spec revision 2, INC-04: weak or focal staining is `equivocal`, for both IHC fields."""
    referral = Referral.model_validate_json('{"ihc_mdm2": "equivocal", "ihc_cdk4": "equivocal"}')
    assert (referral.ihc_mdm2, referral.ihc_cdk4) == ("equivocal", "equivocal")
