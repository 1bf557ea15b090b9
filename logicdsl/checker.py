"""Checking: named passes, in a fixed order, over a parsed module → a :class:`Program`.

Passes (each appends diagnostics; none stops at the first problem):
  1. declarations — product, duplicates, the symbol tables
  2. attributes    — each attribute's object and value set
  3. regions       — region boxes and grids within bounds and non-empty
  4. requires      — unknown rules and cycles
  5. types         — names, attributes, values and types in every let and rule
  6. lets          — a let that refers to itself
  7. match         — `match` arms that miss a value (warning)
  8. bounds        — rules that can never pass or always pass because of constant bounds (warning)
  9. usage         — objects declared but never used (warning)
"""

from __future__ import annotations

from typing import Callable

import graphlib

from . import ast
from .diagnostics import Diagnostic, did_you_mean, error, warning
from .program import AGGREGATES, GEOMETRY, NUMERIC_FUNCS, RELATIONS, Program, Scope, Var, global_kind, \
    read_selection
from .record import record
from .source import Span

MAX_GRID_CELLS = 10_000


# --------------------------------------------------------------------------- types
@record
class Type:
    """A value's type. kind: num, bool, enum (values), inst (object), region, literal (a bare name), any."""

    kind: str
    values: frozenset[str] = frozenset()
    object: str | None = None
    name: str | None = None  # literal names and the attribute an enum came from

    def describe(self) -> str:
        return {
            "num": "a number",
            "bool": "a yes/no value",
            "enum": f"a value of `{self.name}`" if self.name else "a named value",
            "inst": f"an instance of `{self.object}`",
            "region": "a region",
            "literal": f"the name `{self.name}`",
            "any": "a value",
        }[self.kind]


NUM = Type("num")
BOOL = Type("bool")
ANY = Type("any")  # after an error: suppresses cascades
REGION = Type("region")


def inst(obj: str) -> Type:
    return Type("inst", object=obj)


def attr_type(decl: ast.AttributeDecl) -> Type:
    t = decl.type
    if isinstance(t, ast.EnumType):
        return Type("enum", frozenset(t.values), name=f"{decl.object}.{decl.name}")
    if isinstance(t, ast.BoolType):
        return BOOL
    return NUM


# --------------------------------------------------------------------------- entry point
def check(module: ast.Module, source) -> Program:
    program = Program(source=source, module=module, product=None)
    for pass_ in PASSES:
        pass_(program)
    program.diagnostics.sort(key=lambda d: (d.span.start if d.span else -1, d.code))
    return program


def _emit(program: Program, d: Diagnostic) -> None:
    program.diagnostics.append(d)


# --------------------------------------------------------------------------- pass 1
def pass_declarations(program: Program) -> None:
    seen: dict[str, ast.Decl] = {}
    rules_seen: dict[str, ast.RuleDecl] = {}
    for decl in program.module.decls:
        if isinstance(decl, ast.ProductDecl):
            if program.product is not None:
                _emit(program, error("E007", "a file describes one product; this is a second `product`",
                                     decl.span, "put each product in its own .logic file"))
            else:
                program.product = decl
            continue
        if isinstance(decl, ast.AttributeDecl):
            continue  # attributes live in their object's namespace (pass 2)
        if isinstance(decl, ast.RuleDecl):
            if decl.name in rules_seen:
                _emit(program, error("E102", f"rule `{decl.name}` is defined twice", decl.name_span,
                                     f"the first definition is on line {rules_seen[decl.name].span.line}"))
            else:
                rules_seen[decl.name] = decl
                program.rules.append(decl)
            continue
        name = decl.name
        if name in seen:
            _emit(program, error("E102", f"`{name}` is defined twice", decl.name_span,
                                 f"the first definition is on line {seen[name].span.line}"))
            continue
        seen[name] = decl
        table = {ast.ObjectDecl: program.objects, ast.RegionDecl: program.regions,
                 ast.GridDecl: program.grids, ast.LetDecl: program.lets}[type(decl)]
        table[name] = decl  # type: ignore[index]
    if program.product is None:
        first = program.module.decls[0].span if program.module.decls else Span.point(0, 1, 1)
        _emit(program, error("E006", "the file has no `product` declaration", first,
                             'start the file with `product name "what it is"`'))


