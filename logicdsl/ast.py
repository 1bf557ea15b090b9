"""The syntax tree of a .logic file: frozen records (``logicdsl.record``), every node carrying its source span.

Spans are excluded from equality, so two trees that say the same thing compare equal wherever
their text sits (``parse(fmt(tree)) == tree``). Names are plain strings; where a diagnostic must
point at a name inside a node, the node keeps that name's span in a ``*_span`` field.
"""

from __future__ import annotations

from typing import Union

from .record import field, record
from .source import Span


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False)  # type: ignore[return-value]


# ---------------------------------------------------------------- expressions
@record
class Number:
    value: float
    span: Span | None = _span()


@record
class Bool:
    value: bool
    span: Span | None = _span()


@record
class Name:
    id: str
    span: Span | None = _span()


@record
class Attr:
    """``target.name``: an attribute (``juice.kind``) or a geometric property (``p.area``)."""

    target: "Expr"
    name: str
    span: Span | None = _span()
    name_span: Span | None = _span()


@record
class Kwarg:
    name: str
    value: "Expr"
    span: Span | None = _span()


@record
class Call:
    """A built-in function: geometry (``top(x)``), relations (``above(a, b)``), ``abs``."""

    func: str
    args: tuple["Expr", ...]
    kwargs: tuple[Kwarg, ...] = ()
    span: Span | None = _span()
    func_span: Span | None = _span()


@record
class Selection:
    """The instances a count/exists/aggregate ranges over, as written: ``names[0] in names[1] ...``.

    ``pin``, ``pin in left``, ``p in pin``, ``p in pin in left``, each optionally ``where cond``.
    Whether the first name is a fresh variable or an object is decided by the checker.
    """

    names: tuple[str, ...]
    where: "Expr | None" = None
    span: Span | None = _span()
    name_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@record
class Count:
    selection: Selection
    span: Span | None = _span()


@record
class Exists:
    selection: Selection
    span: Span | None = _span()


@record
class Aggregate:
    """``sum(p.area for p in pin in left)``; func is sum, min, max, mean or all_equal."""

    func: str
    expr: "Expr"
    var: str
    selection: Selection
    span: Span | None = _span()
    var_span: Span | None = _span()


@record
class Quantified:
    """``all c in cell: body`` (also any, none); ``within`` for ``all p in pin in left: …``."""

    quantifier: str
    var: str
    domain: str
    within: str | None
    body: "Expr"
    span: Span | None = _span()
    var_span: Span | None = _span()
    domain_span: Span | None = _span()
    within_span: Span | None = _span()


@record
class Not:
    operand: "Expr"
    span: Span | None = _span()


@record
class Neg:
    operand: "Expr"
    span: Span | None = _span()


@record
class Arith:
    op: str  # + - * /
    left: "Expr"
    right: "Expr"
    span: Span | None = _span()


@record
class Compare:
    op: str  # == != < <= > >=
    left: "Expr"
    right: "Expr"
    span: Span | None = _span()


@record
class Logic:
    op: str  # and, or, -> (implies)
    left: "Expr"
    right: "Expr"
    span: Span | None = _span()


@record
class InRange:
    value: "Expr"
    low: "Expr"
    high: "Expr"
    span: Span | None = _span()


@record
class InSet:
    value: "Expr"
    items: tuple["Expr", ...]
    span: Span | None = _span()


@record
class Arm:
    pattern: "Expr"  # Name (an enum value or `_`), Number or Bool
    body: "Expr"
    span: Span | None = _span()


@record
class Match:
    subject: "Expr"
    arms: tuple[Arm, ...]
    span: Span | None = _span()


Expr = Union[Number, Bool, Name, Attr, Call, Count, Exists, Aggregate, Quantified, Not, Neg,
             Arith, Compare, Logic, InRange, InSet, Match]


# ---------------------------------------------------------------- declarations
@record
class BoxLit:
    x0: float
    y0: float
    x1: float
    y1: float
    span: Span | None = _span()

    @property
    def coords(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0, self.x1, self.y1)


@record
class EnumType:
    values: tuple[str, ...]
    span: Span | None = _span()
    value_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


@record
class NumberType:
    low: float | None = None
    high: float | None = None
    span: Span | None = _span()


@record
class BoolType:
    span: Span | None = _span()


AttrType = Union[EnumType, NumberType, BoolType]


@record
class ProductDecl:
    name: str
    description: str | None = None
    span: Span | None = _span()
    name_span: Span | None = _span()


@record
class ObjectDecl:
    name: str
    description: str | None = None
    span: Span | None = _span()
    name_span: Span | None = _span()


@record
class AttributeDecl:
    name: str
    object: str
    type: AttrType
    description: str | None = None
    span: Span | None = _span()
    name_span: Span | None = _span()
    object_span: Span | None = _span()


@record
class RegionDecl:
    name: str
    box: BoxLit
    of: str | None = None
    span: Span | None = _span()
    name_span: Span | None = _span()
    of_span: Span | None = _span()


@record
class GridDecl:
    """``grid cell = 3 x 5 in box(…)`` or ``… in tray``: rows x columns of named cells."""

    name: str
    rows: int
    cols: int
    box: BoxLit | None = None
    within: str | None = None
    span: Span | None = _span()
    name_span: Span | None = _span()
    within_span: Span | None = _span()
    dims_span: Span | None = _span()


@record
class LetDecl:
    name: str
    expr: Expr
    span: Span | None = _span()
    name_span: Span | None = _span()


@record
class RuleDecl:
    name: str
    expr: Expr
    category: str | None = None
    message: str | None = None
    requires: tuple[str, ...] = ()
    span: Span | None = _span()
    name_span: Span | None = _span()
    requires_spans: tuple[Span, ...] = field(default=(), compare=False, repr=False)


Decl = Union[ProductDecl, ObjectDecl, AttributeDecl, RegionDecl, GridDecl, LetDecl, RuleDecl]


@record
class Comment:
    text: str  # including the leading '#'
    line: int
    own_line: bool  # alone on its line (else trailing code)


@record
class Module:
    decls: tuple[Decl, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)


_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(cls: type) -> tuple[str, ...]:
    names = _CHILD_FIELDS.get(cls)
    if names is None:
        names = tuple(f.name for f in getattr(cls, "__record_fields__", ())
                      if not (f.name.endswith("span") or f.name.endswith("spans")))
        _CHILD_FIELDS[cls] = names
    return names


def children(node: object) -> list[object]:
    """The expression children of a node, for generic walks (checker passes, depth limits)."""
    out: list[object] = []
    for name in _child_fields(type(node)):
        v = getattr(node, name)
        if isinstance(v, tuple):
            out.extend(x for x in v if hasattr(x, "__record_fields__"))
        elif hasattr(v, "__record_fields__"):
            out.append(v)
    return out


def walk(node: object):
    """Every node under ``node`` (pre-order), iteratively."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))
