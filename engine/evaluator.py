"""Three-valued (Kleene) evaluation of query-graph nodes against the answers known so far.

A node evaluates to a plain value, :class:`Undecided` (with the reason) or :class:`Pending`
(the subqueries still to ask). ``and``/``or``/``->`` short-circuit left to right, and only the
first pending operand's needs are reported, so the executor asks nothing a decided operand made
moot. Results that are not pending are memoised per image together with their provenance
(the subqueries and lets they used, the checks that failed), so every rule that shares a node
gets the full evidence.
"""

from __future__ import annotations

import math
import operator
from typing import Any, Callable, Mapping

from logicdsl import graph as g
from logicdsl.engine.subquery import Answer, Instance, Subquery
from logicdsl.record import record


@record
class Undecided:
    reason: str

    def __repr__(self) -> str:
        return f"Undecided({self.reason!r})"


@record
class Pending:
    needs: frozenset

    def __or__(self, other: "Pending") -> "Pending":
        return Pending(self.needs | other.needs)


class Trace:
    """What an evaluation looked at: subqueries (with answers), let values, and failed checks.

    Subqueries and lets are ordered sets, so a subquery read by fifteen grid cells is listed once.
    One trace is made per evaluated node, so it is a plain slotted class, cheap to make and to merge.
    """

    __slots__ = ("asks", "lets", "checks")

    def __init__(self) -> None:
        self.asks: dict[Subquery, None] = {}
        self.lets: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []

    def extend(self, other: "Trace") -> None:
        if other.asks:
            self.asks.update(other.asks)
        if other.lets:
            self.lets.update(other.lets)
        if other.checks and len(self.checks) < 50:
            self.checks.extend(other.checks[: 50 - len(self.checks)])


MISSING = object()


def is_value(v: Any) -> bool:
    return not isinstance(v, (Undecided, Pending))


