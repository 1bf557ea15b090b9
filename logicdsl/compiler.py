"""Checked program → :class:`QueryGraph`.

The compiler emits the *highest-level* subquery each expression allows — ``count(pin in c)``
becomes one ``Count`` question, ``juice.kind`` one ``Attribute`` question — so a VLM can answer
directly; the planner later lowers what a given backend cannot answer natively onto ``Detect``.
Grid quantifiers are unrolled (cells are static); quantifiers over instances stay symbolic
(instances are only known once an image is seen). Nodes are interned: identical structure, one node.
"""

from __future__ import annotations


from . import ast
from . import graph as g
from .program import GEOMETRY, Program, Scope, Var, read_selection
from .record import record
from logicdsl.engine.subquery import (
    AttrFilter, Attribute, AttributeSpec, Count, Detect, Exists, Measure, Region, Relation,
)

NATIVE_RELATIONS = ("left_of", "above", "inside", "overlaps", "centred")


@record
class _Inst:
    """An instance of ``object`` bound to a quantifier, aggregate or selection variable."""

    object: str


@record
class _Cell:
    """A grid cell bound to a quantifier variable during unrolling."""

    region: Region
    node: g.Node


def attribute_spec(decl: ast.AttributeDecl) -> AttributeSpec:
    t = decl.type
    desc = decl.description or ""
    if isinstance(t, ast.EnumType):
        return AttributeSpec(decl.name, "enum", tuple(t.values), desc)
    if isinstance(t, ast.BoolType):
        return AttributeSpec(decl.name, "bool", (), desc)
    return AttributeSpec(decl.name, "number", (), desc, t.low, t.high)


