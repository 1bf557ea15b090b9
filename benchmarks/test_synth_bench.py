"""Generator and evaluation throughput (images/s), per product.

- ``test_render_bench``: one unit rendered and encoded as PNG, in this process; ``extra_info`` gives the CPU time
  per image of rendering (``cpu_s_render``), of PNG and JPEG encoding (``cpu_s_png_encode``,
  ``cpu_s_jpg_encode``) and the images/s that implies per core (``per_core_png``/``per_core_jpg``), which is
  what ``logicdsl synth --jobs N`` scales by on an otherwise idle machine.
- ``test_generate_and_eval_bench``: ``generate`` end to end with the CLI's default worker count (the number of
  CPUs, at most 8; files written), wall-clock images/s (``generate_png_images_per_s``, the figure the issue asks
  for: >= 20 images/s on 2 cores; shared machines read lower, and the worker start-up weighs on a short run), the
  same for JPEG, and ``run_eval`` with the scene backend over the generated set (``eval_images_per_s``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from logicdsl.evaluate import EvalSpec, compute_metrics, run_eval
from logicdsl.synth import PRODUCTS, generate, plan, render_unit
from logicdsl.synth.common import encode_jpg, encode_png

ROOT = Path(__file__).resolve().parents[1]
JOBS = max(1, min(8, os.cpu_count() or 1))  # as `logicdsl synth` without --jobs


def _cpu_per_image(product: str, n: int = 4) -> tuple[float, float, float]:
    """CPU seconds per image: (render, PNG encoding, JPEG encoding)."""
    kinds = plan(product, n, 0, 0.5)
    render = png = jpg = 0.0
    for i in range(n):
        t0 = time.process_time()
        px, _ = render_unit(product, 0, i, kinds[i])
        t1 = time.process_time()
        encode_png(px)
        t2 = time.process_time()
        encode_jpg(px)
        t3 = time.process_time()
        render, png, jpg = render + t1 - t0, png + t2 - t1, jpg + t3 - t2
    return render / n, png / n, jpg / n


@pytest.mark.parametrize("product", PRODUCTS)
def test_render_bench(benchmark, product):
    render_unit(product, 0, 0, None)  # warm: noise tile, fonts
    benchmark.pedantic(lambda: encode_png(render_unit(product, 0, 1, None)[0]), rounds=3, iterations=1)
    render, png, jpg = _cpu_per_image(product)
    benchmark.extra_info.update(cpu_s_render=round(render, 4), cpu_s_png_encode=round(png, 4),
                                cpu_s_jpg_encode=round(jpg, 4), per_core_png=round(1 / (render + png), 1),
                                per_core_jpg=round(1 / (render + jpg), 1))


@pytest.mark.parametrize("product", PRODUCTS)
def test_generate_and_eval_bench(benchmark, product, tmp_path):
    n = 40
    out = tmp_path / product

    def gen():
        return generate(product, out, n, seed=1, anomaly_rate=0.5, jobs=JOBS)

    s = benchmark.pedantic(gen, rounds=1, iterations=1)
    jpg = generate(product, tmp_path / "jpg", n, seed=1, anomaly_rate=0.5, jobs=JOBS, fmt="jpg")
    from logicdsl.datasets import load_dataset

    items = load_dataset(out).items
    spec = EvalSpec(str(ROOT / "examples" / product / f"{product}.logic"), "scene")
    records, seconds = run_eval(items, spec, jobs=1)
    m = compute_metrics(records)
    assert m["lac_accuracy"] == 1.0
    benchmark.extra_info.update(jobs=JOBS, generate_png_images_per_s=round(s.images_per_second, 1),
                                generate_jpg_images_per_s=round(jpg.images_per_second, 1),
                                eval_images_per_s=round(n / seconds, 1))