class Evaluator:
    """Evaluates nodes for one image. Create one per image; call :meth:`evaluate` once per wave and rule.

    With ``tracing=False`` nothing but values is computed (no evidence): the executor runs its
    waves so, and traces again only the rules that did not pass, which on a normal unit is none.
    """

    def __init__(self, answers: Mapping[Subquery, Answer], min_confidence: float = 0.0, *, tracing: bool = True):
        self.answers = answers
        self.min_confidence = min_confidence
        self.tracing = tracing
        if not tracing:
            self.eval = self._eval_untraced  # type: ignore[method-assign]
        self._memo: dict[int, tuple[Any, Trace | None]] = {}
        self._free: dict[int, frozenset[str]] = {}
        #: one trace per node being evaluated; None until the node records something (most never do)
        self._stack: list[Trace | None] = [Trace()]
        #: id(list of instances) -> (the list, kept alive so the id stays its own; the box centres)
        self._centre_memo: dict[int, tuple[list[Instance], list[tuple[float, float]]]] = {}
        #: (id(instance), attribute) -> why a detection's attribute value is unusable
        self._bad_attrs: dict[tuple[int, str], Undecided] = {}

    # ---------------------------------------------------------------- public
    def evaluate(self, node: g.Node) -> tuple[Any, Trace]:
        """Evaluate a rule root; return its value and a fresh trace of what it used."""
        self._stack = [Trace()]
        value = self.eval(node, {})
        return value, self._stack[0]  # type: ignore[return-value]

    # ---------------------------------------------------------------- machinery
    def free_vars(self, n: g.Node) -> frozenset[str]:
        fv = n.__dict__.get("_fv")  # static per node: cached on the (immutable) node across images
        if fv is not None:
            return fv
        key = id(n)
        fv = self._free.get(key)
        if fv is None:
            if isinstance(n, g.Var):
                fv = frozenset((n.name,))
            else:
                fv = frozenset().union(*(self.free_vars(c) for c in n.children())) if n.children() else frozenset()
                if isinstance(n, (g.Quant, g.Aggregate)):
                    fv = (fv - {n.var}) | self.free_vars(n.items)
                elif isinstance(n, g.Filter):
                    inner = self.free_vars(n.where) - {n.var} if n.where is not None else frozenset()
                    fv = self.free_vars(n.source) | (self.free_vars(n.region) if n.region else frozenset()) | inner
            self._free[key] = fv
            object.__setattr__(n, "_fv", fv)
        return fv

    def eval(self, n: g.Node, env: dict[str, Any]) -> Any:
        if type(n) is g.Const:  # the commonest leaf: no trace, no memo
            return n.value
        memoisable = not self.free_vars(n)
        stack = self._stack
        if memoisable:
            hit = self._memo.get(id(n))
            if hit is not None:
                if hit[1] is not None:
                    self._frame().extend(hit[1])
                return hit[0]
        stack.append(None)
        try:
            value = _DISPATCH[type(n)](self, n, env)
        finally:
            frame = stack.pop()
        if memoisable and not isinstance(value, Pending):
            self._memo[id(n)] = (value, frame)
        if frame is not None:
            self._frame().extend(frame)
        return value

    def _eval_untraced(self, n: g.Node, env: dict[str, Any]) -> Any:
        """:meth:`eval` without evidence."""
        if type(n) is g.Const:
            return n.value
        memoisable = not self.free_vars(n)
        if memoisable:
            hit = self._memo.get(id(n))
            if hit is not None:
                return hit[0]
        value = _DISPATCH[type(n)](self, n, env)
        if memoisable and not isinstance(value, Pending):
            self._memo[id(n)] = (value, None)
        return value

    def _frame(self) -> Trace:
        """The trace of the node being evaluated, made on first use."""
        frame = self._stack[-1]
        if frame is None:
            frame = self._stack[-1] = Trace()
        return frame

    def check_failed(self, n: g.Node, result: Any, operands: list[tuple[g.Node, Any]], env: dict) -> None:
        """Record a comparison that came out false or undecided: the evidence of why a rule broke."""
        if result is True or isinstance(result, Pending) or not self.tracing:
            return
        entry: dict[str, Any] = {
            "expr": n.text or g.describe_node(n),
            "result": "fail" if result is False else "undecided",
            "operands": [{"expr": _label(o), "value": _jsonable(v)} for o, v in operands
                         if not isinstance(o, g.Const)],
        }
        if isinstance(result, Undecided):
            entry["reason"] = result.reason
        if env:
            entry["binding"] = {k: _jsonable(v) for k, v in env.items()}
        self._frame().checks.append(entry)

    # ---------------------------------------------------------------- leaves
    def ask(self, n: g.Ask, env) -> Any:
        q = n.query
        ans = self.answers.get(q)
        if ans is None:
            return Pending(frozenset((q,)))
        if self.tracing:
            self._frame().asks[q] = None
        if ans.value is None:
            return Undecided(ans.error or "the backend gave no answer")
        if ans.confidence is not None and ans.confidence < self.min_confidence:
            return Undecided(f"confidence {ans.confidence:.2f} is below the floor {self.min_confidence:.2f}")
        value = _validate(q, ans.value)
        if q.kind == "detect" and q.attributes and isinstance(value, list):
            # an attribute value outside its declared type is garbage, as it is in a native answer
            for inst in value:
                for spec in q.attributes:
                    raw = inst.attribute(spec.name)
                    if raw is not None:
                        checked = _validate_attribute(spec, raw)
                        if isinstance(checked, Undecided):
                            self._bad_attrs[(id(inst), spec.name)] = checked
        return value

    def const(self, n: g.Const, env) -> Any:
        return n.value

    def var(self, n: g.Var, env) -> Any:
        return env[n.name]

    def named(self, n: g.Named, env) -> Any:
        v = self.eval(n.value, env)
        if self.tracing and not isinstance(v, Pending):
            self._frame().lets[n.name] = _jsonable(v)
        return v

    # ---------------------------------------------------------------- arithmetic
    def _operands(self, nodes: tuple[g.Node, ...], env) -> tuple[list[Any], Any]:
        """Evaluate strict operands; return (values, blocker) where blocker is Pending/Undecided or None."""
        values = [self.eval(c, env) for c in nodes]
        return values, _blocker(values)

    def arith(self, n: g.Arith, env) -> Any:
        (a, b), blocker = self._operands((n.left, n.right), env)
        if blocker is not None:
            return blocker
        try:
            if n.op == "+":
                return a + b
            if n.op == "-":
                return a - b
            if n.op == "*":
                return a * b
            if b == 0:
                return Undecided(f"division by zero in `{n.text}`")
            return a / b
        except TypeError:
            return Undecided(f"`{n.text}` got a value that is not a number")

    def neg(self, n: g.Neg, env) -> Any:
        v = self.eval(n.operand, env)
        return -v if is_value(v) else v

    def abs_(self, n: g.Abs, env) -> Any:
        v = self.eval(n.operand, env)
        return abs(v) if is_value(v) else v

    def compare(self, n: g.Compare, env) -> Any:
        # the commonest node of all (`count(pin in c) >= 1` for every grid cell): no operand list
        a = self.eval(n.left, env)
        right = n.right
        b = right.value if type(right) is g.Const else self.eval(right, env)
        if type(a) in _BLOCKERS or type(b) in _BLOCKERS:
            result = _blocker((a, b))
        else:
            result = _compare(n.op, a, b)
        if self.tracing and result is not True:
            self.check_failed(n, result, [(n.left, a), (n.right, b)], env)
        return result

    def in_range(self, n: g.InRange, env) -> Any:
        (v, lo, hi), blocker = self._operands((n.value, n.low, n.high), env)
        result = blocker if blocker is not None else (lo <= v <= hi)
        self.check_failed(n, result, [(n.value, v), (n.low, lo), (n.high, hi)], env)
        return result

    def in_set(self, n: g.InSet, env) -> Any:
        v = self.eval(n.value, env)
        result = v if not is_value(v) else any(_equal(v, item) for item in n.items)
        self.check_failed(n, result, [(n.value, v)], env)
        return result

    # ---------------------------------------------------------------- logic
    def all_of(self, n: g.AllOf, env) -> Any:
        undecided = None
        for c in n.items:
            v = self.eval(c, env)
            if v is False:
                return False
            if isinstance(v, Pending):
                return v  # ask for this operand first; later ones may become moot
            if isinstance(v, Undecided):
                undecided = undecided or v
            elif v is not True:
                return Undecided(f"`{c.text}` is not a yes/no value")
        return undecided if undecided is not None else True

    def any_of(self, n: g.AnyOf, env) -> Any:
        undecided = None
        for c in n.items:
            v = self.eval(c, env)
            if v is True:
                return True
            if isinstance(v, Pending):
                return v
            if isinstance(v, Undecided):
                undecided = undecided or v
            elif v is not False:
                return Undecided(f"`{c.text}` is not a yes/no value")
        return undecided if undecided is not None else False

    def not_(self, n: g.Not, env) -> Any:
        v = self.eval(n.operand, env)
        return (not v) if isinstance(v, bool) else v

    def implies(self, n: g.Implies, env) -> Any:
        guard = self.eval(n.guard, env)
        if guard is False:
            return True
        if isinstance(guard, Pending):
            return guard
        then = self.eval(n.then, env)
        if then is True:
            return True
        if isinstance(then, Pending):
            return then
        if isinstance(guard, Undecided):
            return guard
        return then

    def match(self, n: g.Match, env) -> Any:
        subject = self.eval(n.subject, env)
        if isinstance(subject, Pending):
            return subject
        if isinstance(subject, Undecided):
            result = Undecided(f"`match` on an undecided value: {subject.reason}")
            self.check_failed(n, result, [(n.subject, subject)], env)
            return result
        for value, body in n.arms:
            if _equal(subject, value):
                return self.eval(body, env)
        if n.default is not None:
            return self.eval(n.default, env)
        self.check_failed(n, False, [(n.subject, subject)], env)
        return False

    # ---------------------------------------------------------------- instances
    def filter(self, n: g.Filter, env) -> Any:
        items = self.eval(n.source, env)
        if not is_value(items):
            return items
        if n.region is not None:
            region = self.eval(n.region, env)
            if not is_value(region):
                return region
            boxes = _boxes(region)
            centres = self._centres(items)
            items = [i for i, c in zip(items, centres) if _point_in(c, boxes)]
        if n.where is None:
            return items
        kept, undecided = [], None
        for inst in items:
            v = self.eval(n.where, {**env, n.var: inst})
            if isinstance(v, Pending):
                return v
            if isinstance(v, Undecided):
                undecided = undecided or v
            elif v is True:
                kept.append(inst)
        if undecided is not None:
            return Undecided(f"cannot tell which instances match `{n.text}`: {undecided.reason}")
        return kept

    def _centres(self, items: list[Instance]) -> list[tuple[float, float]]:
        """Box centres of a list of instances, computed once per list (fifteen grid cells filter one list)."""
        hit = self._centre_memo.get(id(items))
        if hit is None or hit[0] is not items:
            hit = self._centre_memo[id(items)] = (items, [i.center for i in items])
        return hit[1]

    def count_of(self, n: g.CountOf, env) -> Any:
        items = self.eval(n.items, env)
        return len(items) if is_value(items) else items

    def non_empty(self, n: g.NonEmpty, env) -> Any:
        items = self.eval(n.items, env)
        return bool(items) if is_value(items) else items

    def single(self, n: g.Single, env) -> Any:
        items = self.eval(n.items, env)
        if not is_value(items):
            return items
        if len(items) != 1:
            result = Undecided(f"expected exactly one `{n.object}`, found {len(items)}")
            self.check_failed(n, result, [(n.items, items)], env)
            return result
        return items[0]

    def inst_attr(self, n: g.InstAttr, env) -> Any:
        inst = self.eval(n.instance, env)
        if not is_value(inst):
            return inst
        value = inst.attribute(n.attribute)
        if value is None:
            return Undecided(f"the backend did not report `{n.attribute}` for `{n.text or n.attribute}`")
        bad = self._bad_attrs.get((id(inst), n.attribute))
        if bad is not None:
            return bad
        score = inst.attribute_score(n.attribute)
        if score is not None and score < self.min_confidence:
            return Undecided(f"`{n.attribute}` confidence {score:.2f} is below the floor {self.min_confidence:.2f}")
        return value

    def inst_geom(self, n: g.InstGeom, env) -> Any:
        inst = self.eval(n.instance, env)
        return geometry(inst, n.quantity) if is_value(inst) else inst

    def distance(self, n: g.Distance, env) -> Any:
        (a, b), blocker = self._operands((n.a, n.b), env)
        if blocker is not None:
            return blocker
        return math.dist(a.center, b.center)

    def rel(self, n: g.Rel, env) -> Any:
        (a, b), blocker = self._operands((n.a, n.b), env)
        result = blocker if blocker is not None else relation(n.relation, a, b, n.tolerance)
        self.check_failed(n, result, [(n.a, a), (n.b, b)], env)
        return result

    def quant(self, n: g.Quant, env) -> Any:
        items = self.eval(n.items, env)
        if not is_value(items):
            return items
        want = n.quantifier != "all"  # the value that decides early: any→True, none→True(found), all→False
        undecided = None
        for inst in items:
            v = self.eval(n.body, {**env, n.var: inst})
            if isinstance(v, Pending):
                return v
            if isinstance(v, Undecided):
                undecided = undecided or v
                continue
            if v is want:
                return (n.quantifier == "any")
        if undecided is not None:
            return undecided
        return n.quantifier != "any"

    def aggregate(self, n: g.Aggregate, env) -> Any:
        items = self.eval(n.items, env)
        if not is_value(items):
            return items
        values = []
        for inst in items:
            v = self.eval(n.expr, {**env, n.var: inst})
            if not is_value(v):
                return v
            values.append(v)
        if n.func == "sum":
            return float(sum(values))
        if n.func == "all_equal":
            return all(_equal(v, values[0]) for v in values[1:]) if values else True
        if not values:
            return Undecided(f"`{n.text}` has no instances to take the {n.func} of")
        if n.func == "min":
            return min(values)
        if n.func == "max":
            return max(values)
        return sum(values) / len(values)

    # ---------------------------------------------------------------- regions
    def static_box(self, n: g.StaticBox, env) -> Any:
        return [n.box]

    def rel_box(self, n: g.RelBox, env) -> Any:
        inst = self.eval(n.instance, env)
        if not is_value(inst):
            return inst
        return [relative_box(inst.box, n.box)]

    def union_box(self, n: g.UnionBox, env) -> Any:
        items = self.eval(n.items, env)
        return [i.box for i in items] if is_value(items) else items


