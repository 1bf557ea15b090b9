"""Hypothesis strategies for syntax trees that the grammar can express (for ``parse(fmt(m)) == m``)."""

from __future__ import annotations

from hypothesis import strategies as st

from logicdsl import ast
from logicdsl.fmt import KEYWORDS

names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda n: n not in KEYWORDS)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=20)
unsigned = st.one_of(st.integers(0, 10_000).map(float),
                     st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
                     st.sampled_from([0.5, 0.85, 0.1, 1e-7, 2.4]))
signed = st.one_of(unsigned, unsigned.map(lambda v: -v))

literals = st.one_of(names.map(ast.Name), signed.map(ast.Number), st.booleans().map(ast.Bool))
leaves = st.one_of(unsigned.map(ast.Number), st.booleans().map(ast.Bool), names.map(ast.Name))


def _selection(expr):
    return st.builds(ast.Selection, st.lists(names, min_size=1, max_size=3).map(tuple),
                     st.none() | expr)


def _extend(expr):
    sel = _selection(expr)
    return st.one_of(
        st.builds(ast.Attr, expr, names),
        st.builds(ast.Call, names, st.lists(expr, max_size=3).map(tuple),
                  st.lists(st.builds(ast.Kwarg, names, expr), max_size=2).map(tuple)),
        st.builds(ast.Count, sel),
        st.builds(ast.Exists, sel),
        st.builds(ast.Aggregate, st.sampled_from(["sum", "min", "max", "mean", "all_equal"]), expr, names, sel),
        st.builds(ast.Quantified, st.sampled_from(["all", "any", "none"]), names, names, st.none() | names, expr),
        st.builds(ast.Not, expr),
        st.builds(ast.Neg, expr),
        st.builds(ast.Arith, st.sampled_from(["+", "-", "*", "/"]), expr, expr),
        st.builds(ast.Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), expr, expr),
        st.builds(ast.Logic, st.sampled_from(["and", "or", "->"]), expr, expr),
        st.builds(ast.InRange, expr, expr, expr),
        st.builds(ast.InSet, expr, st.lists(literals, min_size=1, max_size=4).map(tuple)),
        st.builds(ast.Match, expr, st.lists(st.builds(ast.Arm, literals, expr), min_size=1, max_size=3).map(tuple)),
    )


exprs = st.recursive(leaves, _extend, max_leaves=10)

boxes = st.builds(ast.BoxLit, signed, signed, signed, signed)
attr_types = st.one_of(
    st.lists(names, min_size=1, max_size=4).map(lambda v: ast.EnumType(tuple(v))),
    st.builds(ast.NumberType, signed, signed),
    st.just(ast.NumberType()),
    st.just(ast.BoolType()),
)
decls = st.one_of(
    st.builds(ast.ProductDecl, names, st.none() | texts),
    st.builds(ast.ObjectDecl, names, st.none() | texts),
    st.builds(ast.AttributeDecl, names, names, attr_types, st.none() | texts),
    st.builds(ast.RegionDecl, names, boxes, st.none() | names),
    st.builds(ast.GridDecl, names, st.integers(0, 200), st.integers(0, 200), boxes, st.none()),
    st.builds(ast.GridDecl, names, st.integers(0, 200), st.integers(0, 200), st.none(), names),
    st.builds(ast.LetDecl, names, exprs),
    st.builds(ast.RuleDecl, names, exprs, st.none() | names, st.none() | texts,
              st.lists(names, max_size=3).map(tuple)),
)
modules = st.lists(decls, max_size=8).map(lambda ds: ast.Module(tuple(ds)))
