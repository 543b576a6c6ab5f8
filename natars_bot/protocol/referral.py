"""The referral: what the triage dialogue collects and what `natars-bot check` reads.

This model is the single source of truth for the shape described in `shared/spec/referral.md`.
Every field is optional: a missing or `null` field means "not known yet" and makes the criteria
that read it `unknown`. Unknown field names are rejected, and so are values of the wrong type:
`Strict()` stops pydantic from turning `"12"` into `12.0` or `1` into `True`, because a referral
that silently changes meaning on the way in is worse than one that is refused with a clear message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "Consent",
    "FishResult",
    "Histology",
    "IhcResult",
    "MdtAssessment",
    "Metastasis",
    "OrganFunction",
    "Origin",
    "Referral",
    "Sex",
    "referral_json_schema",
]


class Sex(StrEnum):
    """Sex as recorded; decides whether the pregnancy question applies (EXC-09)."""

    female = "female"
    male = "male"


class Histology(StrEnum):
    """Histological subtype (INC-01, EXC-02)."""

    DDLPS = "DDLPS"
    LMS = "LMS"
    UPS = "UPS"
    SFT = "SFT"
    WDLPS = "WDLPS"
    other = "other"


class Origin(StrEnum):
    """Organ of origin (EXC-01)."""

    retroperitoneum = "retroperitoneum"
    gi_tract = "gi_tract"
    uterus = "uterus"
    urinary_tract = "urinary_tract"


class IhcResult(StrEnum):
    """Immunohistochemistry result for MDM2 or CDK4 (INC-04); equivocal: weak or focal staining."""

    positive = "positive"
    equivocal = "equivocal"
    negative = "negative"
    not_done = "not_done"


class FishResult(StrEnum):
    """MDM2 FISH result (INC-04)."""

    amplified = "amplified"
    not_amplified = "not_amplified"
    not_done = "not_done"


class Metastasis(StrEnum):
    """Metastatic status from pathology or imaging (EXC-04)."""

    none = "none"
    equivocal = "equivocal"
    highly_suspicious = "highly_suspicious"
    confirmed = "confirmed"


class MdtAssessment(StrEnum):
    """An answer that the MDT may not have given yet (INC-09, INC-11)."""

    yes = "yes"
    no = "no"
    not_assessed = "not_assessed"


class OrganFunction(StrEnum):
    """Organ and system function (INC-10, EXC-08)."""

    normal = "normal"
    slight_recoverable = "slight_recoverable"
    persistent_dysfunction = "persistent_dysfunction"
    multi_organ_failure = "multi_organ_failure"


class Consent(StrEnum):
    """Informed consent status (INC-13)."""

    signed = "signed"
    pending = "pending"
    declined = "declined"


# Strict scalar types: see the module docstring for why coercion is switched off.
StrictBool = Annotated[bool, Strict()]
StrictText = Annotated[str, Strict(), Field(min_length=1, max_length=200)]


# JSON integers are accepted where a number is expected (strict mode allows int -> float);
# NaN and infinity never are.
AgeYears = Annotated[int, Strict(), Field(ge=0, le=120)]
Grade = Annotated[int, Strict(), Field(ge=1, le=3, description="FNCLCC grade")]
SizeCm = Annotated[
    float, Strict(), Field(gt=0, le=200, allow_inf_nan=False, description="largest diameter")
]
MitosesCount = Annotated[int, Strict(), Field(ge=0, le=1000)]
Percent = Annotated[float, Strict(), Field(ge=0, le=100, allow_inf_nan=False)]
SftScore = Annotated[int, Strict(), Field(ge=0, le=7)]
AsaClass = Annotated[int, Strict(), Field(ge=1, le=6)]


class Referral(BaseModel):
    """One patient referral; every field optional, `None` meaning "not known yet"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    referral_id: StrictText | None = None
    site: StrictText | None = None
    age_years: AgeYears | None = None
    sex: Sex | None = None
    histology: Histology | None = None
    histologically_proven: StrictBool | None = None
    grade: Grade | None = None
    tumor_size_cm: SizeCm | None = None
    origin: Origin | None = None
    prior_resection: StrictBool | None = Field(
        default=None, description="laparotomy with biopsy only is false"
    )
    prior_chemotherapy: StrictBool | None = None
    prior_radiotherapy: StrictBool | None = None
    prior_targeted_therapy: StrictBool | None = None
    prior_anthracycline_or_ifosfamide: StrictBool | None = None
    second_malignancy: StrictBool | None = None
    ihc_mdm2: IhcResult | None = None
    ihc_cdk4: IhcResult | None = None
    fish_mdm2: FishResult | None = None
    sft_mitoses_per_2mm2: MitosesCount | None = None
    sft_necrosis_percent: Percent | None = None
    sft_risk_score: SftScore | None = Field(
        default=None, description="WHO SFT metastasis risk score, when given instead of its parts"
    )
    crosses_diaphragm: StrictBool | None = None
    chest_cavity_protrusion: StrictBool | None = None
    metastasis: Metastasis | None = None
    pet_ct_done: StrictBool | None = None
    r0_r1_resectable: MdtAssessment | None = None
    organ_function: OrganFunction | None = None
    fit_for_chemo_and_surgery: MdtAssessment | None = None
    asa_class: AsaClass | None = None
    severe_event_last_6_months: StrictBool | None = None
    infection_or_bleeding_surgery_last_month: StrictBool | None = None
    pregnant_or_breastfeeding: StrictBool | None = None
    unwilling_contraception: StrictBool | None = Field(
        default=None, description="of reproductive potential and unwilling to use contraception"
    )
    psychological_condition: StrictBool | None = None
    consent: Consent | None = None

    @field_validator("pregnant_or_breastfeeding")
    @classmethod
    def _men_are_not_pregnant(cls, value: bool | None, info: ValidationInfo) -> bool | None:
        """Refuse `sex: male` with pregnancy recorded (spec revision 2, EXC-09).

        A validator on this field rather than on the whole model, so that the error names
        `pregnant_or_breastfeeding` as any other invalid value does; `sex` is declared earlier
        and therefore already validated here.
        """
        if value is True and info.data.get("sex") is Sex.male:
            raise PydanticCustomError(
                "male_pregnant", "a man cannot be recorded as pregnant or breastfeeding"
            )
        return value


def referral_json_schema() -> dict[str, Any]:
    """The JSON Schema of a referral document, as `natars-bot schema` prints it."""
    schema = Referral.model_json_schema()
    schema["title"] = "NATARS referral"
    return schema