# --------------------------------------------------------------------------- pass 2
def pass_attributes(program: Program) -> None:
    for decl in program.module.decls:
        if not isinstance(decl, ast.AttributeDecl):
            continue
        if decl.object not in program.objects:
            kind = global_kind(program, decl.object)
            if kind:
                _emit(program, error("E105", f"`{decl.object}` is a {kind}, not an object", decl.object_span,
                                     "attributes belong to objects"))
            else:
                _emit(program, error("E101", f"attribute `{decl.name}` is of unknown object `{decl.object}`",
                                     decl.object_span, did_you_mean(decl.object, program.objects)))
            continue
        table = program.attributes.setdefault(decl.object, {})
        if decl.name in table:
            _emit(program, error("E102", f"`{decl.object}` already has an attribute `{decl.name}`",
                                 decl.name_span, f"the first definition is on line {table[decl.name].span.line}"))
            continue
        if decl.name in GEOMETRY:
            _emit(program, error("E102", f"`{decl.name}` is a built-in geometric property and cannot be "
                                 "declared as an attribute", decl.name_span))
            continue
        table[decl.name] = decl
        t = decl.type
        if isinstance(t, ast.EnumType):
            seen: set[str] = set()
            for v, sp in zip(t.values, t.value_spans or (None,) * len(t.values)):
                if v in seen:
                    _emit(program, error("E204", f"value `{v}` appears twice in the set", sp or t.span))
                seen.add(v)
        elif isinstance(t, ast.NumberType) and t.low is not None and t.high is not None and t.low > t.high:
            _emit(program, error("E502", f"the range {_fmt(t.low)} .. {_fmt(t.high)} is empty", t.span,
                                 "write the lower bound first"))


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


# --------------------------------------------------------------------------- pass 3
def _check_box(program: Program, box: ast.BoxLit, what: str) -> None:
    coords = box.coords
    if any(c < 0 or c > 1 for c in coords):
        _emit(program, error("E501", f"{what} box({', '.join(_fmt(c) for c in coords)}) lies outside 0 .. 1",
                             box.span, "coordinates are fractions of the image (or of the object's box)"))
    elif box.x0 >= box.x1 or box.y0 >= box.y1:
        _emit(program, error("E502", f"{what} box({', '.join(_fmt(c) for c in coords)}) is empty", box.span,
                             "write box(x0, y0, x1, y1) with x0 < x1 and y0 < y1"))


def _check_object_ref(program: Program, name: str, span: Span | None, role: str) -> None:
    if name in program.objects:
        return
    kind = global_kind(program, name)
    if kind:
        _emit(program, error("E105", f"`{name}` is a {kind}, not an object", span, f"{role} must be an object"))
    else:
        _emit(program, error("E101", f"unknown object `{name}`", span, did_you_mean(name, program.objects)))


def pass_regions(program: Program) -> None:
    for r in program.regions.values():
        _check_box(program, r.box, f"region `{r.name}`")
        if r.of is not None:
            _check_object_ref(program, r.of, r.of_span, "the `of` part")
    for g in program.grids.values():
        cells = g.rows * g.cols
        if cells == 0:
            _emit(program, error("E503", f"grid `{g.name}` has no cells ({g.rows} x {g.cols})", g.dims_span,
                                 "a grid needs at least one row and one column"))
        elif cells > MAX_GRID_CELLS:
            _emit(program, error("E504", f"grid `{g.name}` has {cells:,} cells, over the limit of "
                                 f"{MAX_GRID_CELLS:,}", g.dims_span))
        if g.box is not None:
            _check_box(program, g.box, f"grid `{g.name}`")
        if g.within is not None:
            _check_object_ref(program, g.within, g.within_span, "a grid's `in` part")


# --------------------------------------------------------------------------- pass 4
def requires_graph(program: Program) -> dict[str, list[str]]:
    """rule → the known rules it requires (stdlib graphlib keeps `import networkx` off the CLI's path)."""
    names = {r.name for r in program.rules}
    return {r.name: [d for d in r.requires if d in names] for r in program.rules}


