"""The size of a naive plan: what a rule set would cost a backend with no sharing and no lowering.

:func:`naive_question_count` is the baseline the engine's asked-subquery figures are compared with
(``benchmarks/test_engine_bench.py``). A naive plan asks one question per atomic predicate, rule by
rule, as written:

- every ``count(...)`` and ``exists(...)`` is one question (whatever its region), plus the questions
  of its ``where`` condition;
- every attribute access (``juice.kind``, ``c.clamps``), geometric property (``width(x)``, ``p.area``),
  relation (``above(a, b)``, ``centred(...)``) and ``distance(a, b)`` is one question;
- a quantifier or aggregate over instances is one question (list the instances) plus the questions of
  its body, counted once (the number of instances is unknown before an image is seen);
- a quantifier over a grid is unrolled: its body's questions once per cell;
- a ``let`` is re-asked at every use: each use costs the questions of its expression;
- ``match`` costs its subject and every arm; operators and constants cost nothing;
- ``requires`` does not prune anything: every rule is asked in full.

Nothing is shared: the same predicate written twice (in one rule or in two) is two questions.
"""

from __future__ import annotations

from . import ast
from .program import Program

__all__ = ["naive_question_count", "naive_questions_per_rule"]


def naive_questions_per_rule(program: Program) -> dict[str, int]:
    """Questions a naive plan asks for each rule, in file order."""
    return {r.name: _Counter(program).expr(r.expr, frozenset()) for r in program.rules}


def naive_question_count(program: Program) -> int:
    """The number of atomic predicates a naive plan asks per image (see the module docstring)."""
    return sum(naive_questions_per_rule(program).values())


class _Counter:
    def __init__(self, program: Program):
        self.p = program

    def expr(self, node: ast.Expr, cells: frozenset[str]) -> int:
        """``cells``: variables bound to grid cells (unrolled quantifiers)."""
        if isinstance(node, (ast.Number, ast.Bool)):
            return 0
        if isinstance(node, ast.Name):
            if node.id in self.p.lets:
                return self.expr(self.p.lets[node.id].expr, frozenset())
            return 0  # an object, a bound variable or an enum value on its own asks nothing
        if isinstance(node, ast.Attr):
            return 1
        if isinstance(node, ast.Call):
            if node.func == "abs":
                return sum(self.expr(a, cells) for a in node.args)
            return 1  # geometry, distance and relations
        if isinstance(node, (ast.Count, ast.Exists)):
            where = node.selection.where
            return 1 + (self.expr(where, cells) if where is not None else 0)
        if isinstance(node, ast.Aggregate):
            where = node.selection.where
            return 1 + self.expr(node.expr, cells) + (self.expr(where, cells) if where is not None else 0)
        if isinstance(node, ast.Quantified):
            if node.domain in self.p.grids:
                g = self.p.grids[node.domain]
                return g.rows * g.cols * self.expr(node.body, cells | {node.var})
            return 1 + self.expr(node.body, cells)
        if isinstance(node, (ast.Not, ast.Neg)):
            return self.expr(node.operand, cells)
        if isinstance(node, (ast.Arith, ast.Compare, ast.Logic)):
            return self.expr(node.left, cells) + self.expr(node.right, cells)
        if isinstance(node, ast.InRange):
            return sum(self.expr(x, cells) for x in (node.value, node.low, node.high))
        if isinstance(node, ast.InSet):
            return self.expr(node.value, cells)
        if isinstance(node, ast.Match):
            return self.expr(node.subject, cells) + sum(self.expr(a.body, cells) for a in node.arms)
        raise TypeError(f"unknown expression node {type(node).__name__}")
