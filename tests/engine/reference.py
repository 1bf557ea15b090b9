"""A reference interpreter: the checked AST evaluated directly and recursively on a :class:`Scene`.

Written from the language semantics (docs / the issue), independently of the compiler, planner and
evaluator: no query graph, no sharing, no memoisation, no short-circuit bookkeeping — every `let`
is re-evaluated where it is used. It only shares name resolution with the engine
(:func:`logicdsl.program.read_selection`, the one reading of ``count(x in obj in region)``), as
``program.py`` intends. The differential tests compare it with the engine rule by rule.

Values: numbers (int/float), bools, enum values (str), :class:`RInst` (an instance), lists of boxes
(regions), and :class:`U` (undecided, with a reason). Kleene logic throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from logicdsl import ast
from logicdsl.program import GEOMETRY, Program, Scope, Var, read_selection


@dataclass(frozen=True)
class U:
    """Undecided, with why."""

    reason: str


@dataclass(frozen=True)
class RInst:
    """One instance, geometry in image fractions (x / width, y / height)."""

    label: str
    box: tuple[float, float, float, float]
    area: float | None = None  # mask area / (W * H)
    length: float | None = None  # rotated-box long side / max(W, H)
    attributes: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def cx(self) -> float:
        return (self.box[0] + self.box[2]) / 2

    @property
    def cy(self) -> float:
        return (self.box[1] + self.box[3]) / 2


@dataclass(frozen=True)
class Cell:
    """A grid cell bound to a quantifier variable: its box, or why it has none."""

    box: Any  # tuple or U


def scene_instances(scene) -> dict[str, list[RInst]]:
    """Scene objects (pixels) → instances per label (fractions), in scene order."""
    W, H = scene.width, scene.height
    longer = float(max(W, H))
    out: dict[str, list[RInst]] = {}
    for o in scene.objects:
        x0, y0, x1, y1 = o.box
        length = None if o.rbox is None else max(o.rbox.w, o.rbox.h) / longer
        area = None if o.area is None else o.area / (W * H)
        out.setdefault(o.label, []).append(
            RInst(o.label, (x0 / W, y0 / H, x1 / W, y1 / H), area, length, dict(o.attributes)))
    return out


def is_u(v: Any) -> bool:
    return isinstance(v, U)


def eq(a: Any, b: Any) -> bool:
    """Equality of values: bools only equal bools; numbers compare with a 1e-9 tolerance."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def k_and(values) -> Any:
    """Kleene and over already-computed values."""
    und = None
    for v in values:
        if v is False:
            return False
        if is_u(v):
            und = und or v
    return und if und is not None else True


def k_or(values) -> Any:
    und = None
    for v in values:
        if v is True:
            return True
        if is_u(v):
            und = und or v
    return und if und is not None else False


