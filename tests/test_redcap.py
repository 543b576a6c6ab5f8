"""REDCap interop: the data dictionary follows REDCap's documented columns and rules, is made
from the dialogue and the referral model, and the records import against it."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path

import pytest

from natars_bot.cli import main
from natars_bot.dialogue.flow import default_flow
from natars_bot.protocol.referral import Referral
from natars_bot.reports.redcap import (
    SHORT_NAMES,
    data_dictionary,
    write_dictionary,
)

from .harness import BotUnderTest
from .test_cases import seed_two_versions

# REDCap's data dictionary: its 18 columns in order, its field types and text validations.
REDCAP_COLUMNS = [
    "Variable / Field Name", "Form Name", "Section Header", "Field Type", "Field Label",
    "Choices, Calculations, OR Slider Labels", "Field Note",
    "Text Validation Type OR Show Slider Number", "Text Validation Min", "Text Validation Max",
    "Identifier?", "Branching Logic (Show field only if...)", "Required Field?",
    "Custom Alignment", "Question Number (surveys only)", "Matrix Group Name", "Matrix Ranking?",
    "Field Annotation",
]  # fmt: skip
FIELD_TYPES = {
    "text", "notes", "dropdown", "radio", "checkbox", "yesno", "truefalse", "calc", "file",
    "slider", "descriptive", "sql",
}  # fmt: skip
VALIDATIONS = {"", "integer", "number", "date_ymd", "datetime_ymd", "email", "time"}
NAME = re.compile(r"[a-z][a-z0-9_]*")
CHOICE = re.compile(r"(-?[0-9A-Za-z_]+), ([^|]+)")
# One comparison of REDCap branching logic: [field] op 'code' or a number.
COMPARISON = re.compile(r"\[([a-z][a-z0-9_]*)\] (=|<>|<|<=|>|>=) ('[^']*'|-?[0-9.]+)")


def _dictionary() -> list[dict[str, str]]:
    buffer = io.BytesIO()
    write_dictionary(data_dictionary(default_flow()), buffer)
    text = buffer.getvalue().decode("utf-8")
    header = next(csv.reader(io.StringIO(text)))
    assert header == REDCAP_COLUMNS
    return list(csv.DictReader(io.StringIO(text)))


def _choices(cell: str) -> dict[str, str]:
    choices = {}
    for part in cell.split(" | "):
        match = CHOICE.fullmatch(part)
        assert match, f"not REDCap's 'code, Label' form: {part!r}"
        choices[match[1]] = match[2]
    return choices


def _check_logic(logic: str, fields: dict[str, dict[str, str]], before: set[str]) -> None:
    """Branching logic that REDCap parses: comparisons joined by and/or in parentheses, on
    fields defined earlier, with codes those fields have."""
    rest = COMPARISON.sub("X", logic)
    assert re.fullmatch(r"[X()andor ]*", rest) and rest.count("(") == rest.count(")"), logic
    for name, op, value in COMPARISON.findall(logic):
        assert name in before, f"{logic}: [{name}] is not defined before"
        target = fields[name]
        if value.startswith("'") and value != "''" and op in ("=", "<>"):
            code = value.strip("'")
            if target["Field Type"] == "yesno":
                assert code in ("0", "1"), logic
            else:
                assert code in _choices(target["Choices, Calculations, OR Slider Labels"]), logic


def test_the_dictionary_follows_redcaps_rules() -> None:
    """Columns in order; lowercase unique names of at most 26 characters, the record id first;
    one form; valid types and validations; choices as '1, Label | 2, Label' (none for yesno);
    numeric bounds; branching logic in REDCap's syntax over earlier fields and their codes."""
    rows = _dictionary()
    names = [r["Variable / Field Name"] for r in rows]
    assert names[0] == "referral_id" and rows[0]["Required Field?"] == "y"
    assert len(set(names)) == len(names)
    assert all(NAME.fullmatch(n) and len(n) <= 26 for n in names), names
    assert {r["Form Name"] for r in rows} == {"natars_referral"}
    fields = {r["Variable / Field Name"]: r for r in rows}
    before: set[str] = set()
    for row in rows:
        kind, choices = row["Field Type"], row["Choices, Calculations, OR Slider Labels"]
        assert kind in FIELD_TYPES and row["Field Label"]
        assert row["Text Validation Type OR Show Slider Number"] in VALIDATIONS
        if kind in ("radio", "dropdown", "checkbox"):
            assert len(_choices(choices)) >= 2
        else:
            assert choices == ""
        for bound in ("Text Validation Min", "Text Validation Max"):
            if row[bound]:
                float(row[bound])
        if row["Branching Logic (Show field only if...)"]:
            _check_logic(row["Branching Logic (Show field only if...)"], fields, before)
        assert row["Identifier?"] == ""  # pseudonymous: no identifier is collected
        before.add(row["Variable / Field Name"])


