"""`natars-bot check` and `natars-bot schema`: the contract of shared/spec/referral.md."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natars_bot.cli import main
from natars_bot.protocol import batch
from natars_bot.protocol.referral import Referral

from .helpers import ELIGIBLE

EXAMPLES = Path(__file__).parents[1] / "examples"
FIELDS = [*Referral.model_fields, "note", "tumour_size"]


def run(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str | bytes = "",
) -> tuple[int, str, str]:
    """Run the CLI in-process with `stdin`; return (status, stdout, stderr)."""
    data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    status = main(args)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def check(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """`check(stdin)` runs `natars-bot check -` on that input."""
    return lambda stdin: run(["check", "-"], capsys, monkeypatch, stdin)


def test_one_object_gives_one_object(check: Any) -> None:
    """A JSON object in, the spec's verdict object out, exit 0."""
    status, out, err = check(
        json.dumps({**ELIGIBLE["LMS"], "referral_id": "R-17", "consent": "pending"})
    )
    assert (status, err) == (0, "")
    verdict = json.loads(out)
    assert list(verdict) == [
        "referral_id",
        "protocol",
        "verdict",
        "failed",
        "unknown",
        "warnings",
        "sft_risk",
        "criteria",
    ]
    assert verdict["referral_id"] == "R-17"
    assert verdict["verdict"] == "needs_review"
    assert verdict["unknown"] == ["INC-13"]
    assert len(verdict["criteria"]) == 24
    assert verdict["criteria"][0] == {
        "id": "INC-01",
        "outcome": "pass",
        "reason": "LMS, histologically proven",
    }


def test_an_array_gives_an_array(check: Any) -> None:
    """A JSON array in, a JSON array of verdicts out, in the same order; SFT risk included."""
    status, out, _ = check(json.dumps([ELIGIBLE["SFT"], {"histology": "WDLPS"}]))
    verdicts = json.loads(out)
    assert status == 0
    assert [v["verdict"] for v in verdicts] == ["eligible", "ineligible"]
    assert verdicts[0]["sft_risk"] == {"score": 6, "category": "high"}
    assert verdicts[1]["failed"] == ["INC-01", "EXC-02"]


def test_json_lines_give_json_lines(check: Any) -> None:
    """JSON Lines in, one compact verdict per line out; blank lines are skipped."""
    lines = "\n".join(json.dumps({"referral_id": f"R-{n}", "age_years": 17 + n}) for n in range(3))
    status, out, _ = check(lines + "\n\n")
    assert status == 0
    verdicts = [json.loads(line) for line in out.splitlines()]
    assert [v["referral_id"] for v in verdicts] == ["R-0", "R-1", "R-2"]
    assert [v["failed"] for v in verdicts] == [["INC-14"], [], []]


def test_an_empty_referral_is_checked(check: Any) -> None:
    """{} is a referral with nothing known yet: needs_review, not an error."""
    status, out, _ = check("{}")
    assert status == 0
    assert json.loads(out)["verdict"] == "needs_review"


