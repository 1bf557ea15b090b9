"""Engine benchmarks per example product, with the scene backend on a realistic good unit.

- ``test_engine_overhead``: planning + waves + evaluation + verdict for one image, the scene given
  in memory and a tiny in-memory image (so PNG decoding and file hashing are not measured); the
  answer cache is emptied before every check, so the backend is asked every time.
- ``test_engine_end_to_end``: the same through a PNG file on disk with its sidecar scene JSON
  (image header read, content hash, scene file parsed and validated).
- ``extra_info``: ``overhead_median_ms`` (own timing loop, also valid with --benchmark-disable),
  leaf subqueries asked per image with the detect-only scene backend and with a backend answering every
  kind natively, the naive plan's question count (:func:`logicdsl.naive.naive_question_count`: no
  sharing, no lowering) and the ratios asked / naive.

Target: overhead median <= 1 ms per image.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import logicdsl
from logicdsl.engine.executor import AnswerCache, Executor
from logicdsl.engine.scene import SceneBackend
from logicdsl.engine.scene_format import Scene
from logicdsl.naive import naive_question_count

from bench_timing import median_ms

ROOT = Path(__file__).resolve().parents[1]
IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)


def o(label, box, **kw):
    return {"label": label, "box": box, **kw}


def good_units() -> dict[str, dict]:
    """One good unit per product, built by hand (pixels)."""
    pins = [o("pin", [c * 100 + 40, r * 100 + 40, c * 100 + 60, r * 100 + 60],
              rbox={"cx": c * 100 + 50, "cy": r * 100 + 50, "w": 22, "h": 12, "angle": 30})
            for r in range(3) for c in range(5)]
    separators = ([o("separator", [c * 100 - 2, r * 100 + 5, c * 100 + 2, r * 100 + 95]) for r in range(3) for c in range(1, 5)]
                  + [o("separator", [c * 100 + 5, r * 100 - 2, c * 100 + 95, r * 100 + 2]) for r in range(1, 3) for c in range(5)])
    return {
        "pushpins": {"width": 500, "height": 300, "objects": [o("tray", [0, 0, 500, 300])] + pins + separators},
        "juice_bottle": {"width": 100, "height": 200, "objects": [
            o("bottle", [20, 10, 80, 190]), o("fruit_label", [30, 90, 70, 125]), o("juice_label", [35, 150, 65, 170]),
            o("juice", [22, 40, 78, 188], attributes={"kind": "orange"}),
            o("icon", [40, 97, 60, 117], attributes={"fruit": "orange"})]},
        "breakfast_box": {"width": 200, "height": 100, "objects": [
            o("tangerine", [10, 10, 40, 40]), o("tangerine", [10, 50, 40, 80]), o("nectarine", [60, 20, 90, 60]),
            o("cereal", [110, 10, 190, 90], area=2000), o("banana_chips", [120, 20, 150, 50], area=500),
            o("almonds", [150, 50, 180, 80], area=500)]},
        "screw_bag": {"width": 100, "height": 100, "objects": [
            o("washer", [0, 0, 20, 20]), o("washer", [30, 0, 50, 20]), o("nut", [60, 0, 75, 15]), o("nut", [80, 0, 95, 15]),
            o("screw", [0, 50, 62, 58], rbox={"cx": 31, "cy": 54, "w": 62, "h": 8}),
            o("screw", [0, 70, 40, 78], rbox={"cx": 20, "cy": 74, "w": 40, "h": 8})]},
        "splicing_connectors": {"width": 200, "height": 100, "objects": [
            o("connector", [10, 40, 30, 80], attributes={"clamps": 3, "cable_slot": 2}),
            o("connector", [170, 40, 190, 80], attributes={"clamps": 3, "cable_slot": 2}),
            o("cable", [30, 50, 170, 60], rbox={"cx": 100, "cy": 55, "w": 150, "h": 8}, attributes={"color": "blue"})]},
    }


UNITS = good_units()
PRODUCTS = sorted(UNITS)


def rules_for(product: str):
    return logicdsl.load(ROOT / "examples" / product / f"{product}.logic")


def fresh_check(executor: Executor, image):
    executor.cache = AnswerCache()  # ask the backend every time
    return executor.check(image)


def machine_speed_us() -> float:
    """Best time of `sum(range(1000))` in microseconds: ~8-10 on a quiet modern core. Lets figures
    measured on a slow or loaded machine be compared with the 1 ms target."""
    import timeit

    return min(timeit.repeat("sum(range(1000))", number=200, repeat=5)) / 200 * 1e6



def native_asked(rules, scene: Scene) -> int | None:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from engine.backends import NativeSceneBackend  # tests/engine/backends.py
    except ImportError:  # pragma: no cover - benchmarks run without the tests tree
        return None
    finally:
        sys.path.pop(0)
    return Executor(rules.graph, NativeSceneBackend(scene)).check(IMAGE).subqueries_asked


@pytest.mark.parametrize("product", PRODUCTS)
def test_engine_overhead(benchmark, product):
    rules = rules_for(product)
    scene = Scene.model_validate(UNITS[product])
    executor = Executor(rules.graph, SceneBackend(scene))
    verdict = fresh_check(executor, IMAGE)
    assert verdict.status == "normal", verdict.model_dump_json(indent=1)

    naive = naive_question_count(rules.program)
    asked = verdict.subqueries_asked
    native = native_asked(rules, scene)
    median = median_ms(lambda: fresh_check(executor, IMAGE))
    benchmark.extra_info.update({
        "product": product,
        "overhead_median_ms": round(median, 4),
        "asked_detect_only": asked,
        "asked_native": native,
        "naive_questions": naive,
        "ratio_detect_only": round(asked / naive, 4),
        "ratio_native": None if native is None else round(native / naive, 4),
        "waves": verdict.waves,
        "machine_sum_range_1000_us": round(machine_speed_us(), 2),
    })
    print(f"\n{product}: overhead median {median:.3f} ms; asked {asked} (native {native}) vs naive {naive} "
          f"-> ratio {asked / naive:.3f} (native {native / naive if native else float('nan'):.3f})")
    benchmark(fresh_check, executor, IMAGE)
    assert asked < naive
    assert median < 50  # a regression guard only; the target (<= 1 ms) is reported, not asserted


@pytest.mark.parametrize("product", PRODUCTS)
def test_engine_end_to_end(benchmark, product, tmp_path):
    rules = rules_for(product)
    unit = UNITS[product]
    img = tmp_path / f"{product}.png"
    Image.new("RGB", (unit["width"], unit["height"]), (40, 40, 40)).save(img)
    img.with_suffix(".json").write_text(json.dumps(unit))
    executor = Executor(rules.graph, SceneBackend())  # sidecar scene, read per image
    assert fresh_check(executor, img).status == "normal"
    median = median_ms(lambda: fresh_check(executor, img), runs=30)
    benchmark.extra_info.update({"product": product, "end_to_end_median_ms": round(median, 4)})
    print(f"\n{product}: end-to-end median {median:.3f} ms (PNG on disk + sidecar scene)")
    benchmark(fresh_check, executor, img)
