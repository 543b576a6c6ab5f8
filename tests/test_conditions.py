"""The protocol's condition language, operator by operator (the criteria exercise only some of
them; a protocol revision may use any). Found missing by mutation testing (issue #19)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from natars_bot.protocol.conditions import Condition, FieldCondition, compile_condition, leaves

CONDITION: TypeAdapter[Condition] = TypeAdapter(Condition)


def holds(condition: dict[str, Any], value: Any) -> bool:
    """Whether `condition` on the fact "x" holds when x is `value` (None: not known)."""
    predicate = compile_condition(CONDITION.validate_python(condition))
    result = predicate({"x": value, "y": None})
    assert isinstance(result, bool)
    return result


@pytest.mark.parametrize(
    ("condition", "true_for", "false_for"),
    [
        ({"field": "x", "is": "a"}, ["a"], ["b", None, ""]),
        ({"field": "x", "is": 3}, [3, 3.0], [4, None]),
        ({"field": "x", "is": True}, [True], [1, False, None]),  # a count of 1 is not "yes"
        ({"field": "x", "is": False}, [False], [0, True, None]),
        ({"field": "x", "in": ["a", "b"]}, ["a", "b"], ["c", None]),
        ({"field": "x", "not_in": ["a", "b"]}, ["c", None], ["a", "b"]),
        ({"field": "x", "missing": True}, [None], ["a", 0, False, ""]),
        ({"field": "x", "lt": 10}, [9.99, -1], [10, 11, None]),
        ({"field": "x", "le": 10}, [10, 9], [10.01, None]),
        ({"field": "x", "gt": 10}, [10.01, 11], [10, 9, None]),
        ({"field": "x", "ge": 10}, [10, 11], [9.99, None]),
    ],
)
def test_each_operator(
    condition: dict[str, Any], true_for: list[Any], false_for: list[Any]
) -> None:
    """Every operator at its boundary, and on a missing answer (only `missing` and `not_in`
    match one: an unanswered question never makes a comparison true)."""
    for value in true_for:
        assert holds(condition, value) is True, (condition, value)
    for value in false_for:
        assert holds(condition, value) is False, (condition, value)


def test_all_and_any() -> None:
    """all: every part; any: at least one; nested."""
    both = {"all": [{"field": "x", "ge": 1}, {"field": "x", "le": 3}]}
    assert [holds(both, v) for v in (0, 1, 2, 3, 4, None)] == [
        False, True, True, True, False, False,
    ]  # fmt: skip
    either = {"any": [{"field": "x", "lt": 1}, {"field": "x", "gt": 3}]}
    assert [holds(either, v) for v in (0, 1, 3, 4, None)] == [True, False, False, True, False]
    nested = {"any": [{"field": "y", "missing": True}, {"all": [{"field": "x", "is": "a"}]}]}
    assert holds(nested, "b") is True  # y is missing
    only_y = {"any": [{"field": "x", "is": "z"}, {"field": "y", "is": "a"}]}
    assert holds(only_y, "a") is False


def test_leaves_walk_every_part_depth_first() -> None:
    """The field conditions inside all/any, in order (the loader checks each one)."""
    condition = CONDITION.validate_python(
        {
            "all": [
                {"field": "a", "is": 1},
                {"any": [{"field": "b", "missing": True}, {"field": "c", "in": [1]}]},
            ]
        }
    )
    assert [leaf.field for leaf in leaves(condition)] == ["a", "b", "c"]
    assert [leaf.field for leaf in leaves(CONDITION.validate_python({"any": [
        {"field": "d", "lt": 1}, {"field": "e", "gt": 1},
    ]}))] == ["d", "e"]  # fmt: skip


def test_one_operator_each() -> None:
    """A leaf names exactly one operator; its values and whether it can match a missing answer
    are known at load time."""
    with pytest.raises(ValidationError, match="exactly one of"):
        FieldCondition.model_validate({"field": "x", "is": 1, "lt": 2})
    with pytest.raises(ValidationError, match="exactly one of"):
        FieldCondition.model_validate({"field": "x"})
    leaf = FieldCondition.model_validate({"field": "x", "not_in": ["a"]})
    assert (leaf.operator, leaf.values, leaf.matches_missing) == ("not_in", ["a"], True)
    leaf = FieldCondition.model_validate({"field": "x", "is": "a"})
    assert (leaf.operator, leaf.values, leaf.matches_missing) == ("is", ["a"], False)
    leaf = FieldCondition.model_validate({"field": "x", "missing": True})
    assert (leaf.operator, leaf.values, leaf.matches_missing) == ("missing", [], True)
    leaf = FieldCondition.model_validate({"field": "x", "in": [1, 2]})
    assert (leaf.operator, leaf.values, leaf.matches_missing) == ("in", [1, 2], False)
    assert FieldCondition.model_validate({"field": "x", "ge": 5}).operator == "ge"