def test_a_file_argument_is_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shipped example is read from its path."""
    status, out, _ = run(["check", str(EXAMPLES / "referral-ddlps.json")], capsys, monkeypatch)
    assert status == 0
    assert json.loads(out)["referral_id"] == "EX-DDLPS-1"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "empty input"),
        ("   \n\n", "empty input"),
        ("[]", "empty JSON array"),
        ('{"age_years": 40', "invalid JSON at line 1"),
        ('{"tumour_size_cm": 12}', "referral: unknown field 'tumour_size_cm'"),
        (
            '{"tumor_size_cm": "12"}',
            "referral: field 'tumor_size_cm': Input should be a valid number",
        ),
        (
            '{"asa_class": 9}',
            "referral: field 'asa_class': Input should be less than or equal to 6 (got 9)",
        ),
        ('{"histology": "GIST"}', "referral: field 'histology': Input should be 'DDLPS'"),
        ('{"prior_resection": "no"}', "field 'prior_resection': Input should be a valid boolean"),
        ('[{"grade": 2}, {"grade": 5}]', "record 2: field 'grade'"),
        ('[{"grade": 2}, "R-1"]', "record 2: expected a JSON object, got a string"),
        ('"R-1"', "referral: expected a JSON object, got a string"),
        (b"\xff\xfe{}", "not UTF-8"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_field(
    check: Any, stdin: str | bytes, message: str
) -> None:
    """Every kind of bad input: exit 2, one line on stderr, nothing on stdout, no traceback."""
    status, out, err = check(stdin)
    assert status == 2
    assert out == ""
    assert message in err
    assert err.count("\n") == 1 and err.startswith("natars-bot: ")


def test_one_bad_line_does_not_hide_the_others(check: Any) -> None:
    """JSON Lines with bad lines: the good verdicts are printed, each bad line named, exit 2."""
    stdin = "\n".join(
        [
            '{"referral_id": "A"}',
            '{"referral_id": "B", "grade": 4}',
            "{oops",
            '{"referral_id": "D"}',
            '{"bogus": 1}',
        ]
    )
    status, out, err = check(stdin)
    assert status == 2
    assert [json.loads(line)["referral_id"] for line in out.splitlines()] == ["A", "D"]
    assert err.splitlines() == [
        "natars-bot: line 2: field 'grade': Input should be less than or equal to 3 (got 4)",
        "natars-bot: line 3: invalid JSON: key must be a string at line 1 column 2",
        "natars-bot: line 5: unknown field 'bogus'",
    ]


def test_a_bad_first_line_is_still_json_lines(check: Any) -> None:
    """Even when the first line is broken, the lines after it are checked."""
    status, out, err = check('{"grade": \n{"referral_id": "B"}\n')
    assert status == 2
    assert json.loads(out)["referral_id"] == "B"
    assert "line 1: invalid JSON" in err


def test_large_batches_in_parallel_match_one_process(
    check: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks checked by worker processes come back complete and in input order."""
    lines = [
        json.dumps({"referral_id": f"R-{n}", "age_years": n % 100, "asa_class": 1 + n % 6})
        for n in range(90)
    ]
    lines[41] = '{"age_years": -5}'
    stdin = "\n".join(lines)
    serial = check(stdin)
    monkeypatch.setattr(batch, "PARALLEL_FROM", 10)
    monkeypatch.setattr(batch, "CHUNK_LINES", 7)
    parallel = check(stdin)
    assert parallel == serial
    assert serial[0] == 2 and len(serial[1].splitlines()) == 89


