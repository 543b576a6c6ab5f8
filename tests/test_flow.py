"""conversations/triage.yaml: it loads, fits the referral model, and a broken one is refused."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from natars_bot.errors import FlowError
from natars_bot.flow import default_flow, load_flow, parse_flow
from natars_bot.referral import Referral
from natars_bot.resources import resource_dir

FLOW_FILE = resource_dir("conversations") / "triage.yaml"
RAW = yaml.safe_load(FLOW_FILE.read_text("utf-8"))


def test_every_conversations_file_loads() -> None:
    """Each YAML flow in conversations/ passes validation."""
    flows = sorted(resource_dir("conversations").glob("*.yaml"))
    assert FLOW_FILE in flows
    for path in flows:
        if path.name != "messages.yaml":
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
