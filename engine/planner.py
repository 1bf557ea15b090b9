"""Planning: fit a query graph to what a backend can answer.

A subquery kind the backend does not answer natively is lowered onto that object's ``Detect``:
counts and presence become filters over detections (region membership by box centre), attributes
and measures read the single instance, relations compare boxes. A grounding backend therefore
answers ``count(pin in c)`` for fifteen cells with one detection per image.
"""

from __future__ import annotations

from typing import Iterable

from logicdsl import graph as g
from logicdsl.engine.subquery import Count, Exists, Measure, Region, Relation, Subquery, Attribute
from logicdsl.record import record, replace


@record(frozen=False)
class Plan:
    """The rules of a graph, each with its root rewritten for one backend's capabilities."""

    graph: g.QueryGraph
    capabilities: frozenset[str]
    roots: dict[str, g.Node]
    order: list[str]  # rules in evaluation order: requirements first, then file order

    def leaves(self) -> list[Subquery]:
        seen: dict[Subquery, None] = {}
        for r in self.order:
            for n in _walk(self.roots[r]):
                if isinstance(n, g.Ask):
                    seen.setdefault(n.query, None)
        return list(seen)


def _walk(root: g.Node) -> Iterable[g.Node]:
    seen: set[int] = set()
    stack = [root]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        yield n
        stack.extend(n.children())


class _Lowerer:
    def __init__(self, graph: g.QueryGraph, capabilities: frozenset[str]):
        self.graph = graph
        self.caps = capabilities
        self._done: dict[int, g.Node] = {}
        self._interned: dict[g.Node, g.Node] = {}

    def mk(self, n: g.Node) -> g.Node:
        return self._interned.setdefault(n, n)

    def detect(self, obj: str) -> g.Node:
        return self.mk(g.Ask(self.graph.detects[obj], text=f"detect {obj}"))

    def single(self, obj: str) -> g.Node:
        return self.mk(g.Single(self.detect(obj), obj, text=obj))

    def region(self, r: Region) -> g.Node:
        if r.kind == "box":
            return self.mk(g.StaticBox(r.box, r.name, text=r.name))  # type: ignore[arg-type]
        if r.kind == "object_box":
            return self.mk(g.RelBox(r.box, self.single(r.object), r.name, text=r.name))  # type: ignore[arg-type]
        return self.mk(g.UnionBox(self.detect(r.object), r.name, text=r.name))  # type: ignore[arg-type]

    def lower_ask(self, n: g.Ask) -> g.Node:
        q = n.query
        if q.kind in self.caps:
            return n
        if q.kind == "detect":
            raise ValueError("a backend must at least answer `detect` or the subquery kinds it is asked")
        if isinstance(q, (Count, Exists)):
            where = None
            if isinstance(q, Count) and q.where is not None:
                f = q.where
                where = self.mk(g.Compare(f.op, self.mk(g.InstAttr(self.mk(g.Var("_")), f.attribute.name)),
                                          self.mk(g.Const(f.value))))
            items = self.detect(q.object)
            if q.region is not None or where is not None:
                items = self.mk(g.Filter(items, self.region(q.region) if q.region else None, "_", where,
                                         text=n.text))
            return self.mk((g.CountOf if isinstance(q, Count) else g.NonEmpty)(items, text=n.text))
        if isinstance(q, Attribute):
            return self.mk(g.InstAttr(self.single(q.object), q.attribute.name, text=n.text))
        if isinstance(q, Measure):
            return self.mk(g.InstGeom(self.single(q.object), q.quantity, text=n.text))
        if isinstance(q, Relation):
            return self.mk(g.Rel(q.relation, self.single(q.a), self.single(q.b), q.tolerance, text=n.text))
        raise ValueError(f"cannot lower a {q.kind} subquery")

    def lower(self, n: g.Node) -> g.Node:
        """Rewrite bottom-up (iteratively: graphs can be deep), sharing rewritten nodes."""
        stack: list[tuple[g.Node, bool]] = [(n, False)]
        while stack:
            cur, ready = stack.pop()
            if id(cur) in self._done:
                continue
            if not ready:
                stack.append((cur, True))
                stack.extend((c, False) for c in cur.children() if id(c) not in self._done)
                continue
            self._done[id(cur)] = self._rebuild(cur)
        return self._done[id(n)]

    def _rebuild(self, cur: g.Node) -> g.Node:
        if isinstance(cur, g.Ask):
            return self.lower_ask(cur)
        changes = {}
        for f in cur._key_fields:
            v = getattr(cur, f)
            if isinstance(v, g.Node):
                nv = self._done[id(v)]
                if nv is not v:
                    changes[f] = nv
            elif isinstance(v, tuple) and any(isinstance(x, (g.Node, tuple)) for x in v):
                nv = tuple(self._map(x) for x in v)
                if any(a is not b for a, b in zip(nv, v)):
                    changes[f] = nv
        if not changes:
            return self.mk(cur)
        return self.mk(replace(cur, **changes))

    def _map(self, x):
        if isinstance(x, g.Node):
            return self._done[id(x)]
        if isinstance(x, tuple):
            return tuple(self._map(y) for y in x)
        return x


def evaluation_order(graph: g.QueryGraph) -> list[str]:
    """Rules with their requirements first; otherwise file order (a stable Kahn's algorithm)."""
    import heapq

    index = {r.name: i for i, r in enumerate(graph.rules)}
    waiting = {r.name: {d for d in r.requires if d in index} for r in graph.rules}
    users: dict[str, list[str]] = {n: [] for n in index}
    for name, deps in waiting.items():
        for d in deps:
            users[d].append(name)
    ready = [index[n] for n, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = graph.rules[heapq.heappop(ready)].name
        order.append(name)
        for u in users[name]:
            waiting[u].discard(name)
            if not waiting[u]:
                heapq.heappush(ready, index[u])
    return order + [r.name for r in graph.rules if r.name not in order]  # cycles are compile errors


def plan(graph: g.QueryGraph, capabilities: Iterable[str]) -> Plan:
    caps = frozenset(capabilities)
    if "detect" not in caps:
        # without grounding nothing can be lowered; every leaf the compiler made must be native
        missing = {q.kind for q in graph.leaves()} - caps
        if missing:
            raise ValueError(f"the backend answers {sorted(caps)} but the rules need {sorted(missing)}")
    low = _Lowerer(graph, caps)
    roots = {r.name: low.lower(r.root) for r in graph.rules}
    return Plan(graph, caps, roots, evaluation_order(graph))