class Reference:
    def __init__(self, program: Program, scene, min_confidence: float = 0.0):
        self.p = program
        self.scene = scene
        self.min_confidence = min_confidence  # the scene backend answers with confidence 1
        self.inst = scene_instances(scene)

    # ------------------------------------------------------------------ rules and images
    def rule_statuses(self) -> dict[str, str]:
        status: dict[str, str] = {}
        rules = {r.name: r for r in self.p.rules}

        def settle(name: str) -> str:
            if name in status:
                return status[name]
            r = rules[name]
            deps = [settle(d) for d in r.requires]
            if any(d != "pass" for d in deps):
                status[name] = "skipped"
            else:
                v = self.ev(r.expr, {})
                status[name] = "pass" if v is True else "fail" if v is False else "undecided"
            return status[name]

        for r in self.p.rules:
            settle(r.name)
        return {r.name: status[r.name] for r in self.p.rules}

    def image(self) -> dict[str, Any]:
        st = self.rule_statuses()
        failed = [n for n, s in st.items() if s == "fail"]
        undecided = [n for n, s in st.items() if s == "undecided"]
        if failed:
            status, label = "anomaly", failed[0]
        elif undecided:
            status, label = "undecided", "undecided"
        else:
            status, label = "normal", "normal"
        return {"status": status, "label": label, "rules": st}

    # ------------------------------------------------------------------ helpers
    def objects(self, name: str) -> list[RInst]:
        return list(self.inst.get(name, []))

    def single(self, obj: str) -> Any:
        items = self.objects(obj)
        if len(items) != 1:
            return U(f"expected exactly one `{obj}`, found {len(items)}")
        return items[0]

    def region_boxes(self, name: str, env: dict) -> Any:
        """A name used as a region → list of boxes (centre in any of them), or U."""
        if name in env:
            b = env[name]
            if isinstance(b, Cell):
                return b.box if is_u(b.box) else [b.box]
            return [b.box]
        if name in self.p.regions:
            decl = self.p.regions[name]
            if decl.of is None:
                return [decl.box.coords]
            outer = self.single(decl.of)
            if is_u(outer):
                return outer
            return [relative(outer.box, decl.box.coords)]
        return [i.box for i in self.objects(name)]  # an object: inside any of its instances

    def instance(self, node: ast.Expr, env: dict) -> Any:
        assert isinstance(node, ast.Name)
        if node.id in env:
            return env[node.id]
        return self.single(node.id)

    def attribute(self, inst: RInst, obj: str, name: str) -> Any:
        decl = self.p.attribute(obj, name)
        if decl is None:
            return geometry(inst, name)
        if name not in inst.attributes:
            return U(f"`{name}` not reported")
        v = inst.attributes[name]
        t = decl.type
        if isinstance(t, ast.EnumType):
            return v if isinstance(v, str) and v in t.values else U(f"`{v!r}` is not a value of `{name}`")
        if isinstance(t, ast.BoolType):
            return v if isinstance(v, bool) else U(f"`{v!r}` is not yes/no")
        return float(v) if is_num(v) and math.isfinite(v) else U(f"`{v!r}` is not a number")

    def selection(self, sel: ast.Selection, env: dict, bound_var: str | None = None):
        scope = Scope(tuple(Var(k, "instance", v.label) for k, v in env.items() if isinstance(v, RInst)))
        r = read_selection(self.p, scope, sel, bound_var)
        assert r is not None
        items = self.objects(r.object)
        if r.within is not None:
            boxes = self.region_boxes(r.within, env)
            if is_u(boxes):
                return r, boxes
            items = [i for i in items if any(b[0] <= i.cx <= b[2] and b[1] <= i.cy <= b[3] for b in boxes)]
        if r.where is not None:
            kept, und = [], None
            for i in items:
                v = self.ev(r.where, {**env, r.var: i})
                if is_u(v):
                    und = und or v
                elif v is True:
                    kept.append(i)
            if und is not None:
                return r, und
            items = kept
        return r, items

    # ------------------------------------------------------------------ expressions
    def ev(self, node: ast.Expr, env: dict) -> Any:
        return getattr(self, "e_" + type(node).__name__.lower())(node, env)

    def e_number(self, n: ast.Number, env):
        return float(n.value)

    def e_bool(self, n: ast.Bool, env):
        return bool(n.value)

    def e_name(self, n: ast.Name, env):
        if n.id in env:
            return env[n.id]
        if n.id in self.p.lets:
            return self.ev(self.p.lets[n.id].expr, {})  # lets see no local variables
        if n.id in self.p.objects:
            return self.single(n.id)
        return n.id  # an enum value

    def e_attr(self, n: ast.Attr, env):
        assert isinstance(n.target, ast.Name)
        name = n.target.id
        inst = env[name] if name in env else self.single(name)
        if is_u(inst):
            return inst
        return self.attribute(inst, inst.label, n.name)

    def e_call(self, n: ast.Call, env):
        f, args = n.func, n.args
        if f in GEOMETRY:
            return self.e_attr(ast.Attr(args[0], f), env)
        if f == "abs":
            v = self.ev(args[0], env)
            return v if is_u(v) else abs(v)
        if f == "distance":
            a, b = self.instance(args[0], env), self.instance(args[1], env)
            for v in (a, b):
                if is_u(v):
                    return v
            return math.hypot(a.cx - b.cx, a.cy - b.cy)
        # relations
        a = self.instance(args[0], env)
        second = args[1]
        assert isinstance(second, ast.Name)
        if second.id in self.p.regions or isinstance(env.get(second.id), Cell):
            boxes = self.region_boxes(second.id, env)
        else:
            b = self.instance(second, env)
            boxes = b if is_u(b) else [b.box]
        if is_u(a):
            return a
        if is_u(boxes):
            return boxes
        t = 0.1
        for kw in n.kwargs:
            if kw.name == "tolerance":
                t = float(kw.value.value)  # type: ignore[union-attr]
        (b,) = boxes
        return box_relation(f, a.box, b, t)

    def e_count(self, n: ast.Count, env):
        _, items = self.selection(n.selection, env)
        return items if is_u(items) else len(items)

    def e_exists(self, n: ast.Exists, env):
        _, items = self.selection(n.selection, env)
        return items if is_u(items) else len(items) > 0

    def e_aggregate(self, n: ast.Aggregate, env):
        _, items = self.selection(n.selection, env, n.var)
        if is_u(items):
            return items
        values = []
        for i in items:
            v = self.ev(n.expr, {**env, n.var: i})
            if is_u(v):
                return v
            values.append(v)
        if n.func == "sum":
            return float(sum(values))
        if n.func == "all_equal":
            return all(eq(v, values[0]) for v in values[1:])
        if not values:
            return U(f"{n.func} of no instances")
        if n.func == "min":
            return min(values)
        if n.func == "max":
            return max(values)
        return sum(values) / len(values)

    def e_quantified(self, n: ast.Quantified, env):
        if n.domain in self.p.grids:
            decl = self.p.grids[n.domain]
            outer = None
            if decl.within is not None:
                outer = self.single(decl.within)
            results = []
            for box in cell_boxes(decl):
                cell = Cell(outer if is_u(outer) else (box if outer is None else relative(outer.box, box)))
                results.append(self.ev(n.body, {**env, n.var: cell}))
        else:
            items = self.objects(n.domain)
            if n.within is not None:
                boxes = self.region_boxes(n.within, env)
                if is_u(boxes):
                    return boxes
                items = [i for i in items if any(b[0] <= i.cx <= b[2] and b[1] <= i.cy <= b[3] for b in boxes)]
            results = [self.ev(n.body, {**env, n.var: i}) for i in items]
        if n.quantifier == "all":
            return k_and(results)
        if n.quantifier == "any":
            return k_or(results)
        v = k_or(results)
        return v if is_u(v) else not v

    def e_not(self, n: ast.Not, env):
        v = self.ev(n.operand, env)
        return v if is_u(v) else not v

    def e_neg(self, n: ast.Neg, env):
        v = self.ev(n.operand, env)
        return v if is_u(v) else -v

    def e_arith(self, n: ast.Arith, env):
        a, b = self.ev(n.left, env), self.ev(n.right, env)
        for v in (a, b):
            if is_u(v):
                return v
        if not (is_num(a) and is_num(b)):
            return U("not a number")
        if n.op == "+":
            return a + b
        if n.op == "-":
            return a - b
        if n.op == "*":
            return a * b
        if b == 0:
            return U("division by zero")
        return a / b

    def e_compare(self, n: ast.Compare, env):
        a, b = self.ev(n.left, env), self.ev(n.right, env)
        for v in (a, b):
            if is_u(v):
                return v
        if n.op == "==":
            return eq(a, b)
        if n.op == "!=":
            return not eq(a, b)
        if not (is_num(a) and is_num(b)):
            return U("cannot order")
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[n.op]

    def e_logic(self, n: ast.Logic, env):
        a, b = self.ev(n.left, env), self.ev(n.right, env)
        if n.op == "and":
            return k_and([a, b])
        if n.op == "or":
            return k_or([a, b])
        return k_or([a if is_u(a) else (not a), b])  # a -> b  ==  not a or b

    def e_inrange(self, n: ast.InRange, env):
        v, lo, hi = self.ev(n.value, env), self.ev(n.low, env), self.ev(n.high, env)
        for x in (v, lo, hi):
            if is_u(x):
                return x
        return lo <= v <= hi

    def e_inset(self, n: ast.InSet, env):
        v = self.ev(n.value, env)
        if is_u(v):
            return v
        return any(eq(v, literal(i)) for i in n.items)

    def e_match(self, n: ast.Match, env):
        subject = self.ev(n.subject, env)
        if is_u(subject):
            return subject
        default = None
        for arm in n.arms:
            if isinstance(arm.pattern, ast.Name) and arm.pattern.id == "_":
                default = default or arm
                continue
            if eq(subject, literal(arm.pattern)):
                return self.ev(arm.body, env)
        if default is not None:
            return self.ev(default.body, env)
        return False


