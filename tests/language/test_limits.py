"""Limits are diagnostics, never hangs, RecursionError or tracebacks."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from logicdsl.diagnostics import DiagnosticError
from logicdsl.fmt import format_source
from logicdsl.frontend import check_file, check_source

from .test_properties import run_cli

HEAD = 'product p "limits"\nobject pin\n'


def codes(result) -> list[str]:
    return [d.code for d in result.diagnostics]


def assert_limit(text: str | bytes, code: str, seconds: float = 10.0) -> None:
    t0 = time.perf_counter()
    result = check_source(text, "limit.logic")
    assert time.perf_counter() - t0 < seconds
    assert code in codes(result), result.diagnostics
    assert all(d.span is not None for d in result.diagnostics)
    with pytest.raises(DiagnosticError) if code.startswith("E0") else _nothing():
        format_source(text, "limit.logic")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_file_over_one_megabyte_is_e004(tmp_path: Path) -> None:
    big = (HEAD + "# " + "x" * 1_000_000 + "\nrule r: count(pin) == 1\n").encode()
    assert_limit(big, "E004")
    path = tmp_path / "big.logic"
    path.write_bytes(big)
    assert codes(check_file(path)) == ["E004"]
    rc, out, err = run_cli(["compile", str(path)])
    assert rc == 2 and f"{path}:1:1: error[E004]" in err
    rc, out, err = run_cli(["fmt", "--check", str(path)])
    assert rc == 2 and "E004" in err


def test_five_thousand_nested_parentheses_is_e005() -> None:
    assert_limit(HEAD + "rule r: " + "(" * 5000 + "count(pin) == 1" + ")" * 5000 + "\n", "E005")


def test_fifty_thousand_term_sum_is_e005() -> None:
    assert_limit(HEAD + "rule r: " + " + ".join(["1"] * 50_000) + " > 0\n", "E005")


@pytest.mark.parametrize("prefix", ["not ", "-", "all c in pin: "])
def test_deep_prefix_chains_are_e005(prefix: str) -> None:
    body = "exists(pin)" if prefix != "-" else "count(pin) > 0"
    if prefix == "-":
        text = HEAD + "rule r: " + "-" * 5000 + "count(pin) > 0\n"
    else:
        text = HEAD + "rule r: " + prefix * 5000 + body + "\n"
    assert_limit(text, "E005")


def test_deep_attribute_chain_and_nested_match_are_e005() -> None:
    assert_limit(HEAD + "rule r: pin" + ".area" * 5000 + " > 0\n", "E005")
    nested = "match pin.c { a => " * 300 + "true" + " }" * 300
    assert_limit(HEAD + "rule r: " + nested + "\n", "E005")


def test_nesting_within_the_limit_is_fine() -> None:
    result = check_source(HEAD + "rule r: " + "(" * 50 + "count(pin) == 1" + ")" * 50 + "\n")
    assert result.ok, result.diagnostics


def test_grid_of_more_than_ten_thousand_cells_is_e504() -> None:
    assert_limit(HEAD + "grid cell = 101 x 101 in box(0, 0, 1, 1)\nrule r: all c in cell: count(pin in c) <= 1\n",
                 "E504")
    ok = check_source(HEAD + "grid cell = 100 x 100 in box(0, 0, 1, 1)\nrule r: all c in cell: count(pin in c) <= 1\n")
    assert ok.ok, ok.diagnostics


def test_huge_grid_numbers_do_not_overflow() -> None:
    assert_limit(HEAD + "grid cell = 99999999999999999999 x 99999999999999999999 in box(0, 0, 1, 1)\n"
                 "rule r: all c in cell: count(pin in c) <= 1\n", "E504")


def test_many_declarations_and_long_lines_are_fast() -> None:
    rules = "".join(f"rule r{i}: count(pin) == {i % 7}\n" for i in range(5000))
    t0 = time.perf_counter()
    result = check_source(HEAD + rules)
    assert result.ok and time.perf_counter() - t0 < 10
