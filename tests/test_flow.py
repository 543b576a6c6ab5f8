"""conversations/triage.yaml: it loads, fits the referral model, and a broken one is refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from natars_bot.dialogue.answers import Parsed, read_answer
from natars_bot.dialogue.flow import default_flow, load_flow, parse_flow
from natars_bot.errors import FlowError
from natars_bot.protocol.referral import Referral
from natars_bot.resources import resource_dir
from natars_bot.sandbox.local_api import check_html

FLOW_FILE = resource_dir("conversations") / "triage.yaml"
RAW = yaml.safe_load(FLOW_FILE.read_text("utf-8"))


def test_every_conversations_file_loads() -> None:
    """Each YAML flow in conversations/ passes validation."""
    flows = sorted(resource_dir("conversations").glob("*.yaml"))
    assert FLOW_FILE in flows
    for path in flows:
        if not path.name.startswith("messages"):  # messages.yaml and messages-*.yaml: words
            load_flow(path)


def test_the_flow_asks_for_every_referral_field_but_the_bots_own() -> None:
    """Every field the engine reads is asked; the id and the site come from the bot."""
    asked = {q.field for q in default_flow().questions}
    assert set(Referral.model_fields) - asked == {"referral_id", "site"}


def test_the_flow_never_asks_for_a_name() -> None:
    """No question's field is a name, and both free-text prompts warn against typing one."""
    flow = default_flow()
    assert not any("name" in q.field for q in flow.questions)
    for question in flow.questions:
        if question.type == "text":
            assert "name" in question.prompt["en"], question.field


def _changed(change: Any) -> dict[str, Any]:
    data = copy.deepcopy(RAW)
    change(data)
    return data


def _question(data: dict[str, Any], field: str) -> dict[str, Any]:
    return next(q for q in data["questions"] if q["field"] == field)


@pytest.mark.parametrize(
    ("change", "entry", "message"),
    [
        (lambda d: _question(d, "sex").update(field="gender"), "gender", "not a referral field"),
        (lambda d: _question(d, "sex")["prompt"].pop("zh"), "sex", "no 'zh' translation"),
        (
            lambda d: _question(d, "grade")["choices"].append(
                {"value": 4, "label": {"en": "G4", "zh": "4级"}}
            ),
            "grade",
            "4",
        ),
        (
            lambda d: _question(d, "origin")["choices"][0].update(value="stomach"),
            "origin",
            "'stomach'",
        ),
        (
            lambda d: _question(d, "grade").update(show_if={"field": "consent", "is": "signed"}),
            "grade",
            "not asked before",
        ),
        (
            lambda d: _question(d, "grade").update(show_if={"field": "histology", "is": "GIST"}),
            "grade",
            "'GIST'",
        ),
        (lambda d: _question(d, "grade").update(type="slider"), "grade", "type"),
        (lambda d: _question(d, "age_years").pop("parse"), "age_years", "needs 'parse'"),
        (
            lambda d: _question(d, "fish_mdm2")["choices"][0].update(aliases=[True]),
            "fish_mdm2",
            "aliases",
        ),
        (lambda d: d["questions"].append(copy.deepcopy(_question(d, "sex"))), "sex", "asked twice"),
        (
            lambda d: _question(d, "grade").update(show_if={"field": "sft_parts_max", "ge": 6}),
            "grade",
            "computed from 'tumor_size_cm', which is not asked before",
        ),
        (
            lambda d: _question(d, "prior_anthracycline_or_ifosfamide").update(when_hidden="no"),
            "prior_anthracycline_or_ifosfamide",
            "'no'",
        ),
    ],
)
def test_a_broken_flow_names_the_file_and_the_entry(change: Any, entry: str, message: str) -> None:
    """Every kind of mistake stops loading with the file, the entry and what is wrong."""
    with pytest.raises(FlowError) as raised:
        parse_flow(_changed(change), source="triage.yaml")
    text = str(raised.value)
    assert text.startswith(f"triage.yaml: question {entry}: "), text
    assert message in text


