"""Generator and evaluation throughput (images/s), per product.

- ``test_render_bench``: one unit rendered and encoded (PNG and JPEG), in this process; ``extra_info``
  gives the CPU time per image and the images/s that implies per core (``per_core_png``/``per_core_jpg``),
  which is what ``logicdsl synth --jobs N`` scales by on an otherwise idle machine.
- ``test_generate_bench``: ``generate`` end to end with 2 worker processes (files written), wall-clock
  images/s — the figure the issue asks for (>= 20 images/s on 2 cores); shared machines read lower.
- ``test_eval_bench``: ``run_eval`` with the scene backend over the generated set, images/s.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from logicdsl.evaluate import EvalSpec, compute_metrics, run_eval
from logicdsl.synth import PRODUCTS, generate, plan, render_unit
from logicdsl.synth.common import encode_jpg, encode_png

ROOT = Path(__file__).resolve().parents[1]


def _cpu_per_image(product: str, encode, n: int = 4) -> float:
    kinds = plan(product, n, 0, 0.5)
    t0 = time.process_time()
    for i in range(n):
        px, _ = render_unit(product, 0, i, kinds[i])
        encode(px)
    return (time.process_time() - t0) / n


@pytest.mark.parametrize("product", PRODUCTS)
def test_render_bench(benchmark, product):
    render_unit(product, 0, 0, None)  # warm: noise tile, fonts
    benchmark.pedantic(lambda: encode_png(render_unit(product, 0, 1, None)[0]), rounds=3, iterations=1)
    png = _cpu_per_image(product, encode_png)
    jpg = _cpu_per_image(product, encode_jpg)
    benchmark.extra_info.update(cpu_s_png=round(png, 4), cpu_s_jpg=round(jpg, 4),
                                per_core_png=round(1 / png, 1), per_core_jpg=round(1 / jpg, 1))


@pytest.mark.parametrize("product", PRODUCTS)
def test_generate_and_eval_bench(benchmark, product, tmp_path):
    n = 24
    out = tmp_path / product

    def gen():
        return generate(product, out, n, seed=1, anomaly_rate=0.5, jobs=2)

    s = benchmark.pedantic(gen, rounds=1, iterations=1)
    jpg = generate(product, tmp_path / "jpg", n, seed=1, anomaly_rate=0.5, jobs=2, fmt="jpg")
    from logicdsl.datasets import load_dataset

    items = load_dataset(out).items
    spec = EvalSpec(str(ROOT / "examples" / product / f"{product}.logic"), "scene")
    records, seconds = run_eval(items, spec, jobs=1)
    m = compute_metrics(records)
    assert m["lac_accuracy"] == 1.0
    benchmark.extra_info.update(generate_png_images_per_s=round(s.images_per_second, 1),
                                generate_jpg_images_per_s=round(jpg.images_per_second, 1),
                                eval_images_per_s=round(n / seconds, 1))