# ------------------------------------------------------------------ geometry
def relative_box(outer, inner):
    x0, y0, x1, y1 = outer
    w, h = x1 - x0, y1 - y0
    return (x0 + inner[0] * w, y0 + inner[1] * h, x0 + inner[2] * w, y0 + inner[3] * h)


def geometry(inst: Instance, quantity: str) -> float:
    x0, y0, x1, y1 = inst.box
    if quantity == "left":
        return x0
    if quantity == "right":
        return x1
    if quantity == "top":
        return y0
    if quantity == "bottom":
        return y1
    if quantity == "width":
        return x1 - x0
    if quantity == "height":
        return y1 - y0
    if quantity == "center_x":
        return (x0 + x1) / 2
    if quantity == "center_y":
        return (y0 + y1) / 2
    if quantity == "area":
        return inst.area if inst.area is not None else (x1 - x0) * (y1 - y0)
    if quantity == "length":
        return inst.length if inst.length is not None else max(x1 - x0, y1 - y0)
    raise ValueError(quantity)


def _boxes(x: Any) -> list:
    if isinstance(x, Instance):
        return [x.box]
    return list(x)


def _point_in(point: tuple[float, float], boxes: list) -> bool:
    cx, cy = point
    for b in boxes:
        if b[0] <= cx <= b[2] and b[1] <= cy <= b[3]:
            return True
    return False


