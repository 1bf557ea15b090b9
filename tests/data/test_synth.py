"""The synthetic generator: deterministic, valid scenes, and every defect type lands on its mapped rule."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import logicdsl
from logicdsl.engine.scene import SceneBackend
from logicdsl.engine.scene_format import Scene
from logicdsl.synth import PRODUCTS, SynthError, generate, labels_for, plan, product_module, render_unit
from logicdsl.synth import _write_one

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def rule_names(product: str) -> list[str]:
    text = (EXAMPLES / product / f"{product}.logic").read_text()
    return re.findall(r"^rule\s+(\w+)", text, flags=re.M)


@pytest.mark.parametrize("product", PRODUCTS)
def test_product_declarations_match_the_example_files(product):
    mod = product_module(product)
    assert list(mod.RULES) == rule_names(product)
    loco = tomllib.loads((EXAMPLES / product / "loco.toml").read_text())
    assert {k: tuple(v) for k, v in loco["defects"].items()} == mod.DEFECTS
    assert list(loco["structural"]["types"]) == list(mod.STRUCTURAL)


@pytest.mark.parametrize("product", PRODUCTS)
def test_render_is_deterministic(product):
    a, sa = render_unit(product, 7, 3, None)
    b, sb = render_unit(product, 7, 3, None)
    c, _ = render_unit(product, 8, 3, None)
    assert np.array_equal(a, b) and sa == sb
    assert not np.array_equal(a, c)
    W, H = product_module(product).SIZE
    assert a.shape == (H, W, 3) and a.dtype == np.uint8
    assert 800 <= W <= 1700


@pytest.mark.parametrize("product", PRODUCTS)
def test_scene_is_valid_and_complete(product):
    _, scene = render_unit(product, 1, 0, None)
    s = Scene.model_validate(scene)
    assert s.objects
    for o in s.objects:
        assert o.rbox is not None and o.area and o.area > 0
        x0, y0, x1, y1 = o.box
        assert 0 <= x0 < x1 <= s.width and 0 <= y0 < y1 <= s.height
        # the mask lies within its box
        assert o.area <= (x1 - x0) * (y1 - y0) + 1


def test_plan_covers_every_defect_type_and_is_seeded():
    for product in PRODUCTS:
        defects = product_module(product).DEFECTS
        p = plan(product, 2 * len(defects), seed=5, anomaly_rate=0.5)
        assert set(d for d in p if d) == set(defects)
        assert p.count(None) == len(defects)
        assert plan(product, 30, 5, 0.5) == plan(product, 30, 5, 0.5)


def test_labels_follow_rule_file_order():
    assert labels_for("breakfast_box", "0_nectarines_3_tangerines") == (
        "two_tangerines", ["two_tangerines", "one_nectarine"])
    assert labels_for("pushpins", None) == ("normal", [])


@pytest.fixture(scope="module")
def engines():
    return {p: logicdsl.Engine(logicdsl.load(EXAMPLES / p / f"{p}.logic"), backend=SceneBackend()) for p in PRODUCTS}


CASES = [(p, d) for p in PRODUCTS for d in [None, *product_module(p).DEFECTS]]


@pytest.mark.parametrize("product,defect", CASES, ids=[f"{p}-{d or 'normal'}" for p, d in CASES])
def test_every_defect_type_lands_on_its_mapped_rule(product, defect, engines, tmp_path):
    """Three seeds per type: the engine's verdict on the ground-truth scene is exactly the map's rules."""
    for index in range(3):
        row = _write_one((product, str(tmp_path), 11, index, defect, "jpg"))
        v = engines[product].check(tmp_path / row["image"])
        expected = [] if defect is None else list(product_module(product).DEFECTS[defect])
        assert v.status == ("normal" if defect is None else "anomaly"), (index, v.status, v.error)
        assert sorted(v.violated_rules) == sorted(expected), index
        assert v.label == row["label"]


def test_generate_writes_the_dataset_format(tmp_path):
    from logicdsl.datasets import load_dataset, read_labels

    s = generate("splicing_connectors", tmp_path / "d", 6, seed=2, anomaly_rate=0.5, fmt="jpg")
    assert s.n == 6 and sum(s.by_label.values()) == 6
    rows = read_labels(tmp_path / "d" / "labels.jsonl")
    assert [r.image for r in rows] == [f"{i:04d}.jpg" for i in range(6)]
    for r in rows:
        assert (tmp_path / "d" / r.scene).is_file()
        assert (r.label == "normal") == (not r.defect_types)
    meta = json.loads((tmp_path / "d" / "dataset.json").read_text())
    assert meta["product"] == "splicing_connectors" and meta["generator"]["seed"] == 2
    ds = load_dataset(tmp_path / "d")
    assert len(ds.items) == 6 and ds.kind == "logicdsl"


def test_generate_same_seed_same_bytes(tmp_path):
    generate("pushpins", tmp_path / "a", 3, seed=9)
    generate("pushpins", tmp_path / "b", 3, seed=9, jobs=2)
    for name in ("0000.png", "0002.json", "labels.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_png_is_readable(tmp_path):
    from PIL import Image

    generate("juice_bottle", tmp_path, 1, seed=0)
    px, _ = render_unit("juice_bottle", 0, 0, plan("juice_bottle", 1, 0, 0.5)[0])
    with Image.open(tmp_path / "0000.png") as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), px)


@pytest.mark.parametrize("bad", [dict(product="teapot"), dict(n=0), dict(anomaly_rate=1.5), dict(fmt="gif")])
def test_generate_rejects_bad_input(tmp_path, bad):
    args = dict(product="pushpins", out=tmp_path, n=1, seed=0, anomaly_rate=0.5) | bad
    fmt = args.pop("fmt", "png")
    with pytest.raises(SynthError):
        generate(**args, fmt=fmt)


def test_png_without_noise_is_compressed_and_exact(tmp_path):
    from PIL import Image

    generate("pushpins", tmp_path, 1, seed=0, noise=False)
    px, _ = render_unit("pushpins", 0, 0, plan("pushpins", 1, 0, 0.5)[0], noise=False)
    with Image.open(tmp_path / "0000.png") as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), px)
    assert (tmp_path / "0000.png").stat().st_size < px.nbytes / 4


@pytest.mark.parametrize("product", PRODUCTS)
def test_sensor_noise_is_there(product):
    """Noise on and off differ by Gaussian-like sensor noise of sigma about 2.2 (the exposure is the same)."""
    a, _ = render_unit(product, 3, 1, None)
    b, _ = render_unit(product, 3, 1, None, noise=False)
    d = a.astype(np.int16) - b
    inner = d[d.shape[0] // 4: -d.shape[0] // 4, d.shape[1] // 4: -d.shape[1] // 4]
    assert 1.6 < inner.std() < 3.0
    assert abs(inner.mean()) < 0.5


def test_workers_after_opencv_threads_in_the_parent(tmp_path):
    """Forked workers start cleanly after the parent used OpenCV's thread pool (cv2.setNumThreads in such a
    child hangs), and write the same bytes as one process."""
    import subprocess
    import sys

    code = (
        "import sys; from logicdsl.synth import generate, render_unit\n"
        "render_unit('screw_bag', 0, 0, None)\n"
        "generate('screw_bag', sys.argv[1], 6, seed=4, jobs=2)\n"
        "generate('screw_bag', sys.argv[2], 6, seed=4, jobs=1)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "a"), str(tmp_path / "b")], check=True, timeout=300)
    for i in range(6):
        for ext in ("png", "json"):
            name = f"{i:04d}.{ext}"
            assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
