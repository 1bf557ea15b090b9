"""VLM backend throughput on tiny offline models: one image's subqueries batched vs asked one by one.

Replies are scripted to a few tokens (what real prompts ask for), so the figures measure the
backend's overhead and batching — image preprocessing, the vision encoder, prefill, decoding —
not a random model's babble. Subqueries/s and images/s go into each benchmark's ``extra_info``;
``test_vlm_batched_vs_one_by_one`` prints the ratio.

    python -m pytest benchmarks/test_vlm_bench.py --benchmark-disable   # a quick run
    python -m pytest benchmarks/test_vlm_bench.py -s                    # the figures
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "vlm"))

pytest.importorskip("torch", reason="the vlm extra (torch) is not installed")
pytest.importorskip("transformers", reason="the vlm extra (transformers) is not installed")

from vlm_testing import count_vision_forwards, scripted  # noqa: E402
from vlm_tiny_models import build_tiny_llava, build_tiny_qwen2_5_vl  # noqa: E402

from logicdsl.engine.image import ImageRef  # noqa: E402
from logicdsl.engine.subquery import Attribute, AttributeSpec, Count, Exists, Region, Relation  # noqa: E402

N_CELLS = 12
COLOR = AttributeSpec("color", "enum", ("red", "blue", "green"))


def subqueries():
    """A realistic check: 4 object-level questions and a count per grid cell (16 subqueries)."""
    qs = [Exists("cap", "a red cap"), Attribute("cap", "the cap", COLOR),
          Relation("left_of", "icon", "the icon", "label", "the label"), Count("pin", "pin")]
    for i in range(N_CELLS):
        r, c = divmod(i, 4)
        qs.append(Count("pin", "pin", region=Region("box", f"cell[{r}][{c}]", box=(c / 4, r / 3, (c + 1) / 4, (r + 1) / 3))))
    return qs


REPLIES = {"How many": "2", "Is there": "yes", "What is the color": "blue", "Is the icon": "no"}


@pytest.fixture(scope="module", params=["qwen2_5_vl", "llava"])
def backend(request, tmp_path_factory):
    """A tiny model on one torch thread: with models this small, two OpenMP threads on a busy
    2-core machine spin and make the figures 5-15x slower and meaningless."""
    import torch

    from logicdsl.engine.vlm import VLMBackend

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    request.addfinalizer(lambda: torch.set_num_threads(threads))

    folder = tmp_path_factory.mktemp("bench") / request.param
    (build_tiny_qwen2_5_vl if request.param == "qwen2_5_vl" else build_tiny_llava)(folder)
    b = VLMBackend(str(folder), device="cpu")
    with scripted(b, REPLIES, default="1"):
        yield b


@pytest.fixture(scope="module")
def images():
    rng = np.random.RandomState(0)
    return [ImageRef.of((rng.rand(96, 128, 3) * 255).astype(np.uint8)) for _ in range(4)]


def _batched(backend, images, qs):
    for im in images:
        backend.answer(im, qs)


def _one_by_one(backend, images, qs):
    for im in images:
        for q in qs:
            backend.answer(im, [q])


MODES = {"batched": _batched, "one_by_one": _one_by_one}


@pytest.mark.parametrize("mode", list(MODES))
def test_vlm_throughput(benchmark, backend, images, mode):
    qs = subqueries()
    fn = MODES[mode]
    fn(backend, images[:1], qs)  # warm-up
    times: list[float] = []

    def run():
        t0 = time.perf_counter()
        fn(backend, images, qs)
        times.append(time.perf_counter() - t0)

    with count_vision_forwards(backend.model) as calls:
        benchmark.pedantic(run, rounds=3, iterations=1)
    best = min(times)
    n_img = len(images)
    benchmark.extra_info.update({
        "subqueries_per_s": round(n_img * len(qs) / best, 2),
        "images_per_s": round(n_img / best, 3),
        "vision_forwards_per_image": len(calls) / (n_img * len(times)),
    })
    expected = 1 if mode == "batched" else len(qs)
    assert len(calls) == expected * n_img * len(times)


@pytest.mark.filterwarnings("ignore::pytest_benchmark.logger.PytestBenchmarkWarning")
def test_vlm_batched_vs_one_by_one(benchmark, backend, images):
    """The closing figure: how much batching one image's subqueries buys.

    The modes are interleaved and the best of three runs is kept, which is what survives a busy
    machine; with ``--benchmark-disable`` it runs once and only reports.
    """
    qs = subqueries()
    _batched(backend, images[:1], qs)
    reps = 1 if benchmark.disabled else 3
    best = {mode: float("inf") for mode in MODES}
    for _ in range(reps):
        for mode, fn in MODES.items():
            best[mode] = min(best[mode], _timed(fn, backend, images, qs))
    figures = {mode: len(images) * len(qs) / t for mode, t in best.items()}
    ratio = figures["batched"] / figures["one_by_one"]
    print(f"\n[{backend.model_type}] {len(qs)} subqueries/image: batched {figures['batched']:.1f} subq/s "
          f"({figures['batched'] / len(qs):.2f} img/s), one by one {figures['one_by_one']:.1f} subq/s "
          f"({figures['one_by_one'] / len(qs):.2f} img/s): x{ratio:.1f}")
    if not benchmark.disabled:
        assert ratio > 1.0


def _timed(fn, backend, images, qs) -> float:
    t0 = time.perf_counter()
    fn(backend, images, qs)
    return time.perf_counter() - t0