def pass_requires(program: Program) -> None:
    names = [r.name for r in program.rules]
    for r in program.rules:
        for dep, sp in zip(r.requires, r.requires_spans or (r.name_span,) * len(r.requires)):
            if dep not in names:
                _emit(program, error("E401", f"rule `{r.name}` requires unknown rule `{dep}`", sp,
                                     did_you_mean(dep, names)))
    deps = requires_graph(program)
    for _ in range(20):  # report each cycle: break it at one edge and look again
        try:
            graphlib.TopologicalSorter(deps).prepare()
            return
        except graphlib.CycleError as e:
            cycle = list(dict.fromkeys(e.args[1]))
        first = program.rule(min(cycle, key=lambda n: program.rule(n).span.start))
        order = _rotate(cycle[::-1], first.name)  # graphlib lists dependencies first; show requirers first
        path = " → ".join(f"`{n}`" for n in order + [first.name])
        _emit(program, error("E402", f"rules require each other in a cycle: {path}", first.name_span,
                             "a rule can only require rules that do not require it back"))
        nxt = order[1] if len(order) > 1 else order[0]
        deps[first.name] = [d for d in deps[first.name] if d != nxt]


def _rotate(cycle: list[str], start: str) -> list[str]:
    i = cycle.index(start)
    return cycle[i:] + cycle[:i]


