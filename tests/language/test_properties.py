"""Property tests: the formatter round-trips every tree; mutated example files never crash the CLI."""

from __future__ import annotations

import contextlib
import io
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from logicdsl import ast, parser
from logicdsl.cli import main
from logicdsl.fmt import format_module
from logicdsl.frontend import check_source
from logicdsl.source import Source

from .ast_strategies import exprs, modules

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*/*.logic"))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reparse(text: str) -> ast.Module:
    result = parser.parse(Source(text, "<fmt>"))
    assert result.module is not None, (text, result.diagnostics)
    return result.module


@SETTINGS
@given(modules)
def test_format_then_parse_gives_the_same_tree(module: ast.Module) -> None:
    text = format_module(module)
    again = reparse(text)
    assert again == module, text
    assert format_module(again) == text  # idempotent


@SETTINGS
@given(exprs)
@example(ast.Logic("or", ast.Quantified("all", "c", "cell", None, ast.Name("a")), ast.Name("b")))
@example(ast.Compare("==", ast.Count(ast.Selection(("p",))), ast.Neg(ast.Number(1.0))))
def test_every_expression_form_round_trips(expr) -> None:
    module = ast.Module((ast.RuleDecl("r", expr),))
    assert reparse(format_module(module)) == module


# ------------------------------------------------------------------ mutation fuzzing
_TOKENS = re.compile(rb'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z0-9_.]+|\S')


def mutate(data: bytes, kind: str, rnd: random.Random) -> bytes:
    toks = [(m.start(), m.end()) for m in _TOKENS.finditer(data)]
    i = rnd.randrange(len(toks))
    s, e = toks[i]
    if kind == "drop":
        return data[:s] + data[e:]
    if kind == "double":
        return data[:e] + b" " + data[s:e] + data[e:]
    if kind == "swap":
        j = min(i + 1, len(toks) - 1)
        s2, e2 = toks[j]
        return data[:s] + data[s2:e2] + data[e:s2] + data[s:e] + data[e2:] if j != i else data[:s]
    if kind == "truncate":
        return data[: rnd.randrange(len(data))]
    if kind == "random_bytes":
        pos = rnd.randrange(len(data))
        return data[:pos] + bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8))) + data[pos:]
    if kind == "invalid_utf8":
        pos = rnd.randrange(len(data))
        return data[:pos] + rnd.choice([b"\xff", b"\xc3\x28", b"\xe2\x82", b"\x80"]) + data[pos:]
    if kind == "empty":
        return b""
    raise ValueError(kind)


KINDS = ["drop", "double", "swap", "truncate", "random_bytes", "invalid_utf8", "empty"]
_LOCATED = re.compile(r"^\S+\.logic:\d+:\d+: error\[E\d{3}\]", re.M)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse
            rc = int(e.code or 0)
    return rc, out.getvalue(), err.getvalue()


def _check_mutant(data: bytes, tmp: Path, fmt: str = "text") -> int:
    path = tmp / "mutant.logic"
    path.write_bytes(data)
    rc, out, err = run_cli(["compile", str(path), "--format", fmt])
    assert "Traceback" not in out + err
    has_errors = not check_source(data, str(path)).ok
    assert rc == (2 if has_errors else 0), (rc, out, err)
    if has_errors:
        if fmt == "text":
            assert _LOCATED.search(err), err
        else:
            import json

            doc = json.loads(out)
            assert doc["errors"] >= 1 and all("span" in d for d in doc["diagnostics"]), doc
    # the formatter takes the same input without a traceback either
    rc_fmt, out_f, err_f = run_cli(["fmt", "--check", str(path)])
    assert "Traceback" not in out_f + err_f and rc_fmt in (0, 1, 2)
    return rc


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXAMPLES), st.sampled_from(KINDS), st.integers(0, 2**32 - 1), st.sampled_from(["text", "json"]))
def test_mutated_examples_give_located_diagnostics(example_path: Path, kind: str, seed: int, fmt: str) -> None:
    data = mutate(example_path.read_bytes(), kind, random.Random(seed))
    with tempfile.TemporaryDirectory() as d:
        rc = _check_mutant(data, Path(d), fmt)
    if kind in ("empty", "invalid_utf8"):
        assert rc == 2


def test_most_mutants_are_errors(tmp_path: Path) -> None:
    rnd = random.Random(7)
    rcs = []
    for i in range(60):
        src = EXAMPLES[i % len(EXAMPLES)].read_bytes()
        rcs.append(_check_mutant(mutate(src, KINDS[i % len(KINDS)], rnd), tmp_path))
    assert rcs.count(2) >= 40


@pytest.mark.parametrize("kind", ["drop", "truncate", "random_bytes", "invalid_utf8", "empty"])
def test_mutants_through_a_real_subprocess(tmp_path: Path, kind: str) -> None:
    rnd = random.Random(kind)
    data = mutate(EXAMPLES[1].read_bytes(), kind, rnd)
    if check_source(data).ok:  # a harmless mutation: make it harmful
        data += b"\nrule broken: count(nothing) =="
    path = tmp_path / "mutant.logic"
    path.write_bytes(data)
    proc = subprocess.run([sys.executable, "-m", "logicdsl", "compile", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert _LOCATED.search(proc.stderr), proc.stderr