def grid_cells(decl: ast.GridDecl, program: Program) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Cell names ``g[r][c]`` and boxes, row by row (fractions of the image or of the grid's object)."""
    x0, y0, x1, y1 = decl.box.coords if decl.box is not None else (0.0, 0.0, 1.0, 1.0)
    w, h = (x1 - x0) / decl.cols, (y1 - y0) / decl.rows
    return [(f"{decl.name}[{r}][{c}]", (x0 + c * w, y0 + r * h, x0 + (c + 1) * w, y0 + (r + 1) * h))
            for r in range(decl.rows) for c in range(decl.cols)]


class Compiler:
    def __init__(self, program: Program):
        if not program.ok:
            raise ValueError("cannot compile a program with errors")
        self.p = program
        self._interned: dict[g.Node, g.Node] = {}
        self._lets: dict[str, g.Node] = {}
        self.detects = {
            obj: Detect(obj, program.description(obj),
                        tuple(attribute_spec(d) for d in program.attributes.get(obj, {}).values()))
            for obj in program.objects
        }

    # ---------------------------------------------------------------- helpers
    def mk(self, n: g.Node) -> g.Node:
        return self._interned.setdefault(n, n)

    def text(self, node) -> str:
        sp = getattr(node, "span", None)
        if sp is None:
            return ""
        return " ".join(self.p.source.text[sp.start:sp.end].split())

    def detect(self, obj: str) -> g.Node:
        return self.mk(g.Ask(self.detects[obj], text=f"detect {obj}"))

    def single(self, obj: str) -> g.Node:
        return self.mk(g.Single(self.detect(obj), obj, text=obj))

    def instance(self, node: ast.Expr, env: dict) -> g.Node:
        """An expression that denotes one instance: a bound variable or an object's single instance."""
        assert isinstance(node, ast.Name), "checked programs pass names here"
        b = env.get(node.id)
        if isinstance(b, _Inst):
            return self.mk(g.Var(node.id, text=node.id))
        return self.single(node.id)

    def region(self, name: str, env: dict) -> tuple[Region | None, g.Node]:
        """A ``within`` name → (subquery region for native asks, or None; the region node)."""
        b = env.get(name)
        if isinstance(b, _Cell):
            return b.region, b.node
        if isinstance(b, _Inst):
            return None, self.mk(g.Var(name, text=name))
        if name in self.p.regions:
            r = self.p.regions[name]
            if r.of is None:
                return Region("box", name, r.box.coords), self.mk(g.StaticBox(r.box.coords, name, text=name))
            return (Region("object_box", name, r.box.coords, r.of, self.p.description(r.of)),
                    self.mk(g.RelBox(r.box.coords, self.single(r.of), name, text=name)))
        assert name in self.p.objects
        return (Region("object", name, None, name, self.p.description(name)),
                self.mk(g.UnionBox(self.detect(name), name, text=name)))

    # ---------------------------------------------------------------- entry
    def compile(self) -> g.QueryGraph:
        roots = []
        for rule in self.p.rules:
            root = self.expr(rule.expr, {})
            roots.append(g.RuleRoot(rule.name, rule.category, rule.message, rule.requires, root,
                                    rule.span.line if rule.span else 0))
        descriptions = {o: self.p.description(o) for o in self.p.objects}
        return g.QueryGraph(self.p.name, roots, dict(self.detects), descriptions)

    # ---------------------------------------------------------------- expressions
    def expr(self, node: ast.Expr, env: dict) -> g.Node:
        return self.mk(getattr(self, "c_" + type(node).__name__.lower())(node, env))

    def c_number(self, node: ast.Number, env):
        return g.Const(float(node.value), text=self.text(node))

    def c_bool(self, node: ast.Bool, env):
        return g.Const(bool(node.value), text=self.text(node))

    def c_name(self, node: ast.Name, env):
        if isinstance(env.get(node.id), _Inst):
            return g.Var(node.id, text=node.id)
        if node.id in self.p.lets:
            return self.let(node.id)
        if node.id in self.p.objects:
            return self.single(node.id)
        return g.Const(node.id, text=node.id)  # an enum value

    def let(self, name: str) -> g.Node:
        if name not in self._lets:
            decl = self.p.lets[name]
            self._lets[name] = self.mk(g.Named(name, self.expr(decl.expr, {}), text=self.text(decl.expr)))
        return self._lets[name]

    def c_attr(self, node: ast.Attr, env):
        assert isinstance(node.target, ast.Name)
        name = node.target.id
        bound = env.get(name)
        obj = bound.object if isinstance(bound, _Inst) else name
        decl = self.p.attribute(obj, node.name)
        if isinstance(bound, _Inst):
            inst = self.mk(g.Var(name, text=name))
            if decl is not None:
                return g.InstAttr(inst, node.name, text=self.text(node))
            return g.InstGeom(inst, node.name, text=self.text(node))
        if decl is not None:
            return g.Ask(Attribute(obj, self.p.description(obj), attribute_spec(decl)), text=self.text(node))
        return g.Ask(Measure(node.name, obj, self.p.description(obj)), text=self.text(node))  # type: ignore[arg-type]

    def c_call(self, node: ast.Call, env):
        f, args = node.func, node.args
        if f in GEOMETRY:
            return self.c_attr(ast.Attr(args[0], f, node.span), env)
        if f == "abs":
            return g.Abs(self.expr(args[0], env), text=self.text(node))
        if f == "distance":
            return g.Distance(self.instance(args[0], env), self.instance(args[1], env), text=self.text(node))
        tol = next((float(kw.value.value) for kw in node.kwargs if kw.name == "tolerance"), None)  # type: ignore
        if f == "centred" and tol is None:
            tol = 0.1
        a, b = args
        a_obj = isinstance(a, ast.Name) and a.id in self.p.objects and a.id not in env
        b_obj = isinstance(b, ast.Name) and b.id in self.p.objects and b.id not in env
        if a_obj and b_obj and f in NATIVE_RELATIONS:
            q = Relation(f, a.id, self.p.description(a.id), b.id, self.p.description(b.id), tol)  # type: ignore
            return g.Ask(q, text=self.text(node))
        a_node = self.instance(a, env)
        if isinstance(b, ast.Name) and (b.id in self.p.regions or isinstance(env.get(b.id), _Cell)):
            _, b_node = self.region(b.id, env)
        else:
            b_node = self.instance(b, env)
        return g.Rel(f, a_node, b_node, tol, text=self.text(node))

    # ---- counting
    def _native_filter(self, var: str | None, where: ast.Expr | None, obj: str) -> AttrFilter | None | bool:
        """``where v.attr == value`` as a native filter; False when the condition is not of that form."""
        if where is None:
            return None
        if (isinstance(where, ast.Compare) and where.op in ("==", "!=") and isinstance(where.left, ast.Attr)
                and isinstance(where.left.target, ast.Name) and where.left.target.id == var
                and isinstance(where.right, (ast.Name, ast.Number, ast.Bool))):
            decl = self.p.attribute(obj, where.left.name)
            if decl is not None:
                r = where.right
                value = r.id if isinstance(r, ast.Name) else r.value
                if isinstance(r, ast.Name) and r.id in self.p.lets:
                    return False
                return AttrFilter(attribute_spec(decl), where.op, value)  # type: ignore[arg-type]
        return False

    def selection(self, sel: ast.Selection, env: dict, bound_var: str | None = None):
        scope = Scope(tuple(Var(k, "instance", v.object) for k, v in env.items() if isinstance(v, _Inst)))
        r = read_selection(self.p, scope, sel, bound_var)
        assert r is not None
        region, region_node = (None, None) if r.within is None else self.region(r.within, env)
        inner = dict(env)
        if r.var is not None:
            inner[r.var] = _Inst(r.object)
        where_node = self.expr(r.where, inner) if r.where is not None else None
        items = self.detect(r.object)
        if region_node is not None or where_node is not None:
            items = self.mk(g.Filter(items, region_node, r.var or "_", where_node, text=self.text(sel)))
        return r, region, items

    def c_count(self, node: ast.Count, env):
        r, region, items = self.selection(node.selection, env)
        native = self._native_filter(r.var, r.where, r.object)
        if native is not False and (r.within is None or region is not None):
            q = Count(r.object, self.p.description(r.object), region, native)  # type: ignore[arg-type]
            return g.Ask(q, text=self.text(node))
        return g.CountOf(items, text=self.text(node))

    def c_exists(self, node: ast.Exists, env):
        r, region, items = self.selection(node.selection, env)
        if r.where is None and (r.within is None or region is not None):
            return g.Ask(Exists(r.object, self.p.description(r.object), region), text=self.text(node))
        return g.NonEmpty(items, text=self.text(node))

    def c_aggregate(self, node: ast.Aggregate, env):
        r, _, items = self.selection(node.selection, env, node.var)
        inner = dict(env)
        inner[node.var] = _Inst(r.object)
        return g.Aggregate(node.func, node.var, items, self.expr(node.expr, inner), text=self.text(node))

    def c_quantified(self, node: ast.Quantified, env):
        if node.domain in self.p.grids:
            decl = self.p.grids[node.domain]
            bodies = []
            for name, box in grid_cells(decl, self.p):
                if decl.within is None:
                    cell = _Cell(Region("box", name, box), self.mk(g.StaticBox(box, name, text=name)))
                else:
                    cell = _Cell(Region("object_box", name, box, decl.within, self.p.description(decl.within)),
                                 self.mk(g.RelBox(box, self.single(decl.within), name, text=name)))
                inner = dict(env)
                inner[node.var] = cell
                bodies.append(self.expr(node.body, inner))
            text = self.text(node)
            if node.quantifier == "all":
                return g.AllOf(tuple(bodies), text=text)
            if node.quantifier == "any":
                return g.AnyOf(tuple(bodies), text=text)
            return g.Not(self.mk(g.AnyOf(tuple(bodies), text=text)), text=text)
        items = self.detect(node.domain)
        if node.within is not None:
            _, region_node = self.region(node.within, env)
            items = self.mk(g.Filter(items, region_node, "_", None, text=f"{node.domain} in {node.within}"))
        inner = dict(env)
        inner[node.var] = _Inst(node.domain)
        return g.Quant(node.quantifier, node.var, items, self.expr(node.body, inner), text=self.text(node))

    # ---- operators
    def c_not(self, node: ast.Not, env):
        return g.Not(self.expr(node.operand, env), text=self.text(node))

    def c_neg(self, node: ast.Neg, env):
        return g.Neg(self.expr(node.operand, env), text=self.text(node))

    def c_arith(self, node: ast.Arith, env):
        return g.Arith(node.op, self.expr(node.left, env), self.expr(node.right, env), text=self.text(node))

    def c_compare(self, node: ast.Compare, env):
        return g.Compare(node.op, self.expr(node.left, env), self.expr(node.right, env), text=self.text(node))

    def c_logic(self, node: ast.Logic, env):
        left, right = self.expr(node.left, env), self.expr(node.right, env)
        if node.op == "->":
            return g.Implies(left, right, text=self.text(node))
        cls = g.AllOf if node.op == "and" else g.AnyOf
        items: list[g.Node] = []
        for part in (left, right):  # flatten `a and b and c` into one n-ary node
            items.extend(part.items if isinstance(part, cls) and not isinstance(part, g.Not) else (part,))
        return cls(tuple(items), text=self.text(node))

    def c_inrange(self, node: ast.InRange, env):
        return g.InRange(self.expr(node.value, env), self.expr(node.low, env), self.expr(node.high, env),
                         text=self.text(node))

    def c_inset(self, node: ast.InSet, env):
        return g.InSet(self.expr(node.value, env), tuple(_literal(i) for i in node.items), text=self.text(node))

    def c_match(self, node: ast.Match, env):
        arms, default = [], None
        for arm in node.arms:
            if isinstance(arm.pattern, ast.Name) and arm.pattern.id == "_":
                default = default or self.expr(arm.body, env)
            else:
                arms.append((_literal(arm.pattern), self.expr(arm.body, env)))
        return g.Match(self.expr(node.subject, env), tuple(arms), default, text=self.text(node))


def _literal(node: ast.Expr):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Number):
        return float(node.value)
    if isinstance(node, ast.Bool):
        return bool(node.value)
    raise ValueError(f"not a literal: {node!r}")


def compile_program(program: Program) -> g.QueryGraph:
    return Compiler(program).compile()