# --------------------------------------------------------------------------- pass 5
class _TypeChecker:
    def __init__(self, program: Program):
        self.p = program
        self.let_types: dict[str, Type] = {}
        self.let_stack: list[str] = []

    def err(self, code: str, msg: str, span: Span | None, help: str | None = None) -> Type:
        _emit(self.p, error(code, msg, span, help))
        return ANY

    # ---- names
    def name(self, node: ast.Name, scope: Scope) -> Type:
        v = scope.lookup(node.id)
        if v is not None:
            return inst(v.target) if v.kind == "instance" else REGION
        kind = global_kind(self.p, node.id)
        if kind == "object":
            return inst(node.id)
        if kind == "region":
            return REGION
        if kind == "let":
            return self.let(node.id, node.span)
        if kind == "grid":
            return self.err("E105", f"`{node.id}` is a grid; use it through a quantifier", node.span,
                            f"for example `all c in {node.id}: …`")
        return Type("literal", name=node.id)

    def let(self, name: str, span: Span | None) -> Type:
        if name in self.let_types:
            return self.let_types[name]
        if name in self.let_stack:
            chain = " → ".join(f"`{n}`" for n in self.let_stack[self.let_stack.index(name):] + [name])
            return self.err("E303", f"`let {name}` refers to itself: {chain}", span,
                            "a let may only use names defined without it")
        self.let_stack.append(name)
        t = self.expr(self.p.lets[name].expr, Scope())
        self.let_stack.pop()
        self.let_types[name] = t
        return t

    def resolve_literal(self, t: Type, node: ast.Expr) -> Type:
        """A bare name where a value is needed and no enum gives it meaning: an unknown name."""
        if t.kind == "literal":
            owners = [f"{d.object}.{d.name}" for table in self.p.attributes.values() for d in table.values()
                      if isinstance(d.type, ast.EnumType) and t.name in d.type.values]
            if owners:
                return self.err("E301", f"`{t.name}` is a value of `{owners[0]}` and cannot stand here",
                                node.span, f"compare it with `{owners[0]}`")
            cands = list(self.p.objects) + list(self.p.regions) + list(self.p.lets)
            return self.err("E101", f"unknown name `{t.name}`", node.span, did_you_mean(t.name or "", cands))
        return t

    # ---- expressions
    def expr(self, node: ast.Expr, scope: Scope) -> Type:
        method = getattr(self, "x_" + type(node).__name__.lower())
        return method(node, scope)

    def value(self, node: ast.Expr, scope: Scope) -> Type:
        return self.resolve_literal(self.expr(node, scope), node)

    def want(self, node: ast.Expr, scope: Scope, kind: str, what: str) -> Type:
        t = self.value(node, scope)
        if t.kind not in (kind, "any"):
            code = "E302" if kind == "bool" else "E301"
            msg = f"{what} must be {Type(kind).describe()}, but this is {t.describe()}"
            return self.err(code, msg, node.span)
        return t

    def x_number(self, node, scope):
        return NUM

    def x_bool(self, node, scope):
        return BOOL

    def x_name(self, node, scope):
        return self.name(node, scope)

    def x_attr(self, node: ast.Attr, scope: Scope) -> Type:
        target = self.value(node.target, scope)
        if target.kind == "any":
            return ANY
        if target.kind != "inst":
            return self.err("E203", f"`.{node.name}` needs an object or an instance, but this is {target.describe()}",
                            node.target.span)
        obj = target.object or ""
        decl = self.p.attribute(obj, node.name)
        if decl is not None:
            return attr_type(decl)
        if node.name in GEOMETRY:
            return NUM
        owners = [o for o, table in self.p.attributes.items() if node.name in table]
        if owners:
            return self.err("E201", f"attribute `{node.name}` belongs to `{owners[0]}`, not `{obj}`",
                            node.name_span, f"`{obj}` has: {self._attr_list(obj)}")
        return self.err("E201", f"`{obj}` has no attribute `{node.name}`", node.name_span,
                        did_you_mean(node.name, list(self.p.attributes.get(obj, {})) + list(GEOMETRY))
                        or f"`{obj}` has: {self._attr_list(obj)}")

    def _attr_list(self, obj: str) -> str:
        names = list(self.p.attributes.get(obj, {})) + list(GEOMETRY)
        return ", ".join(f"`{n}`" for n in names)

    def x_call(self, node: ast.Call, scope: Scope) -> Type:
        f = node.func
        nargs = len(node.args)
        if f in GEOMETRY:
            if nargs != 1 or node.kwargs:
                return self.err("E104", f"`{f}` takes one object, got {nargs} arguments", node.span)
            self.want_instance(node.args[0], scope, f)
            return NUM
        if f in NUMERIC_FUNCS:
            arity = NUMERIC_FUNCS[f]
            if nargs != arity or node.kwargs:
                return self.err("E104", f"`{f}` takes {arity} argument{'s' if arity > 1 else ''}, got {nargs}",
                                node.span)
            if f == "abs":
                self.want(node.args[0], scope, "num", "the argument of `abs`")
            else:
                for a in node.args:
                    self.want_instance(a, scope, f)
            return NUM
        if f in RELATIONS:
            if nargs != 2:
                return self.err("E104", f"`{f}` takes two arguments, got {nargs}", node.span)
            self.want_instance(node.args[0], scope, f)
            self.want_instance(node.args[1], scope, f, region_ok=RELATIONS[f])
            for kw in node.kwargs:
                if f != "centred" or kw.name != "tolerance":
                    self.err("E104", f"`{f}` has no option `{kw.name}`", kw.span,
                             "`centred` takes `tolerance: t`" if f == "centred" else None)
                    continue
                if not isinstance(kw.value, ast.Number) or not 0 <= kw.value.value <= 1:
                    self.err("E505", "`tolerance` must be a number between 0 and 1", kw.value.span,
                             "it is a fraction of the second object's size, e.g. `tolerance: 0.1`")
            return BOOL
        if f in AGGREGATES:
            return self.err("E104", f"`{f}` aggregates over instances: write `{f}(x.area for x in object)`",
                            node.span)
        known = list(GEOMETRY) + list(RELATIONS) + list(NUMERIC_FUNCS)
        return self.err("E103", f"unknown function `{f}`", node.func_span, did_you_mean(f, known))

    def want_instance(self, node: ast.Expr, scope: Scope, func: str, region_ok: bool = False) -> Type:
        t = self.value(node, scope)
        if t.kind in ("inst", "any") or (region_ok and t.kind == "region"):
            return t
        what = "an object or a region" if region_ok else "an object"
        return self.err("E301", f"`{func}` needs {what}, but this is {t.describe()}", node.span)

    def selection(self, sel: ast.Selection, scope: Scope, bound_var: str | None = None
                  ) -> tuple[Scope, str | None]:
        """Check a selection; return the scope for its `where` / aggregate body and its object."""
        r = read_selection(self.p, scope, sel, bound_var)
        spans = list(sel.name_spans) or [sel.span] * len(sel.names)
        if r is None:
            self.err("E001", "a selection reads `object`, `object in region` or `x in object [in region]`",
                     sel.span)
            return scope, None
        offset = len(sel.names) - (2 if r.within else 1)
        obj_span = spans[offset] if offset < len(spans) else sel.span
        obj_ok = True
        if r.object not in self.p.objects:
            obj_ok = False
            v = scope.lookup(r.object)
            kind = global_kind(self.p, r.object) or ("variable" if v else None)
            if kind:
                self.err("E105", f"`{r.object}` is a {kind}, not an object", obj_span, "counting needs an object")
            else:
                self.err("E101", f"unknown object `{r.object}`", obj_span, did_you_mean(r.object, self.p.objects))
        if r.within is not None:
            w_span = spans[offset + 1] if offset + 1 < len(spans) else sel.span
            v = scope.lookup(r.within)
            kind = global_kind(self.p, r.within)
            if v is None and kind not in ("region", "object"):
                if kind:
                    self.err("E105", f"`{r.within}` is a {kind}, not a region or object", w_span)
                else:
                    self.err("E101", f"unknown region `{r.within}`", w_span,
                             did_you_mean(r.within, list(self.p.regions) + list(self.p.objects)))
        inner = scope
        if r.var is not None:
            if global_kind(self.p, r.var) and bound_var is None:  # an aggregate reports its own variable
                self.err("E106", f"variable `{r.var}` hides the {global_kind(self.p, r.var)} of that name",
                         sel.span, "choose another variable name")
            inner = scope.bind(Var(r.var, "instance", r.object if obj_ok else "?"))
        if sel.where is not None:
            if r.var is None and bound_var is None:
                self.err("E001", "`where` needs a variable: write `count(x in object where …)`", sel.where.span)
            else:
                self.want(sel.where, inner, "bool", "a `where` condition")
        return inner, r.object if obj_ok else None

    def x_count(self, node: ast.Count, scope: Scope) -> Type:
        self.selection(node.selection, scope)
        return NUM

    def x_exists(self, node: ast.Exists, scope: Scope) -> Type:
        self.selection(node.selection, scope)
        return BOOL

    def x_aggregate(self, node: ast.Aggregate, scope: Scope) -> Type:
        if global_kind(self.p, node.var):
            self.err("E106", f"variable `{node.var}` hides the {global_kind(self.p, node.var)} of that name",
                     node.var_span, "choose another variable name")
        inner, _ = self.selection(node.selection, scope, node.var)
        if node.func == "all_equal":
            t = self.value(node.expr, inner)
            if t.kind in ("inst", "region"):
                self.err("E301", f"`all_equal` compares values, but this is {t.describe()}", node.expr.span)
            return BOOL
        self.want(node.expr, inner, "num", f"the value `{node.func}` adds up")
        return NUM

    def x_quantified(self, node: ast.Quantified, scope: Scope) -> Type:
        if global_kind(self.p, node.var):
            self.err("E106", f"variable `{node.var}` hides the {global_kind(self.p, node.var)} of that name",
                     node.var_span, "choose another variable name")
        if node.domain in self.p.grids:
            var = Var(node.var, "cell", node.domain)
            if node.within is not None:
                self.err("E105", "grid cells cannot be narrowed with `in`", node.within_span)
        elif node.domain in self.p.objects:
            var = Var(node.var, "instance", node.domain)
            if node.within is not None:
                v = scope.lookup(node.within)
                if v is None and global_kind(self.p, node.within) not in ("region", "object"):
                    self.err("E101", f"unknown region `{node.within}`", node.within_span,
                             did_you_mean(node.within, list(self.p.regions) + list(self.p.objects)))
        else:
            kind = global_kind(self.p, node.domain)
            if kind:
                self.err("E105", f"`{node.domain}` is a {kind}; a quantifier ranges over an object or a grid",
                         node.domain_span)
            else:
                self.err("E101", f"unknown object or grid `{node.domain}`", node.domain_span,
                         did_you_mean(node.domain, list(self.p.objects) + list(self.p.grids)))
            var = Var(node.var, "instance", "?")
        self.want(node.body, scope.bind(var), "bool", f"the body of `{node.quantifier}`")
        return BOOL

    def x_not(self, node: ast.Not, scope: Scope) -> Type:
        self.want(node.operand, scope, "bool", "the operand of `not`")
        return BOOL

    def x_neg(self, node: ast.Neg, scope: Scope) -> Type:
        self.want(node.operand, scope, "num", "the operand of `-`")
        return NUM

    def x_arith(self, node: ast.Arith, scope: Scope) -> Type:
        self.want(node.left, scope, "num", f"the left side of `{node.op}`")
        self.want(node.right, scope, "num", f"the right side of `{node.op}`")
        return NUM

    def x_logic(self, node: ast.Logic, scope: Scope) -> Type:
        self.want(node.left, scope, "bool", f"the left side of `{node.op}`")
        self.want(node.right, scope, "bool", f"the right side of `{node.op}`")
        return BOOL

    def enum_value(self, enum: Type, node: ast.Expr) -> None:
        if isinstance(node, ast.Name) and node.id not in enum.values:
            self.err("E202", f"`{node.id}` is not a value of `{enum.name}`", node.span,
                     did_you_mean(node.id, enum.values) or f"its values are {', '.join(sorted(enum.values))}")

    def x_compare(self, node: ast.Compare, scope: Scope) -> Type:
        lt, rt = self.expr(node.left, scope), self.expr(node.right, scope)
        if lt.kind == "enum" and rt.kind == "literal":
            self.check_enum_eq(node, lt, node.right)
        elif rt.kind == "enum" and lt.kind == "literal":
            self.check_enum_eq(node, rt, node.left)
        elif "any" in (lt.kind, rt.kind):  # the other side already has an error: no cascade
            return BOOL
        else:
            lt, rt = self.resolve_literal(lt, node.left), self.resolve_literal(rt, node.right)
            if "any" in (lt.kind, rt.kind):
                return BOOL
            if node.op in ("==", "!="):
                if lt.kind != rt.kind or lt.kind in ("inst", "region"):
                    self.err("E301", f"cannot compare {lt.describe()} with {rt.describe()}", node.span)
                elif lt.kind == "enum" and not (lt.values & rt.values):
                    self.err("E301", f"`{lt.name}` and `{rt.name}` share no values, so they are never equal",
                             node.span)
            elif lt.kind != "num" or rt.kind != "num":
                bad = node.left if lt.kind != "num" else node.right
                self.err("E301", f"`{node.op}` compares numbers, but this is {(lt if bad is node.left else rt).describe()}",
                         bad.span)
        return BOOL

    def check_enum_eq(self, node: ast.Compare, enum: Type, lit: ast.Expr) -> None:
        if node.op not in ("==", "!="):
            self.err("E301", f"`{node.op}` compares numbers; {enum.describe()} can only be tested with == or !=",
                     node.span)
        else:
            self.enum_value(enum, lit)

    def x_inrange(self, node: ast.InRange, scope: Scope) -> Type:
        self.want(node.value, scope, "num", "a value tested against a range")
        self.want(node.low, scope, "num", "a range's lower bound")
        self.want(node.high, scope, "num", "a range's upper bound")
        return BOOL

    def x_inset(self, node: ast.InSet, scope: Scope) -> Type:
        t = self.expr(node.value, scope)
        if t.kind == "enum":
            for item in node.items:
                if isinstance(item, ast.Name):
                    self.enum_value(t, item)
                else:
                    self.err("E301", f"a set tested against {t.describe()} holds its values by name", item.span)
        elif t.kind == "num":
            for item in node.items:
                if not isinstance(item, ast.Number):
                    self.err("E301", "a set tested against a number holds numbers", item.span)
        elif t.kind == "bool":
            for item in node.items:
                if not isinstance(item, ast.Bool):
                    self.err("E301", "a set tested against a yes/no value holds `true` or `false`", item.span)
        else:
            self.resolve_literal(t, node.value)
            if t.kind not in ("any", "literal"):
                self.err("E301", f"`in {{…}}` tests a value, but this is {t.describe()}", node.value.span)
        return BOOL

    def x_match(self, node: ast.Match, scope: Scope) -> Type:
        subject = self.value(node.subject, scope)
        result: Type | None = None
        for arm in node.arms:
            pat = arm.pattern
            if isinstance(pat, ast.Name) and pat.id == "_":
                pass
            elif subject.kind == "enum":
                if isinstance(pat, ast.Name):
                    self.enum_value(subject, pat)
                else:
                    self.err("E301", f"this pattern must be a value of `{subject.name}`", pat.span)
            elif subject.kind == "num" and not isinstance(pat, ast.Number):
                self.err("E301", "this pattern must be a number", pat.span)
            elif subject.kind == "bool" and not isinstance(pat, ast.Bool):
                self.err("E301", "this pattern must be `true` or `false`", pat.span)
            elif subject.kind in ("inst", "region"):
                self.err("E301", f"`match` needs a value, but its subject is {subject.describe()}", node.subject.span)
                break
            t = self.value(arm.body, scope)
            if result is None or result.kind == "any":
                result = t
            elif t.kind not in (result.kind, "any"):
                self.err("E301", f"every arm must give the same kind of value; this one gives {t.describe()}, "
                         f"the first gives {result.describe()}", arm.body.span)
        return result or ANY


