"""Query-graph node types: what the compiler produces and the engine evaluates.

Nodes are immutable and compared by structure; the compiler interns them, so a subquery or a
derived value used by ten rules is one node (and one question to the backend). Leaves are
:class:`Ask` nodes wrapping a perception subquery; everything above them is symbolic.

``text`` fields (the source text a node came from) are labels for evidence and graph dumps;
they take no part in equality.
"""

from __future__ import annotations

from typing import Any

from logicdsl.engine.subquery import Box, Detect, Region, Subquery

from .record import field, fields, record


class Node:
    """Base of all graph nodes: structural equality with a cached hash, ``text`` ignored."""

    __slots__ = ()
    _key_fields: tuple[str, ...] = ()

    def _key(self) -> tuple:
        k = self.__dict__.get("_k")
        if k is None:
            k = (type(self).__name__,) + tuple(getattr(self, f) for f in self._key_fields)
            object.__setattr__(self, "_k", k)
        return k

    def __hash__(self) -> int:
        h = self.__dict__.get("_h")
        if h is None:
            h = hash(self._key())
            object.__setattr__(self, "_h", h)
        return h

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if type(self) is not type(other):
            return False
        return hash(self) == hash(other) and self._key() == other._key()  # type: ignore[attr-defined]

    def __getstate__(self) -> dict:
        # pickles (the rule cache) leave out the cached key and hash: str hashes differ per process
        return {k: v for k, v in self.__dict__.items() if k not in ("_k", "_h")}

    def children(self) -> tuple["Node", ...]:
        out: list[Node] = []
        for f in self._key_fields:
            v = getattr(self, f)
            if isinstance(v, Node):
                out.append(v)
            elif isinstance(v, tuple):
                for x in v:
                    if isinstance(x, Node):
                        out.append(x)
                    elif isinstance(x, tuple):
                        out.extend(y for y in x if isinstance(y, Node))
        return tuple(out)


def node(cls):
    """Make ``cls`` a frozen record node whose identity (``Node.__eq__``) ignores its ``text`` field."""
    cls = record(cls, eq=False)
    cls._key_fields = tuple(f.name for f in fields(cls) if f.name != "text")
    return cls


def _text() -> Any:
    return field(default="", compare=False)


# ------------------------------------------------------------------ leaves and constants
@node
class Ask(Node):
    """A perception subquery: the only place answers enter the graph."""

    query: Subquery
    text: str = _text()


@node
class Const(Node):
    value: Any
    text: str = _text()

    def _key(self) -> tuple:  # 1, 1.0 and True hash alike; a constant's type is part of its identity
        return ("Const", type(self.value).__name__, self.value)


@node
class Var(Node):
    """The instance bound by the innermost quantifier or aggregate of that name."""

    name: str
    text: str = _text()


@node
class Named(Node):
    """A `let`: shared like any node, and named in the evidence."""

    name: str
    value: Node
    text: str = _text()


# ------------------------------------------------------------------ arithmetic and logic
@node
class Arith(Node):
    op: str  # + - * /
    left: Node
    right: Node
    text: str = _text()


@node
class Neg(Node):
    operand: Node
    text: str = _text()


@node
class Abs(Node):
    operand: Node
    text: str = _text()


@node
class Compare(Node):
    op: str  # == != < <= > >=
    left: Node
    right: Node
    text: str = _text()


@node
class InRange(Node):
    value: Node
    low: Node
    high: Node
    text: str = _text()


@node
class InSet(Node):
    value: Node
    items: tuple[Any, ...]
    text: str = _text()


@node
class AllOf(Node):
    """n-ary Kleene `and` (also an unrolled `all` over grid cells)."""

    items: tuple[Node, ...]
    text: str = _text()


@node
class AnyOf(Node):
    items: tuple[Node, ...]
    text: str = _text()


@node
class Not(Node):
    operand: Node
    text: str = _text()


@node
class Implies(Node):
    guard: Node
    then: Node
    text: str = _text()


@node
class Match(Node):
    subject: Node
    arms: tuple[tuple[Any, Node], ...]
    default: Node | None = None
    text: str = _text()


# ------------------------------------------------------------------ instances
@node
class Filter(Node):
    """The instances of ``source`` (a list) whose centre lies in ``region`` and that satisfy ``where``."""

    source: Node
    region: Node | None = None
    var: str = "_"
    where: Node | None = None
    text: str = _text()


@node
class CountOf(Node):
    items: Node
    text: str = _text()


@node
class NonEmpty(Node):
    items: Node
    text: str = _text()


