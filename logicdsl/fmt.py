"""The canonical layout of a .logic file: ``logicdsl fmt``.

``format_module(module)`` prints a syntax tree; ``format_source(text)`` parses and prints. The printer is
a pure function of the tree (plus the comments and line numbers a parsed tree carries), so it is
idempotent: ``format_source(format_source(x)) == format_source(x)``, and for every tree it can print,
``parse(format_module(m)).module == m``.

Layout
  * one declaration per line, in file order; a rule is a header line ``rule name [category] "message":``
    and its expression on the next line, indented four spaces; with ``requires`` the header has no colon
    and ``requires a, b:`` gets its own indented line between the header and the expression;
  * no line is ever wrapped by width; the only construct laid over several lines is ``match``: one arm
    per line, indented four more spaces than the line the ``match`` starts on, and ``}`` back at that
    line's indentation (a comma follows an arm only when the next arm's pattern is a negative number,
    the one place the grammar needs it);
  * single spaces around binary operators, ``->``, ``=>``, ``..`` and after commas and ``:``;
    numbers in plain decimal with no trailing zeros (``1``, ``0.85``); strings in double quotes with
    ``\\``, ``"``, newline and tab escaped;
  * parentheses only where precedence needs them; a quantifier's body reaches as far right as it can,
    so a quantified expression (or one that ends in one, such as ``not all …``) that is followed by
    more text at its level is parenthesised;
  * blank lines: exactly one between two declarations of different kinds (product, objects, attributes,
    regions, grids, lets, rules); between two of the same kind, one if the source had at least one
    there, else none; never two in a row, none at the start, and the file ends with one newline.

Comments (every comment is kept, its text unchanged but for trailing spaces)
  * an own-line comment before a declaration stays directly above it (blank lines between such
    comments, and between them and the declaration, are kept, collapsed to one);
  * an own-line comment inside a declaration goes directly above the printed line that holds the first
    token after it, at that line's indentation;
  * a trailing comment goes at the end of the printed line that holds the last token before it, after
    two spaces; when two trailing comments land on the same printed line (the source had split it), the
    first stays trailing and the later ones go above that line as own-line comments;
  * comments after the last declaration end the file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from . import ast

#: words of the grammar that cannot be used as names
KEYWORDS = frozenset({
    "all", "all_equal", "and", "any", "attribute", "bool", "box", "count", "exists", "false", "for", "grid",
    "in", "let", "match", "max", "mean", "min", "none", "not", "number", "object", "of", "or", "product",
    "region", "requires", "rule", "sum", "true", "where", "x",
})

INDENT = "    "

# precedence, loosest first (matches grammar/logicdsl.lark)
_IMPLIES, _OR, _AND, _NOT, _CMP, _SUM, _PROD, _UNARY, _POSTFIX, _ATOM = range(1, 11)


def format_number(value: float) -> str:
    """A number as the grammar reads it: plain decimal, shortest form that round-trips."""
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"cannot write the number {value!r} in a .logic file")
    if v == 0:
        return "0"
    if v.is_integer():
        return str(int(v))
    text = format(Decimal(repr(v)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_string(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def _prec(node: ast.Expr) -> int:
    if isinstance(node, ast.Logic):
        return {"->": _IMPLIES, "or": _OR, "and": _AND}[node.op]
    if isinstance(node, (ast.Not, ast.Quantified)):
        return _NOT
    if isinstance(node, (ast.Compare, ast.InRange, ast.InSet)):
        return _CMP
    if isinstance(node, ast.Arith):
        return _SUM if node.op in "+-" else _PROD
    if isinstance(node, ast.Neg):
        return _UNARY
    if isinstance(node, ast.Attr):
        return _POSTFIX
    if isinstance(node, ast.Number) and node.value < 0:
        return _UNARY  # only from hand-built trees: printed as `-n`
    return _ATOM


def _logic_sides(op: str) -> tuple[int, int]:
    """Minimum precedence of the left and right operand of a logical operator."""
    return {"->": (_OR, _IMPLIES), "or": (_OR, _AND), "and": (_AND, _NOT)}[op]


def _ends_open(node: ast.Expr) -> bool:
    """Whether the printed node ends in a quantifier body that would swallow whatever follows it."""
    while True:
        if isinstance(node, ast.Quantified):
            return True
        if isinstance(node, ast.Not):
            if _prec(node.operand) < _NOT:
                return False
            node = node.operand
        elif isinstance(node, ast.Logic):
            if _prec(node.right) < _logic_sides(node.op)[1]:
                return False
            node = node.right
        else:
            return False


# ------------------------------------------------------------------ output lines
@dataclass
class _Line:
    indent: int
    parts: list[str] = field(default_factory=list)
    first: int | None = None  # the source lines of the tokens printed on this line
    last: int | None = None
    above: list[str] = field(default_factory=list)  # own-line comments placed before it
    trailing: str | None = None

    def mark(self, line: int | None) -> None:
        if line is None:
            return
        self.first = line if self.first is None else min(self.first, line)
        self.last = line if self.last is None else max(self.last, line)

    def render(self) -> list[str]:
        pad = INDENT * self.indent
        out = [pad + c for c in self.above]
        text = pad + "".join(self.parts)
        if self.trailing:
            text += "  " + self.trailing
        out.append(text.rstrip())
        return out


class _Printer:
    """Prints one declaration into lines, remembering which source lines each printed line came from."""

    def __init__(self) -> None:
        self.lines: list[_Line] = []

    def newline(self, indent: int) -> None:
        self.lines.append(_Line(indent))

    @property
    def cur(self) -> _Line:
        return self.lines[-1]

    def emit(self, text: str) -> None:
        self.cur.parts.append(text)

    def mark(self, span) -> None:
        if span is not None:
            self.cur.mark(span.line)

    def mark_end(self, span) -> None:
        if span is not None:
            self.cur.mark(span.end_line)

    # ---------------------------------------------------------------- expressions
    def expr(self, node: ast.Expr, min_prec: int = _IMPLIES, tail: bool = True) -> None:
        span = getattr(node, "span", None)
        parens = _prec(node) < min_prec or (not tail and _ends_open(node))
        self.mark(span)
        if parens:
            self.emit("(")
            tail = True
        getattr(self, "x_" + type(node).__name__.lower())(node, tail)
        if parens:
            self.emit(")")
        self.mark_end(span)

    def x_number(self, node: ast.Number, tail: bool) -> None:
        self.emit(format_number(node.value))

    def x_bool(self, node: ast.Bool, tail: bool) -> None:
        self.emit("true" if node.value else "false")

    def x_name(self, node: ast.Name, tail: bool) -> None:
        self.emit(node.id)

    def x_attr(self, node: ast.Attr, tail: bool) -> None:
        self.expr(node.target, _POSTFIX, False)
        self.emit("." + node.name)

    def x_call(self, node: ast.Call, tail: bool) -> None:
        self.emit(node.func + "(")
        items: list[ast.Expr | ast.Kwarg] = [*node.args, *node.kwargs]
        for i, a in enumerate(items):
            if i:
                self.emit(", ")
            last = i == len(items) - 1
            if isinstance(a, ast.Kwarg):
                self.mark(a.span)
                self.emit(a.name + ": ")
                self.expr(a.value, _IMPLIES, last)
            else:
                self.expr(a, _IMPLIES, last)
        self.emit(")")

    def selection(self, sel: ast.Selection) -> None:
        self.mark(sel.span)
        self.emit(" in ".join(sel.names))
        if sel.where is not None:
            self.emit(" where ")
            self.expr(sel.where)
        self.mark_end(sel.span)

    def x_count(self, node: ast.Count, tail: bool) -> None:
        self.emit("count(")
        self.selection(node.selection)
        self.emit(")")

    def x_exists(self, node: ast.Exists, tail: bool) -> None:
        self.emit("exists(")
        self.selection(node.selection)
        self.emit(")")

    def x_aggregate(self, node: ast.Aggregate, tail: bool) -> None:
        self.emit(node.func + "(")
        self.expr(node.expr, _IMPLIES, False)
        self.emit(f" for {node.var} in ")
        self.selection(node.selection)
        self.emit(")")

    def x_quantified(self, node: ast.Quantified, tail: bool) -> None:
        within = f" in {node.within}" if node.within is not None else ""
        self.emit(f"{node.quantifier} {node.var} in {node.domain}{within}: ")
        self.expr(node.body, _IMPLIES, True)

    def x_not(self, node: ast.Not, tail: bool) -> None:
        self.emit("not ")
        self.expr(node.operand, _NOT, tail)

    def x_neg(self, node: ast.Neg, tail: bool) -> None:
        self.emit("-")
        self.expr(node.operand, _UNARY, tail)

    def x_arith(self, node: ast.Arith, tail: bool) -> None:
        level = _SUM if node.op in "+-" else _PROD
        self.expr(node.left, level, False)
        self.emit(f" {node.op} ")
        self.expr(node.right, level + 1, tail)

    def x_logic(self, node: ast.Logic, tail: bool) -> None:
        lp, rp = _logic_sides(node.op)
        self.expr(node.left, lp, False)
        self.emit(f" {node.op} ")
        self.expr(node.right, rp, tail)

    def x_compare(self, node: ast.Compare, tail: bool) -> None:
        self.expr(node.left, _SUM, False)
        self.emit(f" {node.op} ")
        self.expr(node.right, _SUM, tail)

    def x_inrange(self, node: ast.InRange, tail: bool) -> None:
        self.expr(node.value, _SUM, False)
        self.emit(" in ")
        self.expr(node.low, _SUM, False)
        self.emit(" .. ")
        self.expr(node.high, _SUM, tail)

    def literal(self, node: ast.Expr) -> None:
        """A set item or a match pattern: a name, a signed number, true or false."""
        self.mark(getattr(node, "span", None))
        if isinstance(node, ast.Name):
            self.emit(node.id)
        elif isinstance(node, ast.Number):
            self.emit(format_number(node.value))
        elif isinstance(node, ast.Bool):
            self.emit("true" if node.value else "false")
        elif isinstance(node, ast.Neg) and isinstance(node.operand, ast.Number):
            self.emit("-" + format_number(node.operand.value))
        else:
            raise ValueError(f"a set item or pattern must be a name, a number, true or false, not {node!r}")

    def x_inset(self, node: ast.InSet, tail: bool) -> None:
        self.expr(node.value, _SUM, False)
        self.emit(" in {")
        for i, item in enumerate(node.items):
            if i:
                self.emit(", ")
            self.literal(item)
        self.emit("}")

    def x_match(self, node: ast.Match, tail: bool) -> None:
        indent = self.cur.indent
        self.emit("match ")
        self.expr(node.subject, _IMPLIES, False)
        self.emit(" {")
        for i, arm in enumerate(node.arms):
            self.newline(indent + 1)
            self.mark(arm.span)
            self.literal(arm.pattern)
            self.emit(" => ")
            self.expr(arm.body, _IMPLIES, True)
            nxt = node.arms[i + 1].pattern if i + 1 < len(node.arms) else None
            if isinstance(nxt, ast.Number) and nxt.value < 0:  # -0 is written `0`: no comma needed
                self.emit(",")
            self.mark_end(arm.span)
        self.newline(indent)
        self.emit("}")

    # ---------------------------------------------------------------- declarations
    def decl(self, d: ast.Decl) -> None:
        self.newline(0)
        self.mark(d.span)
        self.mark(getattr(d, "name_span", None))
        getattr(self, "d_" + type(d).__name__.lower())(d)
        if len(self.lines) == 1:
            self.mark_end(d.span)

    def _desc(self, text: str | None) -> None:
        if text is not None:
            self.emit(" " + format_string(text))

    def d_productdecl(self, d: ast.ProductDecl) -> None:
        self.emit("product " + d.name)
        self._desc(d.description)

    def d_objectdecl(self, d: ast.ObjectDecl) -> None:
        self.emit("object " + d.name)
        self._desc(d.description)

    def d_attributedecl(self, d: ast.AttributeDecl) -> None:
        self.emit(f"attribute {d.name} of {d.object}: {_attr_type(d.type)}")
        self._desc(d.description)

    def d_regiondecl(self, d: ast.RegionDecl) -> None:
        self.emit(f"region {d.name} = {_box(d.box)}")
        if d.of is not None:
            self.emit(" of " + d.of)

    def d_griddecl(self, d: ast.GridDecl) -> None:
        where = _box(d.box) if d.box is not None else d.within
        self.emit(f"grid {d.name} = {d.rows} x {d.cols} in {where}")

    def d_letdecl(self, d: ast.LetDecl) -> None:
        self.emit(f"let {d.name} = ")
        self.expr(d.expr)

    def d_ruledecl(self, d: ast.RuleDecl) -> None:
        self.emit("rule " + d.name)
        if d.category is not None:
            self.emit(f" [{d.category}]")
        self._desc(d.message)
        if d.requires:
            self.newline(1)
            for sp in d.requires_spans:
                self.mark(sp)
            self.emit("requires " + ", ".join(d.requires) + ":")
        else:
            self.emit(":")
        self.newline(1)
        self.expr(d.expr)


def _attr_type(t: ast.AttrType) -> str:
    if isinstance(t, ast.EnumType):
        return "{" + ", ".join(t.values) + "}"
    if isinstance(t, ast.BoolType):
        return "bool"
    if t.low is None or t.high is None:
        return "number"
    return f"number {format_number(t.low)} .. {format_number(t.high)}"


def _box(b: ast.BoxLit) -> str:
    return "box(" + ", ".join(format_number(c) for c in b.coords) + ")"


# ------------------------------------------------------------------ the module
def _place_comments(lines: list[_Line], comments: list[ast.Comment]) -> None:
    """Put a declaration's inner comments on its printed lines (see the module docstring)."""
    for c in comments:
        if c.own_line:
            k = next((i for i, ln in enumerate(lines) if ln.last is not None and ln.last > c.line), None)
            if k is None:
                k = len(lines) - 1
            lines[k].above.append(c.text)
        else:
            k = max((i for i, ln in enumerate(lines) if ln.first is not None and ln.first <= c.line), default=0)
            if lines[k].trailing is None:
                lines[k].trailing = c.text
            else:
                lines[k].above.append(c.text)