def test_an_unreadable_flow_file_is_named(tmp_path: Path) -> None:
    """Bad YAML or a missing file is a FlowError naming the file."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("questions: [", encoding="utf-8")
    with pytest.raises(FlowError, match=r"bad\.yaml: not valid YAML"):
        load_flow(bad)
    with pytest.raises(FlowError, match=r"gone\.yaml: cannot read"):
        load_flow(tmp_path / "gone.yaml")


SFT_SCORE = default_flow().question("sft_risk_score")


def _score_asked(**parts: Any) -> bool:
    facts = dict.fromkeys((q.field for q in default_flow().questions), None)
    return SFT_SCORE.shown({**facts, "histology": "SFT", **parts})


@pytest.mark.parametrize(
    ("parts", "asked"),
    [
        ({}, True),  # [0, 7]
        ({"age_years": 40, "tumor_size_cm": 6.0}, False),  # [1, 4]: fails whatever is given
        ({"age_years": 60, "tumor_size_cm": 20.0, "sft_mitoses_per_2mm2": 6}, False),  # [6, 7]
        ({"age_years": 60, "tumor_size_cm": 20.0}, True),  # [4, 7]
        ({"age_years": 60, "tumor_size_cm": 20.0, "sft_mitoses_per_2mm2": 1}, True),  # [5, 6]
        (
            {"age_years": 60, "tumor_size_cm": 20.0, "sft_mitoses_per_2mm2": 1,
             "sft_necrosis_percent": 0.0},
            False,
        ),  # all four known: 5
        ({"age_years": 40, "tumor_size_cm": 20.0, "sft_necrosis_percent": 50.0}, True),  # [4, 6]
    ],
)  # fmt: skip
def test_the_sft_score_is_asked_only_while_the_parts_leave_it_open(
    parts: dict[str, Any], asked: bool
) -> None:
    """The score question appears exactly when the parts' range spans 6 (spec revision 2)."""
    assert _score_asked(**parts) is asked


def test_the_sft_score_is_never_asked_for_other_histologies() -> None:
    """Whatever the parts, only an SFT is asked for its score."""
    facts = dict.fromkeys((q.field for q in default_flow().questions), None)
    assert not SFT_SCORE.shown({**facts, "histology": "UPS"})


@pytest.mark.parametrize(
    ("field", "typed", "value"),
    [
        ("grade", "2级", 2),
        ("grade", "二级", 2),
        ("grade", "Ⅲ级", 3),
        ("asa_class", "三级", 3),
        ("asa_class", "ASA Ⅱ级", 2),
        ("histology", "孤立性纤维瘤", "SFT"),
        ("histology", "血管外皮细胞瘤", "SFT"),
        ("histology", "多形性未分化肉瘤", "UPS"),
        ("histology", "恶性纤维组织细胞瘤", "UPS"),
        ("fish_mdm2", "阳性", "amplified"),
        ("fish_mdm2", "阴性", "not_amplified"),
        ("ihc_mdm2", "弱阳性或灶阳性", "equivocal"),
        ("ihc_cdk4", "Weak or focal", "equivocal"),
        ("origin", "泌尿系统", "urinary_tract"),
        ("metastasis", "性质待定", "equivocal"),
        ("metastasis", "病理证实", "confirmed"),
    ],
)
def test_surgeons_words_are_understood(field: str, typed: str, value: Any) -> None:
    """What a Chinese sarcoma surgeon types (issue 14): terms, old names, Chinese numerals."""
    assert read_answer(default_flow().question(field), typed) == Parsed(value)


def test_the_chinese_wording_uses_the_surgeons_terms() -> None:
    """Labels and prompts a Chinese sarcoma surgeon would not correct (issue 14)."""
    flow = default_flow()

    def zh(field: str) -> str:
        question = flow.question(field)
        texts = [question.label["zh"], question.prompt["zh"], *(question.help or {}).values()]
        return " ".join(texts + [c.label["zh"] for c in question.choices])

    assert "核分裂象计数（个/2 mm²" in zh("sft_mitoses_per_2mm2")
    assert "转移风险分层评分" in zh("sft_risk_score")
    assert "原发部位" in zh("origin") and "起源" not in zh("origin")
    assert "泌尿系统（肾、输尿管、膀胱）" in zh("origin")
    assert "性质待定" in zh("metastasis") and "病理证实" in zh("metastasis")
    assert "手术/化疗严重禁忌证" in zh("severe_event_last_6_months")
    assert "心肌梗死、脑梗死或肺梗死" in zh("severe_event_last_6_months")
    assert "影像学或手术记录是否提示肿瘤突入胸腔？" in zh("chest_cavity_protrusion")
    assert "是否处于妊娠期或哺乳期？" in zh("pregnant_or_breastfeeding")
    assert "多柔比星（阿霉素）、表柔比星" in zh("prior_anthracycline_or_ifosfamide")
    assert "剖腹/腹腔镜探查活检" in zh("prior_resection")
    assert [c.label["zh"] for c in flow.question("asa_class").choices] == [
        "Ⅰ级", "Ⅱ级", "Ⅲ级", "Ⅳ级", "Ⅴ级"
    ]  # fmt: skip