def relation(name: str, a: Instance, b: Any, tolerance: float | None) -> Any:
    """left_of/above: centre before centre; inside: box within box; overlaps: boxes meet;
    centred: centres within ``tolerance`` of b's width and height."""
    ab = a.box
    bb = _boxes(b)
    if len(bb) != 1:
        return Undecided(f"`{name}` needs one region, found {len(bb)}")
    b0 = bb[0]
    acx, acy = (ab[0] + ab[2]) / 2, (ab[1] + ab[3]) / 2
    bcx, bcy = (b0[0] + b0[2]) / 2, (b0[1] + b0[3]) / 2
    if name == "left_of":
        return acx < bcx
    if name == "above":
        return acy < bcy
    if name == "inside":
        return ab[0] >= b0[0] and ab[1] >= b0[1] and ab[2] <= b0[2] and ab[3] <= b0[3]
    if name == "overlaps":
        return ab[0] < b0[2] and b0[0] < ab[2] and ab[1] < b0[3] and b0[1] < ab[3]
    if name == "centred":
        t = 0.1 if tolerance is None else tolerance
        return abs(acx - bcx) <= t * (b0[2] - b0[0]) and abs(acy - bcy) <= t * (b0[3] - b0[1])
    raise ValueError(name)


# ------------------------------------------------------------------ values
def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b if isinstance(a, bool) and isinstance(b, bool) else False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