def _with_gaps(comments: list[ast.Comment], end_line: int | None) -> list[str]:
    """Own-line comments between declarations, keeping (collapsed) blank lines between them and before
    ``end_line`` (the next declaration's first line)."""
    out: list[str] = []
    prev: int | None = None
    for c in comments:
        if prev is not None and c.line > prev + 1:
            out.append("")
        out.append(c.text)
        prev = c.line
    if out and end_line is not None and prev is not None and end_line > prev + 1:
        out.append("")
    return out


def format_module(module: ast.Module) -> str:
    """The canonical text of a module (see the module docstring for the layout and comment policy)."""
    comments = sorted(module.comments, key=lambda c: c.line)
    have_spans = all(d.span is not None for d in module.decls)
    if not have_spans:  # a hand-built tree: comments (if any) go first
        header = [c.text for c in comments]
        comments = []
    else:
        header = []
    out: list[str] = list(header)
    ci = 0
    prev: ast.Decl | None = None
    for d in module.decls:
        leading: list[ast.Comment] = []
        inner: list[ast.Comment] = []
        if have_spans:
            while ci < len(comments) and comments[ci].line < d.span.line:
                leading.append(comments[ci])
                ci += 1
            while ci < len(comments) and comments[ci].line <= d.span.end_line:
                inner.append(comments[ci])
                ci += 1
        if prev is not None:
            if type(prev) is not type(d):
                out.append("")
            elif have_spans:
                gap_start = prev.span.end_line + 1
                gap_end = leading[0].line if leading else d.span.line
                if gap_end > gap_start:
                    out.append("")
        elif out and leading:
            out.append("")
        out.extend(_with_gaps(leading, d.span.line if have_spans else None))
        p = _Printer()
        p.decl(d)
        _place_comments(p.lines, inner)
        for ln in p.lines:
            out.extend(ln.render())
        prev = d
    rest = comments[ci:]
    if rest:
        if prev is not None and rest[0].line > prev.span.end_line + 1:
            out.append("")
        out.extend(_with_gaps(rest, None))
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def format_source(text: str | bytes, name: str = "<input>") -> str:
    """Parse ``text`` and return its canonical layout.

    Raises :class:`logicdsl.diagnostics.DiagnosticError` (with located diagnostics) when the text is not
    valid UTF-8, too large, or does not parse. Only syntax matters: a file with checker errors formats.
    """
    from . import parser
    from .diagnostics import DiagnosticError
    from .source import Source

    if isinstance(text, bytes):
        source, diags = parser.decode(text, name)
        if source is None:
            raise DiagnosticError(Source("", name), diags)
    else:
        source = Source(text.removeprefix("\ufeff"), name)
    result = parser.parse(source)
    if result.module is None:
        raise DiagnosticError(source, result.diagnostics)
    return format_module(result.module)