def pass_types(program: Program) -> None:
    tc = _TypeChecker(program)
    program._types = tc  # type: ignore[attr-defined]  # kept for later passes
    for name in program.lets:
        tc.let(name, program.lets[name].name_span)
    for rule in program.rules:
        tc.want(rule.expr, Scope(), "bool", f"rule `{rule.name}`")


def pass_lets(program: Program) -> None:
    """Self-reference is found while typing (pass 5); this pass reports lets no rule uses."""
    used: set[str] = set()
    for decl in list(program.rules) + list(program.lets.values()):
        for n in ast.walk(decl.expr):
            if isinstance(n, ast.Name):
                used.add(n.id)
    for name, let in program.lets.items():
        if name not in used:
            _emit(program, warning("W605", f"`let {name}` is never used", let.name_span))


# --------------------------------------------------------------------------- pass 7
def pass_match(program: Program) -> None:
    tc: _TypeChecker = program._types  # type: ignore[attr-defined]
    for decl in list(program.lets.values()) + list(program.rules):
        variables: dict[str, str] | None = None
        for node in ast.walk(decl.expr):
            if not isinstance(node, ast.Match):
                continue
            if variables is None:
                variables = _bound_objects(program, decl.expr)
            names = {a.pattern.id for a in node.arms if isinstance(a.pattern, ast.Name)}
            if "_" in names:
                continue
            subject = _static_enum(program, node.subject, tc, variables)
            if subject is None:
                continue
            missing = sorted(subject.values - names)
            if missing:
                _emit(program, warning("W601", f"`match` does not cover {', '.join(f'`{m}`' for m in missing)}",
                                       node.span, "add an arm for each value, or `_ => …` for the rest; "
                                       "an uncovered value makes the rule fail"))


