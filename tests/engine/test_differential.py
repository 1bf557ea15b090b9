"""Differential tests: the engine (compiler → graph → planner → executor) against the reference
interpreter (the AST evaluated directly), rule by rule, on random scenes.

Two sources of rules: the five example products, and random rule expressions over a small fixed
declaration set (every construct: counts and presence with static/object/relative regions and
cells, where-filters, grids in a box and in an object, quantifiers, aggregates, attributes of the
three kinds, geometry, relations, distance, abs, arithmetic, ranges, sets, match, implication, lets).
Random scenes have 0–3 instances of each object, random boxes, and random, sometimes missing or
garbage, attributes. Each scene is also checked with a backend answering every subquery natively
(no lowering), which must agree too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import logicdsl
from logicdsl import ast
from logicdsl.engine.scene import SceneBackend
from logicdsl.engine.scene_format import Scene

from .backends import NativeSceneBackend
from .reference import reference_verdict

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/*.logic"))
IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


# ---------------------------------------------------------------------------------- scenes
def attr_value(decl: ast.AttributeDecl):
    t = decl.type
    if isinstance(t, ast.EnumType):
        good = st.sampled_from(t.values)
    elif isinstance(t, ast.BoolType):
        good = st.booleans()
    else:
        lo = 0 if t.low is None else int(t.low)
        hi = 10 if t.high is None else int(t.high)
        good = st.integers(lo, hi) | st.floats(lo, hi, allow_nan=False)
    garbage = st.sampled_from(["garbage", 7, True]) if not isinstance(t, ast.BoolType) else st.just("yes")
    return st.one_of(good, good, good, good, garbage)


@st.composite
def scenes(draw, program, width=None, height=None, max_per_object=3):
    W = width or draw(st.sampled_from([100, 160, 200]))
    H = height or draw(st.sampled_from([100, 120]))
    objects = []
    for name in program.objects:
        for _ in range(draw(st.integers(0, max_per_object))):
            x0 = draw(st.integers(0, W - 1))
            y0 = draw(st.integers(0, H - 1))
            x1 = draw(st.integers(x0, W))
            y1 = draw(st.integers(y0, H))
            obj = {"label": name, "box": [x0, y0, x1, y1]}
            if draw(st.booleans()):
                obj["rbox"] = {"cx": (x0 + x1) / 2, "cy": (y0 + y1) / 2, "w": draw(st.integers(0, W)),
                               "h": draw(st.integers(0, H)), "angle": draw(st.integers(-90, 90))}
            if draw(st.booleans()):
                obj["area"] = draw(st.integers(0, (x1 - x0) * (y1 - y0) + 1))
            attrs = {}
            for decl in program.attributes.get(name, {}).values():
                if draw(st.integers(0, 9)) > 0:  # sometimes not reported
                    attrs[decl.name] = draw(attr_value(decl))
            obj["attributes"] = attrs
            objects.append(obj)
    return Scene.model_validate({"width": W, "height": H, "objects": objects})


def engine_statuses(rules, backend) -> dict[str, str]:
    v = logicdsl.Engine(rules, backend=backend).check(IMAGE)
    out = {n: "pass" for n in v.passed}
    out.update({o.rule: "fail" for o in v.violations})
    out.update({o.rule: "undecided" for o in v.undecided})
    out.update({o.rule: "skipped" for o in v.skipped})
    return {n: out[n] for n in rules.names}, v


def assert_agree(rules, scene) -> None:
    ref = reference_verdict(rules.program, scene)
    got, v = engine_statuses(rules, SceneBackend(scene))
    assert got == ref["rules"], f"engine vs reference on {scene.model_dump_json()}"
    assert (v.status, v.label) == (ref["status"], ref["label"])
    native, _ = engine_statuses(rules, NativeSceneBackend(scene))
    assert native == ref["rules"], f"native backend vs reference on {scene.model_dump_json()}"


# ---------------------------------------------------------------------------------- examples
_EXAMPLE_RULES = {p.stem: logicdsl.load(p) for p in EXAMPLES}


def test_five_examples_present():
    assert len(_EXAMPLE_RULES) == 5


def _example_test(stem: str):
    rules = _EXAMPLE_RULES[stem]

    @SETTINGS
    @given(data=st.data())
    def run(data):
        assert_agree(rules, data.draw(scenes(rules.program)))

    run.__name__ = f"test_differential_{stem}"
    return run


for _stem in _EXAMPLE_RULES:
    globals()[f"test_differential_{_stem}"] = _example_test(_stem)


def _normal_scene(stem: str) -> dict:
    """The good unit of each product, from its `*_normal` engine case."""
    import tomllib

    for p in sorted((ROOT / "tests" / "cases" / "engine").glob("*_normal.toml")):
        case = tomllib.loads(p.read_text(encoding="utf-8"))
        if case.get("rules_file", "").endswith(f"{stem}.logic"):
            return case["scene"]
    raise LookupError(stem)


@st.composite
def near_normal(draw, program, base: dict):
    """A good unit with 0–3 random defects: an object removed, duplicated or moved, an attribute
    changed (to another value, garbage, or not reported), a mask area or rotated box rescaled."""
    W, H = base["width"], base["height"]
    objs = [dict(o, attributes=dict(o.get("attributes", {}))) for o in base["objects"]]
    for _ in range(draw(st.integers(0, 3))):
        if not objs:
            break
        i = draw(st.integers(0, len(objs) - 1))
        kind = draw(st.sampled_from(["remove", "duplicate", "move", "attribute", "area", "rbox"]))
        o = objs[i]
        x0, y0, x1, y1 = o["box"]
        if kind == "remove":
            objs.pop(i)
        elif kind in ("duplicate", "move"):
            dx = draw(st.integers(-W // 4, W // 4))
            dy = draw(st.integers(-H // 4, H // 4))
            dx = max(-x0, min(dx, W - x1))
            dy = max(-y0, min(dy, H - y1))
            moved = dict(o, box=[x0 + dx, y0 + dy, x1 + dx, y1 + dy])
            moved.pop("rbox", None)
            if kind == "duplicate":
                objs.append(moved)
            else:
                objs[i] = moved
        elif kind == "attribute":
            decls = list(program.attributes.get(o["label"], {}).values())
            if decls:
                d = draw(st.sampled_from(decls))
                if draw(st.integers(0, 4)) == 0:
                    o["attributes"].pop(d.name, None)
                else:
                    o["attributes"][d.name] = draw(attr_value(d))
        elif kind == "area":
            o["area"] = (x1 - x0) * (y1 - y0) * draw(st.sampled_from([0.3, 0.6, 0.9, 1.2]))
        elif "rbox" in o:
            f = draw(st.sampled_from([0.5, 0.8, 1.1, 1.4]))
            o["rbox"] = dict(o["rbox"], w=o["rbox"]["w"] * f)
    return Scene.model_validate({"width": W, "height": H, "objects": objs})


def _near_normal_test(stem: str):
    rules = _EXAMPLE_RULES[stem]
    base = _normal_scene(stem)

    @SETTINGS
    @given(data=st.data())
    def run(data):
        assert_agree(rules, data.draw(near_normal(rules.program, base)))

    run.__name__ = f"test_differential_near_normal_{stem}"
    return run


for _stem in _EXAMPLE_RULES:
    globals()[f"test_differential_near_normal_{_stem}"] = _near_normal_test(_stem)


# ---------------------------------------------------------------------------------- random rules
DECLS = """product gen "generated"
object a "thing a"
object b "thing b"
attribute color of a: {red, green, blue}
attribute n of a: number 0 .. 10
attribute ok of b: bool
region left = box(0, 0, 0.5, 1)
region top_half = box(0, 0, 1, 0.5) of b
grid g = 2 x 2 in box(0, 0, 1, 1)
grid h = 2 x 3 in b
let s = sum(x.n for x in a)
let m = mean(x.width for x in a)
let ratio = count(a) / count(b)
"""
GEOM = ["left", "right", "top", "bottom", "width", "height", "center_x", "center_y", "area", "length"]


class Gen:
    """Random well-typed expressions; scope maps variable names to `a`, `b` or `cell`."""

    def __init__(self, draw):
        self.draw = draw
        self.fresh = 0

    def var(self, prefix="v"):
        self.fresh += 1
        return f"{prefix}{self.fresh}"

    def pick(self, xs):
        return self.draw(st.sampled_from(xs))

    def inst(self, scope, obj=None):
        """An instance expression: an object name or a bound instance variable."""
        cands = [v for v, k in scope.items() if k in ("a", "b") and (obj is None or k == obj)]
        cands += [o for o in ("a", "b") if obj is None or o == obj]
        return self.pick(cands)

    def kind_of(self, scope, e):
        return scope.get(e, e)

    def region(self, scope):
        cands = ["left", "top_half", "a", "b"] + [v for v in scope]
        return self.pick(cands)

    def num(self, scope, depth):
        choices = ["lit", "count", "geom", "let"]
        if depth > 0:
            choices += ["agg", "arith", "abs", "neg", "distance", "attr_n"]
        c = self.pick(choices)
        if c == "lit":
            return self.pick(["0", "1", "2", "0.5", "0.25", "3"])
        if c == "count":
            obj = self.pick(["a", "b"])
            sel = obj
            if self.draw(st.booleans()):
                sel = f"{obj} in {self.region(scope)}"
            if obj == "a" and self.draw(st.integers(0, 3)) == 0:
                x = self.var("x")
                return f"count({x} in {sel} where {self.boolean({**scope, x: 'a'}, depth - 1)})"
            return f"count({sel})"
        if c == "geom":
            f = self.pick(GEOM)
            e = self.inst(scope)
            return f"{f}({e})" if self.draw(st.booleans()) else f"{e}.{f}"
        if c == "let":
            return self.pick(["s", "m", "ratio"])
        if c == "attr_n":
            return f"{self.inst(scope, 'a')}.n"
        if c == "agg":
            f = self.pick(["sum", "min", "max", "mean"])
            obj = self.pick(["a", "b"])
            x = self.var("x")
            inner = {**scope, x: obj}
            body = f"{x}.n" if obj == "a" and self.draw(st.booleans()) else f"{x}.{self.pick(GEOM)}"
            if self.draw(st.integers(0, 2)) == 0:
                body = self.num(inner, depth - 1)
            sel = obj if self.draw(st.booleans()) else f"{obj} in {self.region(scope)}"
            return f"{f}({body} for {x} in {sel})"
        if c == "arith":
            op = self.pick(["+", "-", "*", "/"])
            return f"({self.num(scope, depth - 1)} {op} {self.num(scope, depth - 1)})"
        if c == "abs":
            return f"abs({self.num(scope, depth - 1)})"
        if c == "neg":
            return f"-({self.num(scope, depth - 1)})"
        return f"distance({self.inst(scope)}, {self.inst(scope)})"

    def boolean(self, scope, depth):
        choices = ["cmp", "range", "lit", "exists", "rel", "enum", "okattr"]
        if depth > 0:
            choices += ["not", "and", "or", "implies", "quant", "grid", "match", "all_equal", "set", "matchnum"]
        c = self.pick(choices)
        if c == "cmp":
            op = self.pick(["==", "!=", "<", "<=", ">", ">="])
            return f"{self.num(scope, depth)} {op} {self.num(scope, depth)}"
        if c == "range":
            lo = self.pick(["0", "0.1", "1"])
            hi = self.pick(["0.5", "1", "2"])
            return f"{self.num(scope, depth)} in {lo} .. {hi}"
        if c == "lit":
            return self.pick(["true", "false"])
        if c == "exists":
            obj = self.pick(["a", "b"])
            return f"exists({obj} in {self.region(scope)})" if self.draw(st.booleans()) else f"exists({obj})"
        if c == "rel":
            f = self.pick(["left_of", "above", "inside", "overlaps", "centred"])
            a = self.inst(scope)
            second = [self.inst(scope)]
            if f in ("inside", "centred"):
                second += ["left", "top_half"] + [v for v, k in scope.items() if k == "cell"]
            b = self.pick(second)
            tol = f", tolerance: {self.pick(['0.1', '0.3', '0.5'])}" if f == "centred" and self.draw(st.booleans()) else ""
            return f"{f}({a}, {b}{tol})"
        if c == "enum":
            e = self.inst(scope, "a")
            return f"{e}.color {self.pick(['==', '!='])} {self.pick(['red', 'green', 'blue'])}"
        if c == "okattr":
            return f"{self.inst(scope, 'b')}.ok"
        if c == "set":
            if self.draw(st.booleans()):
                return f"{self.inst(scope, 'a')}.color in {{red, blue}}"
            return f"count({self.pick(['a', 'b'])}) in {{0, 2}}"
        if c == "not":
            return f"not ({self.boolean(scope, depth - 1)})"
        if c in ("and", "or"):
            return f"({self.boolean(scope, depth - 1)}) {c} ({self.boolean(scope, depth - 1)})"
        if c == "implies":
            return f"({self.boolean(scope, depth - 1)}) -> ({self.boolean(scope, depth - 1)})"
        if c == "quant":
            q = self.pick(["all", "any", "none"])
            obj = self.pick(["a", "b"])
            x = self.var("q")
            within = f" in {self.pick(['left', 'top_half', 'a', 'b'])}" if self.draw(st.integers(0, 2)) == 0 else ""
            return f"({q} {x} in {obj}{within}: {self.boolean({**scope, x: obj}, depth - 1)})"
        if c == "grid":
            q = self.pick(["all", "any", "none"])
            x = self.var("c")
            return f"({q} {x} in {self.pick(['g', 'h'])}: {self.boolean({**scope, x: 'cell'}, depth - 1)})"
        if c == "all_equal":
            x = self.var("x")
            obj = self.pick(["a", "b"])
            body = self.pick([f"{x}.color", f"{x}.n"]) if obj == "a" else self.pick([f"{x}.ok", f"{x}.width"])
            return f"all_equal({body} for {x} in {obj})"
        if c == "match":
            e = self.inst(scope, "a")
            values = [v for v in ("red", "green", "blue") if self.draw(st.booleans())] or ["red"]
            arms = [f"{v} => {self.boolean(scope, depth - 1)}" for v in values]
            if self.draw(st.booleans()):
                arms.append(f"_ => {self.boolean(scope, depth - 1)}")
            return f"match {e}.color {{ {' '.join(arms)} }}"
        # matchnum: match on a count or a bool
        if self.draw(st.booleans()):
            return (f"match count({self.pick(['a', 'b'])}) {{ 0 => {self.boolean(scope, depth - 1)} "
                    f"1 => {self.boolean(scope, depth - 1)} _ => {self.boolean(scope, depth - 1)} }}")
        return f"match {self.inst(scope, 'b')}.ok {{ true => {self.boolean(scope, depth - 1)} false => false }}"


@st.composite
def rule_files(draw):
    gen = Gen(draw)
    n = draw(st.integers(1, 4))
    lines = [DECLS]
    for i in range(n):
        req = ""
        if i and draw(st.integers(0, 2)) == 0:
            req = " requires " + ", ".join(sorted({f"r{draw(st.integers(0, i - 1))}" for _ in range(draw(st.integers(1, 2)))}))
        lines.append(f"rule r{i}{req}:\n    {gen.boolean({}, draw(st.integers(0, 3)))}")
    return "\n".join(lines)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.data())
def test_differential_random_rules(data):
    text = data.draw(rule_files(), label="rules")
    rules = logicdsl.loads(text, "generated.logic")  # the generator only writes well-typed rules
    scene = data.draw(scenes(rules.program, max_per_object=2), label="scene")
    assert_agree(rules, scene)
