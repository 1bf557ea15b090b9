"""The checked program: a module's declarations resolved into symbol tables.

This is the data type between the checker and the compiler. Name resolution rules live here so the
checker, the compiler and the reference interpreter in the tests all read a name the same way.
"""

from __future__ import annotations

from typing import Literal

from . import ast
from .diagnostics import Diagnostic
from .record import field, record
from .source import Source

#: geometric properties of an instance, usable as `x.area` or `area(x)`
GEOMETRY = ("left", "right", "top", "bottom", "width", "height", "center_x", "center_y", "area", "length")
#: relations between instances: name → (arity, whether the second argument may be a region)
RELATIONS = {"left_of": False, "above": False, "inside": True, "overlaps": False, "centred": True}
NUMERIC_FUNCS = {"abs": 1, "distance": 2}
AGGREGATES = ("sum", "min", "max", "mean", "all_equal")


@record(frozen=False)
class Program:
    source: Source
    module: ast.Module
    product: ast.ProductDecl | None
    objects: dict[str, ast.ObjectDecl] = field(default_factory=dict)
    attributes: dict[str, dict[str, ast.AttributeDecl]] = field(default_factory=dict)  # object → name → decl
    regions: dict[str, ast.RegionDecl] = field(default_factory=dict)
    grids: dict[str, ast.GridDecl] = field(default_factory=dict)
    lets: dict[str, ast.LetDecl] = field(default_factory=dict)
    rules: list[ast.RuleDecl] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.product.name if self.product else "unnamed"

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def rule(self, name: str) -> ast.RuleDecl:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def attribute(self, obj: str, name: str) -> ast.AttributeDecl | None:
        return self.attributes.get(obj, {}).get(name)

    def description(self, obj: str) -> str:
        d = self.objects[obj].description
        return d if d else obj.replace("_", " ")


# --------------------------------------------------------------------------- scopes
@record
class Var:
    """A name bound by a quantifier, aggregate or counting selection."""

    name: str
    kind: Literal["instance", "cell"]
    target: str  # the object (instance) or the grid (cell)


class Scope:
    """Local variables, innermost last; immutable (``bind`` returns a new scope)."""

    __slots__ = ("_vars",)

    def __init__(self, vars: tuple[Var, ...] = ()):
        self._vars = vars

    def bind(self, var: Var) -> "Scope":
        return Scope(self._vars + (var,))

    def lookup(self, name: str) -> Var | None:
        for v in reversed(self._vars):
            if v.name == name:
                return v
        return None


def global_kind(program: Program, name: str) -> str | None:
    if name in program.objects:
        return "object"
    if name in program.regions:
        return "region"
    if name in program.grids:
        return "grid"
    if name in program.lets:
        return "let"
    return None


@record
class ResolvedSelection:
    """``count(p in pin in left where …)`` read as: var ``p`` over object ``pin`` within ``left``."""

    var: str | None
    object: str
    within: str | None
    where: ast.Expr | None


def read_selection(program: Program, scope: Scope, sel: ast.Selection, bound_var: str | None = None
                   ) -> ResolvedSelection | None:
    """Interpret a selection's names; None when they cannot be read (the checker reports why)."""
    names = list(sel.names)
    var = bound_var
    if bound_var is None and names and names[0] not in program.objects and scope.lookup(names[0]) is None \
            and len(names) >= 2 and global_kind(program, names[0]) is None \
            and not (len(names) == 2 and global_kind(program, names[1]) == "region"):  # `obj in region`
        var = names.pop(0)
    if not names or len(names) > 2:
        return None
    obj = names[0]
    within = names[1] if len(names) == 2 else None
    return ResolvedSelection(var, obj, within, sel.where)
