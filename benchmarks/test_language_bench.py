"""Front-end benchmarks: parse + check of a generated 1,000-rule file (target: well under 1 s), parse alone, fmt.

Run: pytest benchmarks/test_language_bench.py --benchmark-only
"""

from __future__ import annotations

import pytest

from logicdsl import parser
from logicdsl.checker import check
from logicdsl.fmt import format_module
from logicdsl.frontend import check_source
from logicdsl.source import Source

_BODIES = [
    "count(pin in c{i}) == 1",
    "exists(cable) and cable.color in {{yellow, blue}}",
    "all k in connector: k.clamps >= 2 -> k.length / span in 0.8 .. 1.2",
    "centred(pin, tray, tolerance: 0.1) and above(tray, cable)",
    "count(p in pin where p.area > 0.001 * {i}) <= {i} + 2",
    "match cable.color {{\n        yellow => all k in connector: k.clamps == 2\n        blue => all k in connector: "
    "k.clamps == 3\n        red => all k in connector: k.clamps == 5\n    }}",
    "sum(p.area for p in pin in left) / (mean(k.length for k in connector) + 1) < 0.5",
    "not exists(pin in right) or all_equal(k.cable_slot for k in connector)",
]


def generate(n_rules: int = 1000) -> str:
    lines = ['product bench "a generated product"', "",
             'object tray "the tray"', 'object pin "a pin"', 'object cable "the cable"', 'object connector "a connector"',
             "", "attribute color of cable: {yellow, blue, red}", "attribute clamps of connector: number 1 .. 6",
             "attribute cable_slot of connector: number 1 .. 5", "",
             "region left = box(0, 0, 0.5, 1)", "region right = box(0.5, 0, 1, 1)"]
    lines += [f"region c{i} = box(0, 0, 0.{41 + i}, 1)" for i in range(9)] + ["region c9 = box(0, 0, 0.5, 1)"]
    lines += ["", "let span = max(k.center_x for k in connector) - min(k.center_x for k in connector)", ""]
    for i in range(n_rules):
        body = _BODIES[i % len(_BODIES)].format(i=i % 10)
        requires = f"\n    requires r{i - 1}, r{i // 2}:" if i % 3 == 0 and i > 1 else ":"
        lines.append(f'rule r{i} [quantity] "rule number {i}"{requires}\n    {body}')
    return "\n".join(lines) + "\n"


TEXT = generate()


def test_generated_file_is_clean_and_canonical() -> None:
    result = check_source(TEXT, "bench.logic")
    assert result.ok, result.diagnostics[:3]
    assert len(result.program.rules) == 1000
    assert format_module(parser.parse(Source(TEXT)).module) == TEXT, "the generated file is in the canonical layout"


@pytest.mark.benchmark(group="language")
def test_parse_and_check_1000_rules(benchmark) -> None:
    result = benchmark(check_source, TEXT, "bench.logic")
    assert result.ok


@pytest.mark.benchmark(group="language")
def test_parse_1000_rules(benchmark) -> None:
    result = benchmark(parser.parse, Source(TEXT, "bench.logic"))
    assert result.module is not None


@pytest.mark.benchmark(group="language")
def test_check_1000_rules(benchmark) -> None:
    source = Source(TEXT, "bench.logic")
    module = parser.parse(source).module
    program = benchmark(check, module, source)
    assert program.ok


@pytest.mark.benchmark(group="language")
def test_fmt_1000_rules(benchmark) -> None:
    module = parser.parse(Source(TEXT, "bench.logic")).module
    out = benchmark(format_module, module)
    assert out == TEXT