def _bound_objects(program: Program, expr: ast.Expr) -> dict[str, str]:
    """Variables bound in ``expr`` → the object they range over (a name bound to two objects is left out)."""
    out: dict[str, str | None] = {}

    def bind(var: str | None, obj: str | None) -> None:
        if var is None or obj not in program.objects or global_kind(program, var):
            return
        out[var] = obj if out.get(var, obj) == obj else None

    for n in ast.walk(expr):
        if isinstance(n, ast.Quantified):
            bind(n.var, n.domain)
        elif isinstance(n, (ast.Count, ast.Exists, ast.Aggregate)):
            sel = n.selection
            r = read_selection(program, Scope(), sel, n.var if isinstance(n, ast.Aggregate) else None)
            if r is not None:
                bind(r.var, r.object)
    return {k: v for k, v in out.items() if v is not None}


def _static_enum(program: Program, node: ast.Expr, tc: _TypeChecker,
                 variables: dict[str, str] | None = None) -> Type | None:
    target = node.target.id if isinstance(node, ast.Attr) and isinstance(node.target, ast.Name) else None
    if target is not None and target not in program.objects and global_kind(program, target) is None:
        target = (variables or {}).get(target)
    if target is not None and target in program.objects:
        decl = program.attribute(target, node.name)
        if decl is not None and isinstance(decl.type, ast.EnumType):
            return attr_type(decl)
    return None