def test_a_protocol_file_can_be_chosen(
    check: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """--protocol loads another definition; a broken one exits 2 naming the file."""
    broken = tmp_path / "broken.yaml"
    broken.write_text("criteria: [", encoding="utf-8")
    status, out, err = run(["check", "--protocol", str(broken), "-"], capsys, monkeypatch, "{}")
    assert (status, out) == (2, "")
    assert err.startswith("natars-bot: broken.yaml: not valid YAML")


def test_schema_prints_the_referral_json_schema(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`natars-bot schema` is valid JSON describing the referral."""
    status, out, _ = run(["schema"], capsys, monkeypatch)
    assert status == 0
    assert "tumor_size_cm" in json.loads(out)["properties"]


def test_criteria_lists_wording_and_interpretation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`natars-bot criteria` shows every criterion with the protocol's words."""
    status, out, _ = run(["criteria"], capsys, monkeypatch)
    assert status == 0
    assert out.count("\nINC-") == 14 and out.count("\nEXC-") == 10
    assert out.startswith("NATARS registry entry, criteria v2 (spec revision 2)")
    assert "interpretation: the registry lists the size threshold under LMS" in out
    assert "FISH amplified (the diagnostic standard)" in out  # INC-04, revision 2


SFT = {**ELIGIBLE["SFT"], "sft_necrosis_percent": None}


@pytest.mark.parametrize(
    ("changes", "outcome", "sft_risk"),
    [
        # shared/spec/criteria.md, "SFT risk score" (revision 2): its four examples
        (
            {"age_years": 60, "tumor_size_cm": 20.0, "sft_mitoses_per_2mm2": 6},
            "pass",
            {"range": [6, 7]},
        ),
        (
            {"age_years": 40, "tumor_size_cm": 6.0, "sft_mitoses_per_2mm2": None},
            "fail",
            {"range": [1, 4]},
        ),
        (
            {"sft_mitoses_per_2mm2": 0, "sft_necrosis_percent": 0.0, "sft_risk_score": 6},
            "unknown",
            {"range": [4, 4], "given": 6},
        ),
        (
            {"age_years": None, "tumor_size_cm": None, "sft_mitoses_per_2mm2": None},
            "unknown",
            {"range": [0, 7]},
        ),
        # exact: all four parts, or a given score that agrees with them
        ({"sft_necrosis_percent": 0.0}, "pass", {"score": 6, "category": "high"}),
        ({"sft_risk_score": 7}, "pass", {"score": 7, "category": "high"}),
    ],
)
def test_check_gives_the_spec_examples_outcomes(
    check: Any, changes: dict[str, Any], outcome: str, sft_risk: dict[str, Any]
) -> None:
    """`natars-bot check` on the spec's SFT examples: INC-07's outcome and `sft_risk`."""
    status, out, err = check(json.dumps({**SFT, **changes}))
    assert (status, err) == (0, "")
    verdict = json.loads(out)
    assert verdict["sft_risk"] == sft_risk
    [inc07] = [c for c in verdict["criteria"] if c["id"] == "INC-07"]
    assert inc07["outcome"] == outcome


@pytest.mark.parametrize(
    ("ihc", "fish", "outcome"),
    [
        ("negative", "amplified", "unknown"),
        ("negative", None, "unknown"),
        ("negative", "not_amplified", "fail"),
        ("negative", "not_done", "fail"),
        ("equivocal", "amplified", "unknown"),
        ("positive", "not_amplified", "unknown"),
        ("positive", "not_done", "pass"),
    ],
)
def test_check_applies_the_revised_inc04(
    check: Any, ihc: str, fish: str | None, outcome: str
) -> None:
    """INC-04 (revision 2) through `check`: a negative IHC fails only without FISH amplification."""
    referral = {**ELIGIBLE["DDLPS"], "ihc_cdk4": ihc, "fish_mdm2": fish}
    status, out, _ = check(json.dumps(referral))
    assert status == 0
    [inc04] = [c for c in json.loads(out)["criteria"] if c["id"] == "INC-04"]
    assert inc04["outcome"] == outcome


def test_a_man_recorded_as_pregnant_is_refused_as_input(check: Any) -> None:
    """EXC-09 (revision 2): `sex: male` with pregnancy is invalid input naming the field; in
    JSON Lines the other lines are still checked."""
    man = {**ELIGIBLE["UPS"], "sex": "male", "pregnant_or_breastfeeding": True}
    woman = {**man, "sex": "female"}
    status, out, err = check(json.dumps(man) + "\n" + json.dumps(woman) + "\n")
    assert status == 2
    assert err.startswith("natars-bot: line 1: field 'pregnant_or_breastfeeding': a man cannot")
    [verdict] = [json.loads(line) for line in out.splitlines()]
    assert verdict["failed"] == ["EXC-09"]


def test_the_installed_command_never_shows_a_traceback() -> None:
    """The console script itself: exit 2 and one line for bad input, 0 for a good file."""
    bad = subprocess.run(
        [sys.executable, "-m", "natars_bot", "check", "-"],
        input=b'{"grade": "high"}',
        capture_output=True,
        check=False,
    )
    assert bad.returncode == 2
    assert b"Traceback" not in bad.stderr and bad.stderr.count(b"\n") == 1
    good = subprocess.run(
        [sys.executable, "-m", "natars_bot", "check", str(EXAMPLES / "referral-ddlps.json")],
        capture_output=True,
        check=False,
    )
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["verdict"] == "needs_review"


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.text()
    | st.lists(
        st.dictionaries(st.sampled_from(FIELDS), st.from_type(object) | st.none()), max_size=3
    ).map(lambda records: "\n".join(json.dumps(r, default=str) for r in records))
)
def test_any_text_gets_verdicts_or_a_clear_error(check: Any, text: str) -> None:
    """Whatever arrives on stdin, check exits 0 or 2, and every stderr line names the problem."""
    status, out, err = check(text)
    assert status in (0, 2)
    assert "Traceback" not in err
    assert all(line.startswith("natars-bot: ") for line in err.splitlines())
    if status == 0:
        assert err == "" and out
