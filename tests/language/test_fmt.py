"""The formatter: examples are already canonical, layout and comment policy, and the `fmt` command."""

from __future__ import annotations

from pathlib import Path

import pytest

from logicdsl import ast
from logicdsl.diagnostics import DiagnosticError
from logicdsl.fmt import format_module, format_number, format_source

from .test_properties import EXAMPLES, reparse, run_cli


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_formatted_byte_for_byte(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_source(text, str(path)) == text


MESSY = '''# header


product   p "x"   # on the product
object a "A"
object b # tb

# about c
object c
rule r1 [q] "m"   # on the header
  requires
  # inside requires
  r2:   # after the colon
    count(a) ==   # mid
    1 and
    # before b
    exists(b)
rule r2:
  match a.k { x => true   # arm x
  y => (all q in a: q.v) and false, -1 => true }
let z = (all c in a: c.area > 0) or not all d in a: d.area < 1


# end 1

# end 2
'''

MESSY_FORMATTED = '''# header

product p "x"  # on the product

object a "A"
object b  # tb

# about c
object c

rule r1 [q] "m"  # on the header
    # inside requires
    requires r2:  # after the colon
    # before b
    count(a) == 1 and exists(b)  # mid
rule r2:
    match a.k {
        x => true  # arm x
        y => (all q in a: q.v) and false,
        -1 => true
    }

let z = (all c in a: c.area > 0) or not all d in a: d.area < 1

# end 1

# end 2
'''


def test_layout_and_comment_policy() -> None:
    out = format_source(MESSY)
    assert out == MESSY_FORMATTED
    assert format_source(out) == out
    assert reparse(out) == reparse(MESSY)
    # every comment is kept (a trailing comment may move ahead of an own-line one that was inside the line)
    assert sorted(c.text for c in reparse(out).comments) == sorted(c.text for c in reparse(MESSY).comments)


def test_blank_lines_between_same_kind_are_kept_once() -> None:
    src = 'product p\n\nobject a\n\n\n\nobject b\nobject c\n'
    assert format_source(src) == 'product p\n\nobject a\n\nobject b\nobject c\n'


@pytest.mark.parametrize("src, want", [
    ("rule r: (all c in g: a) and b", "(all c in g: a) and b"),
    ("rule r: b and (all c in g: a)", "b and all c in g: a"),
    ("rule r: (not all c in g: a) -> b", "(not all c in g: a) -> b"),
    ("rule r: a -> (b -> c)", "a -> b -> c"),
    ("rule r: (a -> b) -> c", "(a -> b) -> c"),
    ("rule r: a - (b - c) == (a - b) - c", "a - (b - c) == a - b - c"),
    ("rule r: (a + b) * -(c)", "(a + b) * -c"),
    ("rule r: (count(p)) in (1) .. (2 + 3)", "count(p) in 1 .. 2 + 3"),
    ("rule r: not (a and b)", "not (a and b)"),
    ("rule r: (a or b) and c", "(a or b) and c"),
    ("rule r: x in {a,-1.50,true}", "x in {a, -1.5, true}"),
    ("rule r: centred(a,b,tolerance:0.10)", "centred(a, b, tolerance: 0.1)"),
    ("rule r: sum((all c in g: a) for q in p in left where q.area>0.0)", "sum((all c in g: a) for q in p in left where q.area > 0)"),
    ("rule r: (a.b).c == 007", "a.b.c == 7"),
])
def test_parentheses_only_where_needed(src: str, want: str) -> None:
    out = format_source(src)
    assert out == src.split(":", 1)[0] + ":\n    " + want + "\n"
    assert reparse(out) == reparse(src)


def test_numbers_and_strings() -> None:
    assert [format_number(v) for v in (0.0, 1.0, 0.85, 1e-07, 1e20, -2.5)] == \
        ["0", "1", "0.85", "0.0000001", "100000000000000000000", "-2.5"]
    m = ast.Module((ast.ObjectDecl("a", 'say "hi"\\ \n\tnow'),))
    assert format_module(m) == 'object a "say \\"hi\\"\\\\ \\n\\tnow"\n'
    assert reparse(format_module(m)) == m


def test_format_source_reports_syntax_errors() -> None:
    with pytest.raises(DiagnosticError) as e:
        format_source("product p\nrule r: count(p) = 1\n", "bad.logic")
    assert e.value.diagnostics[0].code == "E001"
    with pytest.raises(DiagnosticError) as e:
        format_source(b"product p \xff", "bad.logic")
    assert e.value.diagnostics[0].code == "E003"


def test_empty_and_comment_only_files() -> None:
    assert format_source("") == ""
    assert format_source("\n\n# only a comment   \n\n") == "# only a comment\n"


# ------------------------------------------------------------------ the command
def test_fmt_check_and_rewrite(tmp_path: Path) -> None:
    good = tmp_path / "good.logic"
    good.write_text(EXAMPLES[0].read_text())
    messy = tmp_path / "messy.logic"
    messy.write_text(MESSY)
    rc, out, err = run_cli(["fmt", "--check", str(good)])
    assert rc == 0 and "already formatted" in err
    rc, out, err = run_cli(["fmt", "--check", str(good), str(messy)])
    assert rc == 1 and f"would reformat {messy}" in err and str(good) not in err.replace("1 file", "")
    assert messy.read_text() == MESSY  # --check writes nothing
    rc, out, err = run_cli(["fmt", "--diff", str(messy)])
    assert rc == 0 and out.startswith("---") and messy.read_text() == MESSY
    rc, out, err = run_cli(["fmt", "--stdout", str(messy)])
    assert rc == 0 and out == MESSY_FORMATTED and messy.read_text() == MESSY
    rc, out, err = run_cli(["fmt", str(messy), str(good)])
    assert rc == 0 and messy.read_text() == MESSY_FORMATTED and f"reformatted {messy}" in err
    assert str(good) not in err
    rc, out, err = run_cli(["fmt", "--check", str(messy)])
    assert rc == 0


def test_fmt_errors_exit_2_with_located_diagnostics(tmp_path: Path) -> None:
    bad = tmp_path / "bad.logic"
    bad.write_text("product p\nobject pin\nrule r: count(pin) = 1\n")
    messy = tmp_path / "messy.logic"
    messy.write_text(MESSY)
    rc, out, err = run_cli(["fmt", str(bad), str(messy)])
    assert rc == 2 and f"{bad}:3:20: error[E001]" in err
    assert messy.read_text() == MESSY_FORMATTED  # the other files are still formatted
    rc, out, err = run_cli(["fmt", "--check", str(tmp_path / "missing.logic")])
    assert rc == 2 and "no such rule file" in err and "Traceback" not in err
    rc, out, err = run_cli(["fmt", str(tmp_path)])
    assert rc == 2 and "directory" in err


def test_fmt_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    class _Stdin:
        buffer = io.BytesIO(b"product   p\nobject a   # c\n")

    monkeypatch.setattr(sys, "stdin", _Stdin)
    rc, out, err = run_cli(["fmt", "-"])
    assert rc == 0 and out == "product p\n\nobject a  # c\n"