@pytest.mark.parametrize("language", ["en", "zh"])
def test_inc10_and_inc11_name_the_work_up_behind_a_yes(language: str) -> None:
    """The organ-function and fitness questions say what a yes stands for, in both languages."""
    flow = default_flow()
    fitness = (flow.question("fit_for_chemo_and_surgery").help or {})[language]
    organs = (flow.question("organ_function").help or {})[language]
    words = {
        "en": ["doxorubicin", "ifosfamide", "anlotinib", "blood counts", "blood pressure",
               "urine protein", "major-vessel", "renal", "cardiac"],
        "zh": ["多柔比星", "异环磷酰胺", "安罗替尼", "血常规", "血压", "尿蛋白", "大血管", "肾功能",
               "心功能"],
    }[language]  # fmt: skip
    assert all(word in fitness for word in words), fitness
    assert all(word in organs for word in words[:2] + words[-2:]), organs


def test_a_language_the_protocol_does_not_speak_is_refused() -> None:
    """Every dialogue language must have the criteria's texts, or its surgeons would read
    English reasons."""
    with pytest.raises(FlowError) as raised:
        parse_flow(_changed(lambda d: d["languages"].append("fr")), source="triage.yaml")
    assert str(raised.value) == (
        "triage.yaml: language 'fr' is not one of natars-v1.yaml's languages"
    )


def test_every_prompt_and_help_is_telegram_html() -> None:
    """Prompts and help texts are rendered as HTML: each must be HTML Telegram accepts (a bare
    "<" in "5–<10 cm" would not be)."""
    flow = default_flow()
    for question in flow.questions:
        for language in flow.languages:
            check_html(question.prompt[language])
            if question.help is not None:
                check_html(question.help[language])


def _shortcut(data: dict[str, Any]) -> dict[str, Any]:
    """The IHC/FISH screen's shortcut in `data`, to change in place."""
    group = next(g for g in data["groups"] if g["name"] == "pathology_tests")
    shortcut: dict[str, Any] = group["shortcut"]
    return shortcut


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: _shortcut(d)["answers"].update(fish_mdm2="amplifed"),
            "'amplifed' is not a button of 'fish_mdm2'",
        ),
        (lambda d: _shortcut(d)["answers"].pop("ihc_cdk4"), "no answer for the row 'ihc_cdk4'"),
        (lambda d: _shortcut(d)["answers"].update(grade=3), "'grade' is not a row of this screen"),
        (lambda d: _shortcut(d)["label"].pop("zh"), "label has no 'zh' translation"),
        # The label must say what it records, and nothing else of a row's answers.
        (
            lambda d: _shortcut(d)["label"].update(en="MDM2, CDK4 positive"),
            "the 'en' label does not say 'Amplified'",
        ),
        (
            lambda d: _shortcut(d)["label"].update(
                en="MDM2, CDK4 positive · FISH amplified (not amplified if equivocal)"
            ),
            "the 'en' label says 'Not amplified', but it records 'Amplified'",
        ),
    ],
)
def test_a_broken_shortcut_names_its_group(change: Any, message: str) -> None:
    """A rows screen's shortcut is checked at start-up: an answer for every row, each one of
    its buttons, a label in every language naming each answer it records and no other."""
    with pytest.raises(FlowError) as raised:
        parse_flow(_changed(change), source="triage.yaml")
    text = str(raised.value)
    assert text.startswith("triage.yaml: group pathology_tests: shortcut: "), text
    assert message in text, text


def test_only_a_rows_screen_has_a_shortcut() -> None:
    """A checklist has its own "None of the others applies": a shortcut on one is refused."""
    data = copy.deepcopy(RAW)
    checklist = next(g for g in data["groups"] if g["kind"] == "checklist")
    checklist["shortcut"] = {"label": {"en": "x", "zh": "x"}, "answers": {"prior_resection": False}}
    with pytest.raises(FlowError, match="only a rows screen has one"):
        parse_flow(data, source="triage.yaml")
