"""logicdsl.record: the frozen value types behave as the dataclasses they replace."""

from __future__ import annotations

import copy
import pickle

import pytest

from logicdsl import ast
from logicdsl.record import FrozenInstanceError, field, fields, is_record, record, replace
from logicdsl.source import Span


@record
class Point:
    x: int
    y: int = 0
    note: str = field(default="", compare=False, repr=False)
    tags: list = field(default_factory=list, compare=False)


@record(frozen=False)
class Box:
    items: list = field(default_factory=list)


@record
class Point3(Point):
    z: int = 0


def test_init_defaults_and_factories():
    p = Point(1)
    assert (p.x, p.y, p.note, p.tags) == (1, 0, "", [])
    assert Point(1).tags is not Point(1).tags  # a fresh list each time
    assert Point(x=2, y=3).y == 3
    with pytest.raises(TypeError):
        Point()  # x is required
    with pytest.raises(TypeError):
        Point(1, 2, "n", [], 5)


def test_equality_and_hash_ignore_compare_false_fields():
    assert Point(1, 2, note="a") == Point(1, 2, note="b")
    assert hash(Point(1, 2, note="a")) == hash(Point(1, 2, note="b"))
    assert Point(1, 2) != Point(2, 1)
    assert Point(1) != Point3(1)  # another class never compares equal
    assert len({Point(1), Point(1), Point(2)}) == 2


def test_frozen_and_mutable():
    p = Point(1)
    with pytest.raises(FrozenInstanceError):
        p.x = 2
    with pytest.raises(FrozenInstanceError):
        del p.x
    b = Box()
    b.items = [1]
    assert b == Box([1])
    with pytest.raises(TypeError):
        hash(b)  # mutable records are unhashable, as dataclasses


def test_repr_fields_replace_inheritance():
    assert repr(Point(1, 2, note="hidden")) == "Point(x=1, y=2, tags=[])"
    assert [f.name for f in fields(Point3)] == ["x", "y", "note", "tags", "z"]
    assert Point3(1, z=4).z == 4
    assert replace(Point(1, 2), y=5) == Point(1, 5)
    with pytest.raises(TypeError):
        replace(Point(1), w=1)
    assert is_record(Point) and is_record(Point(1)) and not is_record(3)
    assert Point.__match_args__ == ("x", "y", "note", "tags")


def test_required_after_default_is_refused():
    with pytest.raises(TypeError, match="without a default"):
        @record
        class Bad:
            a: int = 0
            b: int


def test_pickle_and_copy_round_trip():
    span = Span(0, 1, 1, 1, 1, 2)
    node = ast.Attr(ast.Name("juice", span), "kind", span, span)
    for clone in (pickle.loads(pickle.dumps(node)), copy.deepcopy(node), copy.copy(node)):
        assert clone == node and clone.span == span and clone.target.span == span
        with pytest.raises(FrozenInstanceError):
            clone.name = "x"


def test_ast_spans_take_no_part_in_equality():
    a = ast.Name("x", Span(0, 1, 1, 1, 1, 2))
    b = ast.Name("x", Span(5, 6, 2, 1, 2, 2))
    assert a == b and hash(a) == hash(b)