# --------------------------------------------------------------------------- pass 8
def pass_bounds(program: Program) -> None:
    for rule in program.rules:
        verdict = _constant_truth(rule.expr)
        if verdict is False:
            _emit(program, warning("W602", f"rule `{rule.name}` can never pass", rule.expr.span,
                                   "a count is a whole number ≥ 0 and a range needs low ≤ high"))
        elif verdict is True:
            counts = any(isinstance(n, ast.Count) for n in ast.walk(rule.expr))
            _emit(program, warning("W603", f"rule `{rule.name}` always passes", rule.expr.span,
                                   "a count is never negative" if counts else None))


def _const_num(node: ast.Expr) -> float | None:
    """The value of a number literal, negated or not (`-1` parses as Neg(Number(1)))."""
    sign = 1.0
    while isinstance(node, ast.Neg):
        sign, node = -sign, node.operand
    return sign * node.value if isinstance(node, ast.Number) else None


def _constant_truth(node: ast.Expr) -> bool | None:
    """True/False when constant bounds decide the expression whatever is seen; None otherwise."""
    if isinstance(node, ast.Bool):
        return node.value
    if isinstance(node, ast.Not):
        t = _constant_truth(node.operand)
        return None if t is None else not t
    if isinstance(node, ast.Logic):
        a, b = _constant_truth(node.left), _constant_truth(node.right)
        if node.op == "and":
            return False if False in (a, b) else (True if a is b is True else None)
        if node.op == "or":
            return True if True in (a, b) else (False if a is b is False else None)
        if node.op == "->":
            return True if (a is False or b is True) else (False if a is True and b is False else None)
    if isinstance(node, ast.InRange) and _const_num(node.low) is not None and _const_num(node.high) is not None:
        low, high = _const_num(node.low), _const_num(node.high)
        if low > high:
            return False
        if isinstance(node.value, ast.Count) and high < 0:
            return False
    if isinstance(node, ast.Compare):
        count, num, op = None, None, node.op
        if isinstance(node.left, ast.Count) and _const_num(node.right) is not None:
            count, num = node.left, _const_num(node.right)
        elif isinstance(node.right, ast.Count) and _const_num(node.left) is not None:
            count, num = node.right, _const_num(node.left)
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
        if count is not None and num is not None:
            integral = float(num).is_integer()
            if op == "==" and (num < 0 or not integral):
                return False
            if op == "!=" and (num < 0 or not integral):
                return True
            if op in ("<", "<=") and (num < 0 or (op == "<" and num == 0)):
                return False
            if op in (">", ">=") and (num < 0 or (op == ">=" and num == 0)):
                return True
    return None


# --------------------------------------------------------------------------- pass 9
def pass_usage(program: Program) -> None:
    used: set[str] = set()
    for decl in program.module.decls:
        if isinstance(decl, (ast.RuleDecl, ast.LetDecl)):
            for n in ast.walk(decl.expr):
                if isinstance(n, ast.Name):
                    used.add(n.id)
                elif isinstance(n, ast.Selection):
                    used.update(n.names)
                elif isinstance(n, ast.Quantified):
                    used.add(n.domain)
                    if n.within:
                        used.add(n.within)
        elif isinstance(decl, ast.RegionDecl) and decl.of:
            used.add(decl.of)
        elif isinstance(decl, ast.GridDecl) and decl.within:
            used.add(decl.within)
    for name, obj in program.objects.items():
        if name not in used:
            _emit(program, warning("W604", f"object `{name}` is never used", obj.name_span))


PASSES: tuple[Callable[[Program], None], ...] = (
    pass_declarations,
    pass_attributes,
    pass_regions,
    pass_requires,
    pass_types,
    pass_lets,
    pass_match,
    pass_bounds,
    pass_usage,
)