@node
class Single(Node):
    """The one instance of a list; undecided with the reason when there are zero or several."""

    items: Node
    object: str
    text: str = _text()


@node
class InstAttr(Node):
    instance: Node
    attribute: str
    text: str = _text()


@node
class InstGeom(Node):
    instance: Node
    quantity: str
    text: str = _text()


@node
class Distance(Node):
    a: Node
    b: Node
    text: str = _text()


@node
class Rel(Node):
    """A spatial relation between an instance and an instance or region box."""

    relation: str
    a: Node
    b: Node
    tolerance: float | None = None
    text: str = _text()


@node
class Quant(Node):
    quantifier: str  # all, any, none
    var: str
    items: Node
    body: Node
    text: str = _text()


@node
class Aggregate(Node):
    func: str  # sum, min, max, mean, all_equal
    var: str
    items: Node
    expr: Node
    text: str = _text()


# ------------------------------------------------------------------ regions (evaluate to boxes)
@node
class StaticBox(Node):
    box: Box
    name: str
    text: str = _text()


@node
class RelBox(Node):
    """``box(…) of obj``: ``box`` taken relative to the box of an instance."""

    box: Box
    instance: Node
    name: str
    text: str = _text()


@node
class UnionBox(Node):
    """Inside any instance of a list (``icon in fruit_label``)."""

    items: Node
    name: str
    text: str = _text()


# ------------------------------------------------------------------ the graph
@record(frozen=False)
class RuleRoot:
    name: str
    category: str | None
    message: str | None
    requires: tuple[str, ...]
    root: Node
    line: int


@record(frozen=False)
class QueryGraph:
    """The compiled program: one root per rule (file order), shared nodes, Ask leaves.

    ``detects`` gives, for every object, the Detect subquery that grounding backends answer
    (with all of the object's declared attributes) — the planner lowers other subqueries onto it.
    """

    product: str
    rules: list[RuleRoot]
    detects: dict[str, Detect]
    descriptions: dict[str, str]

    def nodes(self) -> list[Node]:
        """Every distinct node, children before parents."""
        seen: dict[int, Node] = {}
        order: list[Node] = []
        for r in self.rules:
            stack: list[tuple[Node, bool]] = [(r.root, False)]
            while stack:
                n, done = stack.pop()
                if done:
                    order.append(n)
                    continue
                if id(n) in seen:
                    continue
                seen[id(n)] = n
                stack.append((n, True))
                stack.extend((c, False) for c in reversed(n.children()) if id(c) not in seen)
        return order

    def leaves(self) -> list[Subquery]:
        """Distinct perception subqueries, in first-use order."""
        out: dict[Subquery, None] = {}
        for n in self.nodes():
            if isinstance(n, Ask):
                out.setdefault(n.query, None)
        return list(out)

    def to_networkx(self):
        """A read-only networkx view: nodes ``n0…`` with kind/label attributes, rule roots ``rule:<name>``."""
        import networkx as nx

        g = nx.DiGraph(product=self.product)
        ids: dict[int, str] = {}
        for n in self.nodes():
            nid = f"n{len(ids)}"
            ids[id(n)] = nid
            attrs: dict[str, Any] = {"kind": type(n).__name__, "label": describe_node(n)}
            if isinstance(n, Ask):
                from logicdsl.engine.subquery import subquery_to_dict

                attrs["subquery"] = subquery_to_dict(n.query)
                attrs["leaf"] = True
            g.add_node(nid, **attrs)
            for c in n.children():
                g.add_edge(nid, ids[id(c)])
        for r in self.rules:
            rid = f"rule:{r.name}"
            g.add_node(rid, kind="Rule", label=r.name, category=r.category, message=r.message)
            g.add_edge(rid, ids[id(r.root)])
            for dep in r.requires:
                g.add_edge(rid, f"rule:{dep}", requires=True)
        return nx.freeze(g)


def describe_node(n: Node) -> str:
    if isinstance(n, Ask):
        return n.query.question()
    if isinstance(n, Const):
        return repr(n.value)
    if isinstance(n, Named):
        return f"let {n.name}"
    if n.text:
        return n.text
    bits = [f"{f}={getattr(n, f)!r}" for f in n._key_fields
            if not isinstance(getattr(n, f), (Node, tuple)) and getattr(n, f) is not None]
    return f"{type(n).__name__}({', '.join(bits)})"


def region_of_box(name: str, box: Box) -> Region:
    return Region(kind="box", name=name, box=box)