def test_the_dictionary_is_the_dialogue_and_the_model() -> None:
    """Every referral field has its field (long names shortened once, in SHORT_NAMES); labels
    and choices are the dialogue's, codes follow the model's values; notes are in English and
    Chinese; the dialogue's show_if becomes branching logic; no screening number or note."""
    fields = {r["Variable / Field Name"]: r for r in _dictionary()}
    for name in Referral.model_fields:
        assert SHORT_NAMES.get(name, name) in fields, name
    assert "screening_number" not in fields and "note" not in fields
    histology = fields["histology"]
    assert histology["Field Label"] == "Histology"
    assert _choices(histology["Choices, Calculations, OR Slider Labels"]) == {
        "1": "DDLPS", "2": "LMS", "3": "UPS", "4": "SFT", "5": "WDLPS", "6": "Other",
    }  # fmt: skip
    assert "Histology (biopsy or MDT diagnosis)?" in histology["Field Note"]
    assert "病理类型" in histology["Field Note"]
    assert fields["grade"]["Branching Logic (Show field only if...)"] == "[histology] = '1'"
    assert (
        fields["pregnant_or_breastfeeding"]["Branching Logic (Show field only if...)"]
        == "[sex] <> '2'"
    )
    assert (
        fields["prior_anthra_ifosfamide"]["Branching Logic (Show field only if...)"]
        == "[prior_chemotherapy] <> '0'"
    )
    assert (
        fields["histologically_proven"]["Branching Logic (Show field only if...)"]
        == "([histology] <> '5' and [histology] <> '6')"
    )
    # The score's range from its parts has no REDCap counterpart: shown for every SFT.
    assert fields["sft_risk_score"]["Branching Logic (Show field only if...)"] == (
        "[histology] = '4'"
    )
    age = fields["age_years"]
    assert (age["Field Type"], age["Text Validation Type OR Show Slider Number"]) == (
        "text",
        "integer",
    )
    assert (age["Text Validation Min"], age["Text Validation Max"]) == ("0", "120")
    assert fields["prior_resection"]["Field Type"] == "yesno"
    assert fields["decided_on"]["Text Validation Type OR Show Slider Number"] == "date_ymd"


async def test_the_records_import_against_the_dictionary(
    bot: BotUnderTest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """natars-bot export --format redcap writes both files; a record per referral (its latest
    version), columns the dictionary's fields, each value valid for its field (a choice code,
    1/0, an integer or number in range, a date YYYY-MM-DD, or blank); no screening number."""
    await seed_two_versions(bot.database)
    monkeypatch.setenv("NATARS_DATABASE", str(bot.database))
    out = tmp_path / "redcap"
    arguments = ["export", "--format", "redcap", "--output", str(out)]
    assert await asyncio.to_thread(main, arguments) == 0
    assert "1 records" in capsys.readouterr().err
    dictionary = list(
        csv.DictReader(io.StringIO((out / "natars-redcap-dictionary.csv").read_text("utf-8")))
    )
    fields = {r["Variable / Field Name"]: r for r in dictionary}
    data = (out / "natars-redcap-records.csv").read_text("utf-8")
    assert "PKU-0042" not in data and "left-sided" not in data
    header, *records = list(csv.reader(io.StringIO(data)))
    assert header == list(fields)  # REDCap needs the record id first, and no unknown column
    assert len(records) == 1
    record = dict(zip(header, records[0], strict=True))
    for name, value in record.items():
        field = fields[name]
        if value == "":
            continue
        validation = field["Text Validation Type OR Show Slider Number"]
        if field["Field Type"] == "yesno":
            assert value in ("0", "1"), name
        elif field["Field Type"] == "radio":
            assert value in _choices(field["Choices, Calculations, OR Slider Labels"]), name
        elif validation in ("integer", "number"):
            number = int(value) if validation == "integer" else float(value)
            low, high = field["Text Validation Min"], field["Text Validation Max"]
            assert (not low or number >= float(low)) and (not high or number <= float(high))
        elif validation == "date_ymd":
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), name
    assert record["referral_id"] == "NAT-2026-0001" and record["version"] == "2"
    assert (record["histology"], record["asa_class"], record["tumor_size_cm"]) == ("2", "3", "12")
    assert (record["prior_resection"], record["consent"]) == ("0", "1")
    assert record["mdt_decision"] == "1" and record["decided_on"] == "2026-12-03"
    assert record["grade"] == ""  # not asked for LMS
    assert await asyncio.to_thread(main, ["export", "--format", "redcap"]) == 2
    assert "needs --output FOLDER" in capsys.readouterr().err