_BLOCKERS = (Pending, Undecided)


def _blocker(values: Any) -> Any:
    """What stops a strict operation on these operand values: the union of the pending subqueries,
    else the first undecided operand, else None."""
    pending = undecided = None
    for v in values:
        if isinstance(v, Pending):
            pending = v if pending is None else pending | v
        elif isinstance(v, Undecided) and undecided is None:
            undecided = v
    return pending or undecided


def _compare(op: str, a: Any, b: Any) -> Any:
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) \
            or not isinstance(b, (int, float)):
        return Undecided(f"cannot order {a!r} and {b!r}")
    return _ORDER[op](a, b)


_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def _validate(q: Subquery, value: Any) -> Any:
    """A backend's raw value, checked against what the subquery kind promises."""
    kind = q.kind
    if kind == "detect":
        if isinstance(value, list) and all(isinstance(i, Instance) for i in value):
            return value
        return Undecided("the backend's detections are not a list of instances")
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0 or value != int(value):
            return Undecided(f"the backend answered `{value!r}` to a count")
        return int(value)
    if kind in ("exists", "relation"):
        return value if isinstance(value, bool) else Undecided(f"the backend answered `{value!r}` to a yes/no question")
    if kind == "measure":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return Undecided(f"the backend answered `{value!r}` to a measurement")
        return float(value)
    return _validate_attribute(q.attribute, value)  # type: ignore[union-attr]


