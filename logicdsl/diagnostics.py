"""Diagnostics: a stable code, a severity, one sentence, a span and an optional help line.

Codes are part of the API (documented one per section in docs/errors.md):
  E0xx syntax and limits, E1xx names, E2xx attributes and values, E3xx types,
  E4xx requires, E5xx regions and grids, W6xx warnings.
Message style (after Cedar): one sentence, lowercase start, user input in backticks.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Iterable

from .record import record
from .source import Source, Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


#: every code with its one-line title (docs/errors.md has a section for each)
CODES: dict[str, str] = {
    "E001": "syntax error",
    "E002": "unterminated string",
    "E003": "file is not valid UTF-8",
    "E004": "file too large",
    "E005": "expression nested too deeply",
    "E006": "missing product declaration",
    "E007": "more than one product declaration",
    "E008": "invalid character",
    "E101": "unknown name",
    "E102": "duplicate name",
    "E103": "unknown function",
    "E104": "wrong number of arguments",
    "E105": "name used as the wrong kind of thing",
    "E106": "variable shadows a name",
    "E201": "unknown attribute",
    "E202": "value not in the attribute's set",
    "E203": "attribute access needs an object",
    "E204": "duplicate value in a set",
    "E301": "type mismatch",
    "E302": "condition is not a yes/no value",
    "E303": "let refers to itself",
    "E401": "unknown rule in requires",
    "E402": "requires cycle",
    "E501": "region box out of bounds",
    "E502": "empty region box",
    "E503": "empty grid",
    "E504": "grid too large",
    "E505": "invalid tolerance",
    "W601": "match does not cover every value",
    "W602": "rule can never pass",
    "W603": "rule always passes",
    "W604": "unused object",
    "W605": "unused let",
}


@record
class Diagnostic:
    code: str
    message: str
    span: Span | None
    severity: Severity = Severity.ERROR
    help: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self, source: Source | None = None) -> dict:
        d: dict = {"code": self.code, "severity": self.severity.value, "message": self.message}
        if source is not None:
            d["file"] = source.name
        if self.span is not None:
            s = self.span
            d["span"] = {"line": s.line, "column": s.column, "end_line": s.end_line,
                         "end_column": s.end_column, "start": s.start, "end": s.end}
        if self.help:
            d["help"] = self.help
        return d


def error(code: str, message: str, span: Span | None, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.ERROR, help)


def warning(code: str, message: str, span: Span | None, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, span, Severity.WARNING, help)


class DiagnosticError(Exception):
    """Raised by the library API (``logicdsl.load``) when a rule file has errors."""

    def __init__(self, source: Source, diagnostics: list[Diagnostic]):
        self.source = source
        self.diagnostics = diagnostics
        first = next((d for d in diagnostics if d.is_error), diagnostics[0])
        loc = f"{source.name}:{first.span.line}:{first.span.column}" if first.span else source.name
        more = f" (and {len(diagnostics) - 1} more)" if len(diagnostics) > 1 else ""
        super().__init__(f"{loc}: {first.code} {first.message}{more}")


def render_text(source: Source, diagnostics: Iterable[Diagnostic], color: bool = False) -> str:
    """Compiler-style text: `file:line:col: error[E101]: message`, the line, a caret underline, help."""
    out: list[str] = []
    for d in diagnostics:
        sev = d.severity.value
        if d.span is None:
            out.append(f"{source.name}: {sev}[{d.code}]: {d.message}")
        else:
            s = d.span
            out.append(f"{source.name}:{s.line}:{s.column}: {sev}[{d.code}]: {d.message}")
            text = source.line_text(s.line).replace("\t", " ")
            gutter = str(s.line)
            pad = " " * len(gutter)
            width = (s.end_column - s.column) if s.end_line == s.line else max(1, len(text) - s.column + 1)
            width = max(1, min(width, max(1, len(text) - s.column + 1)))
            out.append(f"{pad} |")
            out.append(f"{gutter} | {text}")
            out.append(f"{pad} | {' ' * (s.column - 1)}{'^' * width}")
        if d.help:
            out.append(f"  = help: {d.help}")
        out.append("")
    return "\n".join(out)


def render_json(source: Source, diagnostics: Iterable[Diagnostic]) -> str:
    diags = list(diagnostics)
    return json.dumps({
        "file": source.name,
        "errors": sum(d.is_error for d in diags),
        "warnings": sum(not d.is_error for d in diags),
        "diagnostics": [d.to_dict(source) for d in diags],
    }, indent=2)


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{match[0]}`?" if match else None
