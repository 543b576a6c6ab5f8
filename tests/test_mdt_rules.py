"""The MDT's decision rules and the version diff, pure."""

from __future__ import annotations

import pytest

from natars_bot.mdt.rules import Ballot, Decision, Quorum, Vote, changes, decide, tally


def ballot(reviewer: int, vote: Vote, reason: str | None = None) -> Ballot:
    """A vote by reviewer `reviewer`."""
    return Ballot(reviewer, f"reviewer {reviewer}", vote, reason, "2026-11-25T10:00:00+00:00")


A, N, D, I = Vote.approve, Vote.not_eligible, Vote.discuss, Vote.more_info  # noqa: E741


@pytest.mark.parametrize(
    ("ballots", "decision"),
    [
        ([], None),
        ([ballot(1, A)], None),
        ([ballot(1, A), ballot(2, A)], Decision.approved),
        ([ballot(1, A), ballot(2, A), ballot(3, N, "mets")], None),  # an outstanding Not eligible
        ([ballot(1, N, "mets"), ballot(2, N, "agree")], Decision.declined),
        ([ballot(1, N, "mets"), ballot(2, A), ballot(3, N, "too")], Decision.declined),
        ([ballot(1, N)], None),  # without a reason it does not count
        ([ballot(1, N), ballot(2, N)], None),  # two reasonless Not eligible: still nothing
        ([ballot(1, N, "mets"), ballot(2, N)], None),  # one reasoned is below the quorum
        ([ballot(1, A), ballot(2, A), ballot(3, N)], Decision.approved),  # reasonless: no stand
        ([ballot(1, I)], None),  # a request for information needs its questions
        ([ballot(1, I), ballot(2, I)], None),
        ([ballot(1, I, "grade?")], Decision.more_info),
        ([ballot(1, D), ballot(2, D), ballot(3, D)], None),
        ([ballot(1, A), ballot(2, D)], None),
    ],
)
def test_the_default_quorum(ballots: list[Ballot], decision: Decision | None) -> None:
    """Two approvals without a standing Not eligible approve; two reasoned Not eligible decline;
    a reasoned request for information sends the case back; Discuss decides nothing."""
    assert decide(ballots, Quorum()) is decision


def test_the_quorum_is_configurable() -> None:
    """Three approvals when the trial asks for three; one or three declines likewise."""
    two = [ballot(1, A), ballot(2, A)]
    assert decide(two, Quorum(approvals=3)) is None
    assert decide([*two, ballot(3, A)], Quorum(approvals=3)) is Decision.approved
    one = [ballot(1, N, "mets")]
    assert decide(one, Quorum(declines=1)) is Decision.declined
    assert decide(one, Quorum()) is None
    two_declines = [*one, ballot(2, N, "agree")]
    assert decide(two_declines, Quorum(declines=3)) is None
    assert decide([*two_declines, ballot(3, N, "yes")], Quorum(declines=3)) is Decision.declined


def test_tally_counts_every_choice() -> None:
    """Every choice is present in the tally, zero or not, each counted."""
    assert tally([ballot(1, A), ballot(2, D)]) == {A: 1, N: 0, D: 1, I: 0}
    assert tally([ballot(1, A), ballot(2, A), ballot(3, A)]) == {A: 3, N: 0, D: 0, I: 0}


def test_changes_between_versions_follow_the_flow_order() -> None:
    """Changed, added and removed answers, in the order the questions are asked."""
    before = {"age_years": 60, "histology": "DDLPS", "grade": 2}
    after = {"age_years": 61, "histology": "LMS", "tumor_size_cm": 12.0}
    order = ["age_years", "histology", "grade", "tumor_size_cm"]
    assert changes(order, before, after) == [
        ("age_years", 60, 61),
        ("histology", "DDLPS", "LMS"),
        ("grade", 2, None),
        ("tumor_size_cm", None, 12.0),
    ]


def test_changes_keep_the_flow_order_for_added_and_removed_answers() -> None:
    """An answer only before or only after still takes its place in the flow's order (not the
    alphabet's); answers outside the order follow, sorted."""
    order = ["tumor_size_cm", "age_years"]
    before = {"tumor_size_cm": 5.0, "zeta": 1}
    after = {"age_years": 3, "alpha": 2}
    assert changes(order, before, after) == [
        ("tumor_size_cm", 5.0, None),
        ("age_years", None, 3),
        ("alpha", None, 2),
        ("zeta", 1, None),
    ]
    assert changes(["unasked"], {}, {}) == []