# ---------------------------------------------------------------------- geometry
def box_relation(f: str, a, b, t: float = 0.1) -> bool:
    """left_of/above: centre before centre; inside: box within box (edges may touch);
    overlaps: boxes intersect with positive area; centred: |dcx| <= t*width(b), |dcy| <= t*height(b)."""
    ax0, ay0, ax1, ay1 = a
    bx0, by0, bx1, by1 = b
    acx, acy = (ax0 + ax1) / 2, (ay0 + ay1) / 2
    bcx, bcy = (bx0 + bx1) / 2, (by0 + by1) / 2
    if f == "left_of":
        return acx < bcx
    if f == "above":
        return acy < bcy
    if f == "inside":
        return ax0 >= bx0 and ay0 >= by0 and ax1 <= bx1 and ay1 <= by1
    if f == "overlaps":
        return ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1
    if f == "centred":
        return abs(acx - bcx) <= t * (bx1 - bx0) and abs(acy - bcy) <= t * (by1 - by0)
    raise ValueError(f)


def relative(outer, inner):
    x0, y0, x1, y1 = outer
    w, h = x1 - x0, y1 - y0
    return (x0 + inner[0] * w, y0 + inner[1] * h, x0 + inner[2] * w, y0 + inner[3] * h)


def cell_boxes(decl: ast.GridDecl) -> list[tuple[float, float, float, float]]:
    """R rows x C columns, row by row, over the grid's box (or the unit box of its object)."""
    x0, y0, x1, y1 = decl.box.coords if decl.box is not None else (0.0, 0.0, 1.0, 1.0)
    w, h = (x1 - x0) / decl.cols, (y1 - y0) / decl.rows
    return [(x0 + c * w, y0 + r * h, x0 + (c + 1) * w, y0 + (r + 1) * h)
            for r in range(decl.rows) for c in range(decl.cols)]


def geometry(i: RInst, q: str) -> float:
    x0, y0, x1, y1 = i.box
    return {
        "left": x0, "right": x1, "top": y0, "bottom": y1, "width": x1 - x0, "height": y1 - y0,
        "center_x": (x0 + x1) / 2, "center_y": (y0 + y1) / 2,
        "area": i.area if i.area is not None else (x1 - x0) * (y1 - y0),
        "length": i.length if i.length is not None else max(x1 - x0, y1 - y0),
    }[q]


def literal(node: ast.Expr) -> Any:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Bool):
        return bool(node.value)
    if isinstance(node, ast.Number):
        return float(node.value)
    if isinstance(node, ast.Neg) and isinstance(node.operand, ast.Number):
        return -float(node.operand.value)
    raise ValueError(node)


def reference_verdict(program: Program, scene, min_confidence: float = 0.0) -> dict[str, Any]:
    return Reference(program, scene, min_confidence).image()