def _validate_attribute(spec, value: Any) -> Any:
    """An attribute value checked against its declared kind (enum set, yes/no, finite number)."""
    if spec.kind == "enum":
        return value if value in spec.values else Undecided(
            f"`{value}` is not one of {', '.join(spec.values)}")
    if spec.kind == "bool":
        return value if isinstance(value, bool) else Undecided(f"the backend answered `{value!r}` to a yes/no question")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Undecided(f"the backend answered `{value!r}` for the number `{spec.name}`")
    return float(value)


def _label(n: g.Node) -> str:
    if isinstance(n, g.Named):
        return n.name
    return n.query.question() if isinstance(n, g.Ask) else (n.text or g.describe_node(n))


def _jsonable(v: Any) -> Any:
    if isinstance(v, Undecided):
        return {"undecided": v.reason}
    if isinstance(v, Instance):
        return v.to_dict()
    if isinstance(v, list):
        if len(v) > 20:
            return {"instances": len(v)}
        return [_jsonable(x) for x in v]
    if isinstance(v, tuple):
        return [round(x, 5) if isinstance(x, float) else x for x in v]
    if isinstance(v, float):
        return round(v, 6)
    return v


_DISPATCH: dict[type, Callable[..., Any]] = {
    g.Ask: Evaluator.ask,
    g.Const: Evaluator.const,
    g.Var: Evaluator.var,
    g.Named: Evaluator.named,
    g.Arith: Evaluator.arith,
    g.Neg: Evaluator.neg,
    g.Abs: Evaluator.abs_,
    g.Compare: Evaluator.compare,
    g.InRange: Evaluator.in_range,
    g.InSet: Evaluator.in_set,
    g.AllOf: Evaluator.all_of,
    g.AnyOf: Evaluator.any_of,
    g.Not: Evaluator.not_,
    g.Implies: Evaluator.implies,
    g.Match: Evaluator.match,
    g.Filter: Evaluator.filter,
    g.CountOf: Evaluator.count_of,
    g.NonEmpty: Evaluator.non_empty,
    g.Single: Evaluator.single,
    g.InstAttr: Evaluator.inst_attr,
    g.InstGeom: Evaluator.inst_geom,
    g.Distance: Evaluator.distance,
    g.Rel: Evaluator.rel,
    g.Quant: Evaluator.quant,
    g.Aggregate: Evaluator.aggregate,
    g.StaticBox: Evaluator.static_box,
    g.RelBox: Evaluator.rel_box,
    g.UnionBox: Evaluator.union_box,
}
