"""Data-driven diagnostic cases: tests/cases/diagnostics/*.logic.

Each case is a rule file whose leading comment lines say what the front end must report:

    # what the case shows (free text)
    # expect: E101@5 W604@3        every diagnostic, as CODE@LINE (or CODE@LINE:COLUMN), in any order
    # expect: clean                or: no diagnostics at all
    # expect-help: did you mean    optional: some diagnostic's help line contains this text
    # expect-message: unknown object   optional: some diagnostic's message contains this text
    # pad-to: 1000001              optional: the runner appends a comment until the file has this many bytes

Lines count from the top of the file, header included. The list must match exactly: a case fails on a
missing diagnostic and on an unexpected one. Files are read as bytes, so a case may hold invalid UTF-8.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from logicdsl.diagnostics import CODES, Severity, render_json, render_text
from logicdsl.frontend import check_source

CASES = Path(__file__).resolve().parents[1] / "cases" / "diagnostics"
_LARK_NAMES = re.compile(r"\b(NAME|NUMBER|INT|STRING|COMP_OP|LPAR|RPAR|LBRACE|RBRACE|LSQB|RSQB|COLON|COMMA|"
                         r"EQUAL|DOT|MINUS|PLUS|STAR|SLASH|RULE|LET|OBJECT|REQUIRES|COUNT|FOR|IN)\b")
_EXPECT = re.compile(r"^([EW]\d{3})@(\d+)(?::(\d+))?$")


@dataclass
class Case:
    path: Path
    data: bytes
    expect: list[tuple[str, int, int | None]] = field(default_factory=list)
    clean: bool = False
    helps: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem


def load_case(path: Path) -> Case:
    data = path.read_bytes()
    case = Case(path, data)
    found = False
    for raw in data.split(b"\n"):
        if not raw.startswith(b"#"):
            break
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        key, _, value = line[1:].strip().partition(":")
        value = value.strip()
        if key == "expect":
            found = True
            if value == "clean":
                case.clean = True
                continue
            for tok in value.split():
                m = _EXPECT.match(tok)
                if not m:
                    raise ValueError(f"{path.name}: bad expectation {tok!r}")
                case.expect.append((m[1], int(m[2]), int(m[3]) if m[3] else None))
        elif key == "expect-help":
            case.helps.append(value)
        elif key == "expect-message":
            case.messages.append(value)
        elif key == "pad-to":
            size = int(value)
            pad = size - len(case.data) - 1
            case.data = case.data + b"#" + b"x" * max(0, pad - 1) + b"\n"
    if not found:
        raise ValueError(f"{path.name}: no `# expect:` line")
    if case.clean and case.expect:
        raise ValueError(f"{path.name}: `clean` and codes at once")
    return case


def all_cases() -> list[Case]:
    return [load_case(p) for p in sorted(CASES.glob("*.logic"))]


def diagnose(case: Case):
    return check_source(case.data, case.path.name)


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_case(case: Case) -> None:
    result = diagnose(case)
    got = [(d.code, d.span.line if d.span else 0, d.span.column if d.span else 0) for d in result.diagnostics]
    if case.clean:
        assert got == [], render_text(result.source, result.diagnostics)
        return
    want_lines = Counter((code, line) for code, line, _ in case.expect)
    got_lines = Counter((code, line) for code, line, _ in got)
    assert got_lines == want_lines, "\n" + render_text(result.source, result.diagnostics)
    for code, line, column in case.expect:
        if column is not None:
            assert (code, line, column) in got, f"{code} at {line}:{column}; got {got}"
    for text in case.helps:
        assert any(d.help and text in d.help for d in result.diagnostics), f"no help line with {text!r}"
    for text in case.messages:
        assert any(text in d.message for d in result.diagnostics), f"no message with {text!r}"


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_case_diagnostics_are_well_formed(case: Case) -> None:
    """Every diagnostic is located, in the documented style, and renders as text and as JSON."""
    result = diagnose(case)
    for d in result.diagnostics:
        assert d.code in CODES
        assert d.severity is (Severity.WARNING if d.code.startswith("W") else Severity.ERROR)
        assert d.span is not None and d.span.line >= 1 and d.span.column >= 1, d
        msg = d.message
        assert msg and "\n" not in msg and not msg.endswith("."), msg
        assert msg[0].islower() or msg[0] in "`", f"message must start lowercase: {msg!r}"
        assert "Token(" not in msg and "__ANON" not in msg and "$END" not in msg, msg
        assert not _LARK_NAMES.search(msg), f"lark token name in {msg!r}"
    text = render_text(result.source, result.diagnostics)
    for d in result.diagnostics:
        assert f"{case.path.name}:{d.span.line}:{d.span.column}: " in text
    render_json(result.source, result.diagnostics)


def test_every_code_is_covered() -> None:
    covered = {code for case in all_cases() for code, _, _ in case.expect}
    missing = sorted(set(CODES) - covered)
    assert not missing, f"codes with no case in tests/cases/diagnostics: {missing}"


def test_enough_cases() -> None:
    assert len(all_cases()) >= 60


def test_every_code_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    for code, title in CODES.items():
        assert re.search(rf"^## {code} — ", doc, re.M), f"docs/errors.md has no section for {code}"


def test_errors_md_examples_hold() -> None:
    """Each section's bad example gives its code; each fixed example has no diagnostics at all."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text(encoding="utf-8")
    sections = re.split(r"^## ([EW]\d{3}) — .*$", doc, flags=re.M)[1:]
    checked = 0
    for code, body in zip(sections[::2], sections[1::2]):
        blocks = dict(re.findall(r"^(Bad|Fixed):\n\n```\n(.*?)\n```", body, flags=re.M | re.S))
        if "Bad" in blocks:
            assert code in [d.code for d in check_source(blocks["Bad"] + "\n").diagnostics], code
        if "Fixed" in blocks:
            fixed = check_source(blocks["Fixed"] + "\n")
            assert fixed.diagnostics == [], (code, fixed.diagnostics)
            checked += 1
    assert checked >= len(CODES) - 2
