"""Text → syntax tree: lark (LALR, cached grammar) and a Transformer that builds ``ast`` nodes.

Syntax errors become E0xx diagnostics phrased for a rule author ("expected a comparison such as
`== 2`"), never lark's token names. Limits (file size, nesting depth) are diagnostics, not hangs.
"""

from __future__ import annotations

import re
import threading
from importlib import resources

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast
from .diagnostics import Diagnostic, error
from .record import record, replace
from .source import MAX_FILE_BYTES, Source, Span

MAX_DEPTH = 100

_lock = threading.Lock()
_parser: Lark | None = None
_comments: list[Token] = []
_text: list[str] = [""]  # the text being parsed, for _keyword_callback


class _GluedKeyword(Exception):
    """A keyword matched as the prefix of a longer word (`rules`, `lettuce`) where no name may stand."""

    def __init__(self, token: Token):
        self.token = token


def _keyword_callback(tok: Token) -> Token:
    end = tok.end_pos or 0
    text = _text[0]
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        raise _GluedKeyword(tok)
    return tok


def _keyword_terminals(grammar: str) -> list[str]:
    """Lark names a keyword literal such as "rule" RULE; these may match a prefix of a longer word."""
    return sorted({w.upper() for w in re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', grammar)})


def _grammar_parser() -> Lark:
    global _parser
    if _parser is None:
        text = resources.files("logicdsl.grammar").joinpath("logicdsl.lark").read_text(encoding="utf-8")
        # the AST is built during the LALR parse (no parse tree, no second pass); spans come from tokens
        kwargs = dict(parser="lalr", maybe_placeholders=True, transformer=_ToAst(),
                      lexer_callbacks={"COMMENT": _comments.append,
                                       **{k: _keyword_callback for k in _keyword_terminals(text)}})
        try:
            _parser = Lark(text, cache=True, **kwargs)
        except OSError:  # a read-only temp dir: parse without the cache
            _parser = Lark(text, **kwargs)
    return _parser


@record(frozen=False)
class ParseResult:
    module: ast.Module | None
    diagnostics: list[Diagnostic]


def decode(data: bytes, name: str) -> tuple[Source | None, list[Diagnostic]]:
    """Bytes → Source, refusing oversized files and invalid UTF-8 with located diagnostics."""
    if len(data) > MAX_FILE_BYTES:
        return None, [error("E004", f"file is {len(data):,} bytes, over the limit of {MAX_FILE_BYTES:,}",
                            Span.point(0, 1, 1), "split the product into smaller files or raise --max-bytes")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        prefix = data[: e.start].decode("utf-8", errors="replace")
        src = Source(prefix, name)
        return None, [error("E003", f"byte 0x{data[e.start]:02x} at offset {e.start} is not valid UTF-8",
                            src.end_span(), "save the file as UTF-8")]
    if text.startswith("\ufeff"):
        text = text[1:]
    return Source(text, name), []


def parse(source: Source) -> ParseResult:
    """Parse a source; on a syntax error return no module and one located diagnostic."""
    if len(source.text.encode("utf-8", errors="replace")) > MAX_FILE_BYTES:
        return ParseResult(None, [error("E004", f"file is over the limit of {MAX_FILE_BYTES:,} bytes",
                                        Span.point(0, 1, 1))])
    if "\x00" in source.text:
        off = source.text.index("\x00")
        return ParseResult(None, [error("E008", "invalid character `\\x00` (NUL)", source.span_at(off),
                                        "this looks like a binary file, not a .logic file")])
    bracket_diag = _check_brackets(source)
    if bracket_diag:
        return ParseResult(None, [bracket_diag])
    parser = _grammar_parser()
    with _lock:
        _comments.clear()
        try:
            _text[0] = source.text
            tree = parser.parse(source.text)
            _text[0] = ""
        except _GluedKeyword as e:
            return ParseResult(None, [_glued_keyword_diagnostic(source, e.token)])
        except UnexpectedInput as e:
            if isinstance(getattr(e, "__context__", None), _GluedKeyword):
                return ParseResult(None, [_glued_keyword_diagnostic(source, e.__context__.token)])
            return ParseResult(None, [_syntax_diagnostic(source, e)])
        comments = list(_comments)
    decls = tree.children  # `start` is the one rule left as a lark Tree
    depth_diag = _check_depth(decls)
    if depth_diag:
        return ParseResult(None, [depth_diag])
    module = ast.Module(tuple(decls), tuple(_comment_nodes(source, comments)))
    return ParseResult(module, [])


def _comment_nodes(source: Source, tokens: list[Token]) -> list[ast.Comment]:
    out = []
    for t in tokens:
        before = source.line_text(t.line)[: t.column - 1]
        out.append(ast.Comment(str(t).rstrip(), t.line, own_line=not before.strip()))
    return out


_BRACKET_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[(\[{]|[)\]}]')


def _check_brackets(source: Source) -> Diagnostic | None:
    """Parentheses leave no node in the tree, so their depth is limited here, before parsing."""
    depth = 0
    for m in _BRACKET_TOKENS.finditer(source.text):
        ch = m.group()
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                return error("E005", f"brackets nested more than {MAX_DEPTH} levels deep",
                             source.span_at(m.start()), "split the expression into `let` definitions")
        elif ch in ")]}":
            depth = max(0, depth - 1)
    return None


def _check_depth(decls: list) -> Diagnostic | None:
    """Operator chains (`1 + 1 + …`) nest without brackets; limit their depth before any recursive pass."""
    stack: list[tuple[object, int]] = [(d, 0) for d in decls]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return error("E005", f"expression nested more than {MAX_DEPTH} levels deep",
                         getattr(node, "span", None) or Span.point(0, 1, 1), "split it into `let` definitions")
        stack.extend((c, depth + 1) for c in ast.children(node))
    return None


# ------------------------------------------------------------------ syntax errors
def _glued_keyword_diagnostic(source: Source, tok: Token) -> Diagnostic:
    start = tok.start_pos or 0
    m = re.compile(r"[A-Za-z0-9_]+").match(source.text, start)
    word = m.group() if m else str(tok)
    span = Span(start, start + len(word), tok.line or 1, tok.column or 1, tok.line or 1,
                (tok.column or 1) + len(word))
    return error("E001", f"unexpected `{word}`; expected a keyword such as `{tok}` on its own", span,
                 f"did you mean `{tok}`?" if len(word) - len(str(tok)) <= 2 else None)

_EXPECTED_WORDS: dict[str, str] = {
    "NAME": "a name",
    "NUMBER": "a number",
    "INT": "a whole number",
    "STRING": "a quoted message",
    "COLON": "`:`",
    "COMMA": "`,`",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "EQUAL": "`=`",
    "COMP_OP": "a comparison such as `== 2`",
    "DOT": "`.`",
    "__ANON_0": "`..`",
    "$END": "the end of the file",
    "MINUS": "`-`",
    "PLUS": "`+`",
}
_DECL_KEYWORDS = {"PRODUCT", "OBJECT", "ATTRIBUTE", "REGION", "GRID", "LET", "RULE"}


def _describe_expected(expected: set[str], parser: Lark) -> str:
    """Lark's expected-token set, in a rule author's words (most telling first, at most five)."""
    expected = set(expected)
    words: list[str] = []
    decls = expected & _DECL_KEYWORDS
    if len(decls) >= 5:
        words.append("a declaration (`object`, `attribute`, `region`, `grid`, `let` or `rule`)")
        expected -= _DECL_KEYWORDS | {"$END"}
    if "COMP_OP" in expected:
        words.append("a comparison such as `== 2`")
        expected -= {"COMP_OP", "IN", "PLUS", "MINUS", "STAR", "SLASH", "DOT", "LBRACE", "__ANON_1",
                     "AND", "OR", "__ANON_0", "COMMA", "NAME", "RSQB", "RBRACE", "FOR", "WHERE"}
    if {"NUMBER", "NAME"} <= expected:
        words.append("a value: a number, a name, `count(…)` or `(`")
        expected -= {"NUMBER", "NAME", "COUNT", "EXISTS", "LPAR", "MINUS", "TRUE", "FALSE", "MATCH", "NOT",
                     "ALL", "ANY", "NONE", "SUM", "MIN", "MAX", "MEAN", "ALL_EQUAL"}
    for t in sorted(expected, key=lambda t: (t not in _EXPECTED_WORDS, t)):
        if t in _EXPECTED_WORDS:
            words.append(_EXPECTED_WORDS[t])
            continue
        pattern = next((term.pattern for term in parser.terminals if term.name == t), None)
        if pattern is not None and pattern.type == "str":
            words.append(f"`{pattern.value}`")
    words = list(dict.fromkeys(words))[:5]
    if not words:
        return "something else"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _found(token: Token) -> str:
    if token.type == "$END" or token.value == "":
        return "the end of the file"
    if token.type == "STRING":
        return "a quoted string"
    if token.type == "NUMBER":
        return f"the number `{token.value}`"
    if token.type == "NAME":
        return f"`{token.value}`"
    return f"`{token.value}`"


def _syntax_diagnostic(source: Source, e: UnexpectedInput) -> Diagnostic:
    parser = _grammar_parser()
    if isinstance(e, UnexpectedCharacters):
        span = source.span_at(e.pos_in_stream)
        ch = source.text[e.pos_in_stream] if e.pos_in_stream < len(source.text) else ""
        if ch == '"':
            return error("E002", "this string is never closed", span, "end the message with `\"` on the same line")
        if ch and not (ch.isalnum() or ch in "_(){}[],.:=<>!+-*/#\" \t\r\n"):
            shown = ch if ch.isprintable() else repr(ch)[1:-1]
            return error("E008", f"invalid character `{shown}`", span,
                         "names use letters, digits and `_`; messages go in double quotes")
        expected = _describe_expected(set(e.allowed or ()), parser)
        return error("E001", f"unexpected `{ch}`; expected {expected}", span)
    if isinstance(e, UnexpectedEOF):
        span = source.end_span()
        return error("E001", f"the file ends too early; expected {_describe_expected(set(e.expected), parser)}",
                     span)
    assert isinstance(e, UnexpectedToken)
    tok = e.token
    if tok.type == "$END":
        span = source.end_span()
        return error("E001", f"the file ends too early; expected {_describe_expected(set(e.expected), parser)}",
                     span)
    span = _token_span(tok)
    expected = set(e.expected)
    help_ = None
    if tok.type in _DECL_KEYWORDS and expected & {"NAME", "NUMBER"}:
        help_ = "the declaration before this one is incomplete"
    elif tok.type == "EQUAL" and "COMP_OP" in expected:
        help_ = "use `==` to compare"
    elif tok.type in {"ALL", "ANY", "NONE", "SUM", "MIN", "MAX", "MEAN", "ALL_EQUAL", "COUNT", "EXISTS",
                      "BOX", "IN", "OF", "WHERE", "FOR", "MATCH", "NOT", "AND", "OR"} and "NAME" in expected:
        help_ = f"`{tok.value}` is a keyword and cannot be used as a name"
    return error("E001", f"unexpected {_found(tok)}; expected {_describe_expected(expected, parser)}",
                 span, help_)


# ------------------------------------------------------------------ tree → AST
def _token_span(t: Token) -> Span:
    return Span(t.start_pos or 0, t.end_pos or (t.start_pos or 0) + 1, t.line or 1, t.column or 1,
                t.end_line or t.line or 1, t.end_column or (t.column or 1) + 1)


def _meta_span(meta) -> Span:
    return Span(meta.start_pos, meta.end_pos, meta.line, meta.column, meta.end_line, meta.end_column)


def _string(tok: Token | None) -> str | None:
    if tok is None:
        return None
    body = str(tok)[1:-1]
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _num(tok: Token) -> float:
    return float(tok)


_CLOSERS = frozenset({"RPAR", "RBRACE"})


def _span(first, last) -> Span | None:
    """The span from the start of ``first`` to the end of ``last`` (tokens or AST nodes)."""
    a = first if isinstance(first, Token) else getattr(first, "span", None)
    b = last if isinstance(last, Token) else getattr(last, "span", None)
    if a is None or b is None:
        return None
    if isinstance(a, Token):
        start, line, col = a.start_pos, a.line, a.column
    else:
        start, line, col = a.start, a.line, a.column
    if isinstance(b, Token):
        return Span(start, b.end_pos, line, col, b.end_line, b.end_column)
    return Span(start, b.end, line, col, b.end_line, b.end_column)


def _whole(c: list) -> Span | None:
    items = [x for x in c if x is not None and not isinstance(x, list)]
    return _span(items[0], items[-1]) if items else None


def _values(c: list) -> list:
    """Children without the closing-bracket tokens kept only for their positions."""
    return [x for x in c if not (isinstance(x, Token) and x.type in _CLOSERS)]


class _ToAst(Transformer):
    """Builds AST nodes while lark parses (the transformer is passed to ``Lark``). Keywords and
    closing brackets that begin or end a construct are named terminals, so each node's span runs
    from its first token to its last."""

    # --- declarations
    def product_decl(self, c):
        return ast.ProductDecl(str(c[0]), _string(c[1]), _whole(c), _token_span(c[0]))

    def object_decl(self, c):
        return ast.ObjectDecl(str(c[0]), _string(c[1]), _whole(c), _token_span(c[0]))

    def attribute_decl(self, c):
        name, obj, typ, desc = c
        return ast.AttributeDecl(str(name), str(obj), typ, _string(desc), _whole(c),
                                 _token_span(name), _token_span(obj))

    def enum_type(self, c):
        toks = [t for t in _values(c) if t is not None]
        return ast.EnumType(tuple(str(t) for t in toks), _whole(c), tuple(_token_span(t) for t in toks))

    def number_type(self, c):
        lo, hi = c
        return ast.NumberType(None if lo is None else float(lo), None if hi is None else float(hi),
                              None if lo is None else _span(lo.first, hi.last))

    def bool_type(self, c):
        return ast.BoolType(None)

    def signed_number(self, c):
        sign, num = c
        return _SignedNumber(-_num(num) if sign is not None else _num(num), sign or num, num)

    def box_lit(self, c):
        nums = _values(c)
        return ast.BoxLit(*(float(n) for n in nums), span=_span(nums[0].first, c[-1]))

    def region_decl(self, c):
        name, box, of = c
        return ast.RegionDecl(str(name), box, None if of is None else str(of), _whole(c),
                              _token_span(name), None if of is None else _token_span(of))

    def grid_decl(self, c):
        name, rows, cols, where = c
        dims = Span(rows.start_pos, cols.end_pos, rows.line, rows.column, cols.end_line, cols.end_column)
        if isinstance(where, ast.BoxLit):
            return ast.GridDecl(str(name), int(rows), int(cols), where, None, _whole(c), _token_span(name),
                                None, dims)
        return ast.GridDecl(str(name), int(rows), int(cols), None, str(where), _whole(c), _token_span(name),
                            _token_span(where), dims)

    def let_decl(self, c):
        return ast.LetDecl(str(c[0]), c[1], _whole(c), _token_span(c[0]))

    def category(self, c):
        return str(c[0])

    def requires(self, c):
        return list(c)

    def rule_decl(self, c):
        name, category, message, requires, expr = c
        reqs = requires or []
        span = _span(name, expr)
        return ast.RuleDecl(str(name), expr, category, _string(message), tuple(str(t) for t in reqs),
                            span, _token_span(name), tuple(_token_span(t) for t in reqs))

    # --- expressions
    def number(self, c):
        v = c[0]
        if isinstance(v, _SignedNumber):
            return ast.Number(float(v), _span(v.first, v.last))
        return ast.Number(_num(v), _token_span(v))

    def true(self, c):
        return ast.Bool(True, _token_span(c[0]))

    def false(self, c):
        return ast.Bool(False, _token_span(c[0]))

    def name(self, c):
        return ast.Name(str(c[0]), _token_span(c[0]))

    def paren(self, c):
        """`( expr )`: the inner node, its span widened to the brackets (for evidence text)."""
        inner, close = c[0], c[-1]
        sp = getattr(inner, "span", None)
        if sp is None:
            return inner
        text = _text[0]
        i = text.rfind("(", 0, sp.start)
        if i < 0 or text[i + 1:sp.start].strip() or "\n" in text[i:sp.start]:
            return inner
        wide = Span(i, close.end_pos, sp.line, sp.column - (sp.start - i), close.end_line, close.end_column)
        return replace(inner, span=wide)

    def attr(self, c):
        return ast.Attr(c[0], str(c[1]), _span(c[0], c[1]), _token_span(c[1]))

    def call(self, c):
        func, *args = _values(c)
        args = [a for a in args if a is not None]
        pos = tuple(a for a in args if not isinstance(a, ast.Kwarg))
        kw = tuple(a for a in args if isinstance(a, ast.Kwarg))
        return ast.Call(str(func), pos, kw, _span(func, c[-1]), _token_span(func))

    def kwarg(self, c):
        return ast.Kwarg(str(c[0]), c[1], _span(c[0], c[1]))

    def selection(self, c):
        *names, where = c
        return ast.Selection(tuple(str(n) for n in names), where, _span(names[0], where or names[-1]),
                             tuple(_token_span(n) for n in names))

    def count(self, c):
        return ast.Count(c[1], _span(c[0], c[-1]))

    def exists(self, c):
        return ast.Exists(c[1], _span(c[0], c[-1]))

    def aggregate(self, c):
        func, expr, var, sel, close = c
        return ast.Aggregate(str(func), expr, str(var), sel, _span(func, close), _token_span(var))

    def quantified(self, c):
        q, var, domain, within, body = c
        return ast.Quantified(str(q), str(var), str(domain), None if within is None else str(within), body,
                              _span(q, body), _token_span(var), _token_span(domain),
                              None if within is None else _token_span(within))

    def implies(self, c):
        return ast.Logic("->", c[0], c[1], _span(c[0], c[1]))

    def or_(self, c):
        return ast.Logic("or", c[0], c[1], _span(c[0], c[1]))

    def and_(self, c):
        return ast.Logic("and", c[0], c[1], _span(c[0], c[1]))

    def not_(self, c):
        return ast.Not(c[1], _span(c[0], c[1]))

    def neg(self, c):
        return ast.Neg(c[1], _span(c[0], c[1]))

    def compare(self, c):
        return ast.Compare(str(c[1]), c[0], c[2], _span(c[0], c[2]))

    def arith(self, c):
        return ast.Arith(str(c[1]), c[0], c[2], _span(c[0], c[2]))

    def in_range(self, c):
        return ast.InRange(c[0], c[1], c[2], _span(c[0], c[2]))

    def in_set(self, c):
        value, *items = _values(c)
        return ast.InSet(value, tuple(i for i in items if i is not None), _span(value, c[-1]))

    def match(self, c):
        kw, subject, *arms = _values(c)
        return ast.Match(subject, tuple(arms), _span(kw, c[-1]))

    def arm(self, c):
        return ast.Arm(c[0], c[1], _span(c[0], c[1]))


class _SignedNumber(float):
    """A number literal's value with its first and last token (a sign may precede it)."""

    def __new__(cls, value: float, first: Token, last: Token):
        obj = super().__new__(cls, value)
        obj.first, obj.last = first, last
        return obj
