"""The dataset format and the MVTec LOCO loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from logicdsl.datasets import (DatasetError, LabelRow, find_loco_map, load_dataset, load_loco_map, order_violations,
                               read_labels, write_labels)

ROOT = Path(__file__).resolve().parents[2]
LOCO_SAMPLE = ROOT.parent / "shared" / "data" / "mvtec_loco_sample" / "juice_bottle"
JUICE_RULES = ROOT / "examples" / "juice_bottle" / "juice_bottle.logic"


def test_labels_round_trip(tmp_path):
    rows = [LabelRow(image="a.png", scene="a.json", label="normal"),
            {"image": "b.png", "scene": None, "label": "r1", "violations": ["r1", "r2"], "defect_types": ["d"]}]
    write_labels(tmp_path / "labels.jsonl", rows)
    back = read_labels(tmp_path / "labels.jsonl")
    assert back[0] == rows[0]
    assert back[1] == LabelRow.model_validate(rows[1])


@pytest.mark.parametrize("line,needle", [("{not json", "not valid JSON"), ('{"image": "a.png"}', "`label`"),
                                          ('{"image": "", "label": "normal"}', "`image`")])
def test_bad_labels_are_one_line_errors(tmp_path, line, needle):
    (tmp_path / "labels.jsonl").write_text('{"image": "x.png", "label": "normal"}\n' + line + "\n")
    with pytest.raises(DatasetError) as e:
        read_labels(tmp_path / "labels.jsonl")
    assert ":2:" in str(e.value) and needle in str(e.value) and "\n" not in str(e.value)


def test_missing_images_are_skipped_not_fatal(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    write_labels(tmp_path / "labels.jsonl", [LabelRow(image="a.png", label="normal"),
                                             LabelRow(image="gone.png", label="r", violations=["r"])])
    ds = load_dataset(tmp_path)
    assert [i.image.name for i in ds.items] == ["a.png"]
    assert ds.skipped[0].image == "gone.png" and "not found" in ds.skipped[0].reason


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError, match="neither"):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such"):
        load_dataset(tmp_path / "nope")


def test_order_violations():
    assert order_violations(["c", "a", "c", "z"], ["a", "b", "c"]) == ["a", "c", "z"]
    assert order_violations(["c", "a"], None) == ["c", "a"]


def test_loco_map_of_every_example():
    for toml in sorted((ROOT / "examples").glob("*/loco.toml")):
        m = load_loco_map(toml)
        assert m.product == toml.parent.name and m.defects and m.structural
    assert find_loco_map(JUICE_RULES) == JUICE_RULES.with_name("loco.toml")


def _fake_loco(root: Path) -> None:
    """A tiny LOCO-like category: 1 good, 3 logical (one mapped, one structural type, one unknown value),
    1 structural anomaly."""
    for d in ("train/good", "test/good", "test/logical_anomalies", "test/structural_anomalies"):
        (root / d).mkdir(parents=True)
    img = Image.new("RGB", (8, 8))
    for p in ("train/good/000.png", "test/good/000.png", "test/logical_anomalies/000.png",
              "test/logical_anomalies/001.png", "test/logical_anomalies/002.png", "test/structural_anomalies/000.png"):
        img.save(root / p)
    (root / "defects_config.json").write_text(json.dumps([
        {"defect_name": "missing_pin", "pixel_value": 255}, {"defect_name": "extra_pin", "pixel_value": 254},
        {"defect_name": "scratch", "pixel_value": 253}]))
    for k, values in {"000": (255, 254), "001": (253,), "002": (17,)}.items():
        (root / "ground_truth/logical_anomalies" / k).mkdir(parents=True)
        for j, v in enumerate(values):
            m = np.zeros((8, 8), np.uint8)
            m[2:4, 2:4] = v
            Image.fromarray(m).save(root / "ground_truth/logical_anomalies" / k / f"{j:03d}.png")
    (root / "loco.toml").write_text('product = "fake"\n[defects]\nmissing_pin = ["r_missing"]\n'
                                    'extra_pin = ["r_extra"]\n[structural]\ntypes = ["scratch"]\n')


def test_fake_loco_layout(tmp_path):
    _fake_loco(tmp_path)
    m = load_loco_map(tmp_path / "loco.toml")
    ds = load_dataset(tmp_path, loco_map=m, rule_order=["r_extra", "r_missing"])
    assert ds.kind == "loco" and ds.product == "fake"
    assert [(i.image.name, i.label, i.violations, i.defect_types) for i in ds.items] == [
        ("000.png", "normal", [], []),
        ("000.png", "r_extra", ["r_extra", "r_missing"], ["extra_pin", "missing_pin"]),
    ]
    reasons = {s.image: s.reason for s in ds.skipped}
    assert "structural defect type(s) scratch" in reasons["test/logical_anomalies/001.png"]
    assert "[17]" in reasons["test/logical_anomalies/002.png"]
    assert "structural anomaly" in reasons["test/structural_anomalies/000.png"]
    assert len(load_dataset(tmp_path, loco_map=m, include_train=True).items) == 3
    with pytest.raises(DatasetError, match="LOCO map"):
        load_dataset(tmp_path)


@pytest.mark.skipif(not LOCO_SAMPLE.is_dir(), reason=f"the MVTec LOCO sample is not at {LOCO_SAMPLE}")
def test_real_loco_sample():
    import logicdsl

    rules = logicdsl.load(JUICE_RULES)
    ds = load_dataset(LOCO_SAMPLE, loco_map=load_loco_map(find_loco_map(JUICE_RULES)), rule_order=rules.names)
    got = {i.image.name: (i.label, i.defect_types) for i in ds.items if i.violations}
    # the sample's README table
    assert got == {
        "003.png": ("fruit_label_present", ["missing_bottom_label", "missing_top_label"]),
        "015.png": ("juice_label_present", ["missing_bottom_label"]),
        "026.png": ("fill_level", ["empty_bottle"]),
        "038.png": ("icon_centred", ["misplaced_fruit_icon"]),
        "048.png": ("icon_present", ["missing_fruit_icon"]),
        "053.png": ("fruit_label_placed", ["misplaced_label_top"]),
        "058.png": ("juice_label_placed", ["misplaced_label_bottom"]),
        "062.png": ("labels_in_order", ["swapped_labels"]),
        "075.png": ("fruit_label_present", ["missing_top_label"]),
        "090.png": ("fill_level", ["wrong_fill_level_not_enough"]),
        "109.png": ("fill_level", ["wrong_fill_level_not_enough"]),
        "125.png": ("juice_matches_label", ["wrong_juice_type"]),
    }
    assert sum(1 for i in ds.items if not i.violations) == 3
    assert next(i for i in ds.items if i.image.name == "003.png").violations == ["fruit_label_present",
                                                                                "juice_label_present"]
    assert ds.skipped == []
