"""The protocol loader, exactly: the whole message for each mistake (a mistake must be findable
from the message alone), and the criterion as compiled. Added for the mutants that substring
checks let survive (issue #19)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from natars_bot.errors import ProtocolError
from natars_bot.protocol.criteria import Protocol, default_protocol, load_protocol, parse_protocol
from natars_bot.protocol.eligibility import Outcome, evaluate
from natars_bot.protocol.referral import Histology

from .helpers import referral
from .test_protocol_definition import SHIPPED, _drop, _rule, _set, _without

MALFORMED = [
    (_set("INC-05", "reads", ["tumour_size"]), "INC-05: reads unknown field 'tumour_size'"),
    (
        _rule("INC-12", "fail", {"field": "asa", "gt": 3}),
        "INC-12: fail rule 2: tests 'asa', which is not in 'reads'",
    ),
    (
        _rule("EXC-01", "fail", {"field": "origin", "is": "stomach"}),
        "EXC-01: fail rule 2: 'stomach' is not a possible value of 'origin'",
    ),
    (
        _rule("INC-14", "fail", {"field": "age_years", "missing": True}),
        "INC-14: fail rule 3: a fail rule may not use 'missing' on 'age_years': it would match"
        " an unanswered question, and answering that question would remove the fail",
    ),
    (
        _rule("INC-12", "fail", {"field": "asa_class", "gt": 3, "lt": 9}),
        "INC-12: fail.1.when: condition on 'asa_class' needs exactly one of is, in, not_in, lt,"
        " le, gt, ge, missing (got 2)",
    ),
    (
        _rule("EXC-01", "fail", {"field": "origin", "lt": 3}),
        "EXC-01: fail rule 2: lt needs a numeric field, and 'origin' is not",
    ),
    (
        _rule("EXC-01", "fail", {"field": "origin", "ge": 3}),
        "EXC-01: fail rule 2: ge needs a numeric field, and 'origin' is not",
    ),
    (
        _rule("EXC-01", "fail", {"field": "origin", "le": 3}),
        "EXC-01: fail rule 2: le needs a numeric field, and 'origin' is not",
    ),
    (
        _rule("EXC-01", "fail", {"field": "origin", "gt": 3}),
        "EXC-01: fail rule 2: gt needs a numeric field, and 'origin' is not",
    ),
    (
        _rule("INC-12", "fail", {"field": "asa_class", "above": 3}),
        "INC-12: fail.1.when.above: Extra inputs are not permitted",
    ),
    (
        _set("INC-12", "pass", {"en": "ASA {asa}", "zh": "ASA {asa}"}),
        "INC-12: pass: the reason quotes {asa}, which is not a field or derived value",
    ),
    (_set("INC-09", "summary", {"en": "R0/R1"}), "INC-09: summary has no 'zh' text"),
    (_set("INC-09", "summary", "R0/R1"), "INC-09: summary: Input should be a valid dictionary"),
    (
        _set("INC-04", "interpretation", {"en": "x", "zh": " "}),
        "INC-04: interpretation has no 'zh' text",
    ),
    (
        _set("INC-12", "pass", {"en": "ASA", "zh": "ASA", "fr": "ASA"}),
        "INC-12: pass: 'fr' is not one of the protocol's languages",
    ),
    (_set("INC-12", "pass", {"en": "ASA"}), "INC-12: pass has no 'zh' text"),
    (_without("INC-13", "fail", 0, "zh"), "INC-13: fail rule 1: reason has no 'zh' text"),
    (_without("EXC-04", "warn", 0, "en"), "EXC-04: warn rule 1: reason has no 'en' text"),
    (
        _set("INC-08", "pass", {"en": "{crosses_diaphragm}", "zh": "{crosses_diaphragm}"}),
        "INC-08: pass (en): quotes {crosses_diaphragm}, a yes/no answer: write one rule per"
        " answer instead",
    ),
    (
        _set("INC-12", "kind", "exclusion"),
        "INC-12: an exclusion criterion's id must start with EXC-",
    ),
    (_set("INC-03", "id", "INC-02"), "INC-02: duplicate criterion id"),
    (_drop("EXC-04", "wording"), "EXC-04: wording: Field required"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_each_mistake_has_its_whole_message(change: Any, message: str) -> None:
    data = copy.deepcopy(SHIPPED)
    change(data)
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(yaml.safe_dump(data, allow_unicode=True), source="trial.yaml")
    assert str(raised.value) == f"trial.yaml: criterion {message}"


def _fresh() -> Protocol:
    """The shipped protocol compiled here and now (default_protocol() is cached: compiled once,
    before a test, so a test through it would not see a change in the compiler)."""
    return parse_protocol(yaml.safe_dump(SHIPPED, allow_unicode=True), source="natars-v1.yaml")


def test_a_criterion_is_compiled_as_written() -> None:
    """Wording with its line breaks folded, texts per language, what it applies to and reads."""
    assert [c.id for c in _fresh().criteria] == [c.id for c in default_protocol().criteria]
    criterion = _fresh().criterion("INC-04")
    assert (criterion.id, criterion.kind) == ("INC-04", "inclusion")
    assert criterion.wording.startswith("In DDLPS Diagnosis should be confirmed based on MDM2")
    assert "  " not in criterion.wording and "\n" not in criterion.wording
    assert criterion.summary == criterion.summaries["en"]
    assert criterion.summaries["zh"].startswith("DDLPS：免疫组化MDM2及CDK4表达")
    assert criterion.interpretations is not None
    assert criterion.interpretation == criterion.interpretations["en"]
    assert "\n" not in criterion.interpretations["zh"]
    assert criterion.summary_in("zh") == criterion.summaries["zh"]
    assert criterion.interpretation_in("zh") == criterion.interpretations["zh"]
    assert criterion.interpretation_in("xx") == criterion.interpretation
    assert criterion.applies_to == frozenset({Histology.DDLPS})
    assert criterion.reads == ("ihc_mdm2", "ihc_cdk4", "fish_mdm2", "grade")
    everyone = _fresh().criterion("EXC-04")
    assert (everyone.kind, everyone.applies_to) == ("exclusion", None)
    assert everyone.reads == ("metastasis", "pet_ct_done")
    with pytest.raises(KeyError):
        default_protocol().criterion("INC-99")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["criteria"][3].pop("id"), "criterion #4: id: Field required"),
        (
            lambda d: d["criteria"].__setitem__(3, "just text"),
            "criterion #4: Input should be a valid dictionary or instance of CriterionDef",
        ),
        (
            lambda d: d["criteria"][0].__setitem__("id", 7),
            "criterion #1: id: Input should be a valid string",
        ),
        (lambda d: d.__setitem__("criteria", "x"), "criteria: Input should be a valid list"),
        (lambda d: d.__setitem__("version", 3), "version: Input should be a valid string"),
    ],
)  # fmt: skip
def test_a_criterion_without_an_id_is_named_by_its_place(change: Any, message: str) -> None:
    data = copy.deepcopy(SHIPPED)
    change(data)
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(yaml.safe_dump(data, allow_unicode=True), source="trial.yaml")
    assert str(raised.value) == f"trial.yaml: {message}"


def test_a_file_is_named_by_its_name(tmp_path: Any) -> None:
    """load_protocol names the file (not its whole path) and reads it as UTF-8."""
    data = copy.deepcopy(SHIPPED)
    data["criteria"][0]["summary"]["zh"] = "病理证实 ✓"
    good = tmp_path / "revised.yaml"
    good.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_protocol(good).criterion("INC-01").summary_in("zh") == "病理证实 ✓"
    data["criteria"][0].pop("wording")
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ProtocolError) as raised:
        load_protocol(broken)
    assert str(raised.value) == "broken.yaml: criterion INC-01: wording: Field required"


def test_texts_fall_back_to_english_and_unknown_ids_are_named() -> None:
    criterion = default_protocol().criterion("INC-01")
    assert criterion.summary_in("fr") == criterion.summary
    with pytest.raises(KeyError) as raised:
        default_protocol().criterion("INC-99")
    assert raised.value.args == ("INC-99",)


def test_warnings_and_open_criteria_as_compiled() -> None:
    """A warn rule without a kind is a recommendation; an unknown rule matching only missing
    answers marks its result as waiting for an answer; a pass reason is given when nothing
    matched (compiled afresh, see _fresh)."""
    protocol = _fresh()
    data = copy.deepcopy(SHIPPED)
    exc04 = next(c for c in data["criteria"] if c["id"] == "EXC-04")
    for rule in exc04["warn"]:
        rule.pop("kind", None)
    revised = parse_protocol(yaml.safe_dump(data, allow_unicode=True), source="revised.yaml")
    no_pet = referral("UPS", pet_ct_done=False)
    assert [w.kind for w in evaluate(no_pet, revised).warnings if w.id == "EXC-04"] == [
        "recommended"
    ]
    waiting = evaluate(referral("DDLPS", grade=None), protocol).result("INC-04")
    assert (waiting.outcome, waiting.unanswered) == (Outcome.unknown, True)
    judged = evaluate(referral("DDLPS", ihc_mdm2="equivocal"), protocol).result("INC-04")
    assert (judged.outcome, judged.unanswered) == (Outcome.unknown, False)
    passed = evaluate(referral("UPS"), protocol).result("INC-12")
    assert passed.outcome is Outcome.passed and passed.reasons["en"] and passed.reasons["zh"]


_NOT_NUMERIC = "needs a numeric field, and 'sft_contradiction' is not"
_NOT_POSSIBLE = "is not a possible value of "


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"field": "sft_range", "is": 6},
            "'sft_range' is for quoting only; test sft_score_min/max instead",
        ),
        ({"field": "sft_score_min", "is": "six"}, f"'six' {_NOT_POSSIBLE}'sft_score_min'"),
        ({"field": "sft_score_min", "is": True}, "True is not a possible value of 'sft_score_min'"),
        ({"field": "sft_category", "is": 6}, "6 is not a possible value of 'sft_category'"),
        ({"field": "sft_contradiction", "is": 1}, f"1 {_NOT_POSSIBLE}'sft_contradiction'"),
        ({"field": "sft_contradiction", "lt": 1}, f"lt {_NOT_NUMERIC}"),
        ({"field": "sft_contradiction", "le": 1}, f"le {_NOT_NUMERIC}"),
        ({"field": "sft_contradiction", "gt": 1}, f"gt {_NOT_NUMERIC}"),
        ({"field": "sft_contradiction", "ge": 1}, f"ge {_NOT_NUMERIC}"),
    ],
)  # fmt: skip
def test_rules_on_derived_facts_are_checked(rule: dict[str, Any], message: str) -> None:
    data = copy.deepcopy(SHIPPED)
    _rule("INC-07", "fail", rule)(data)
    with pytest.raises(ProtocolError) as raised:
        parse_protocol(yaml.safe_dump(data, allow_unicode=True), source="trial.yaml")
    text = str(raised.value)
    assert text.startswith("trial.yaml: criterion INC-07: fail rule ") and text.endswith(message)
