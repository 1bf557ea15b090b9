"""The vision backend's accuracy on a fresh synthetic set per product (issue #5's "must show", in CI
size: 40 images instead of 200). The seed is one no profile was tuned on; JPEG is the harder format
(chroma subsampling blurs thin coloured strokes), so a pass here is not a pass by luck of format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logicdsl.cli import main

pytest.importorskip("logicdsl.synth")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PRODUCTS = ("juice_bottle", "breakfast_box", "pushpins", "screw_bag", "splicing_connectors")


@pytest.mark.parametrize("product", PRODUCTS)
def test_vision_lac_on_a_fresh_synthetic_set(product, tmp_path, capsys):
    ds = tmp_path / product
    assert main(["synth", product, "--out", str(ds), "-n", "40", "--seed", "9091", "--format", "jpg",
                 "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", str(ds), str(EXAMPLES / product / f"{product}.logic"), "--backend", "vision",
                 "--jobs", "2", "--json", "--no-progress"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 40 and m["errors"] == 0
    assert m["undecided_rate"] <= 0.02
    assert m["lac_accuracy"] >= 0.95, m["confusion"]  # 200-image held-out runs: >= 0.995 per product
