"""Synthetic LOCO-like products: images with ground-truth scenes and labels, deterministic for a seed.

``generate(product, out, n, seed, anomaly_rate)`` writes a dataset in the project's format
(see ``docs/datasets.md``): ``NNNN.png`` + ``NNNN.json`` (the scene) per image, ``labels.jsonl`` and
``dataset.json``. Each product module declares what it draws: ``PRODUCT``, ``SIZE``, ``RULES`` (the
rule names of its example file, in file order), ``DEFECTS`` (each LOCO logical defect type → the rules
it violates, as in the example's ``loco.toml``) and ``render(rng, defect) -> Canvas``.
"""

from __future__ import annotations

import importlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable

import numpy as np

PRODUCTS = ("breakfast_box", "juice_bottle", "pushpins", "screw_bag", "splicing_connectors")
FORMATS = ("png", "jpg")
DATASET_FORMAT = "logicdsl-dataset"
DATASET_VERSION = 1


class SynthError(Exception):
    """Bad generator input (unknown product, bad count); the message is one line."""


def product_module(product: str) -> ModuleType:
    if product not in PRODUCTS:
        raise SynthError(f"unknown product `{product}` (choose from {', '.join(PRODUCTS)})")
    return importlib.import_module(f"{__name__}.{product}")


def defect_types(product: str) -> list[str]:
    return list(product_module(product).DEFECTS)


def labels_for(product: str, defect: str | None) -> tuple[str, list[str]]:
    """(label, violations) of a unit with ``defect`` (None: normal); violations in rule-file order."""
    mod = product_module(product)
    if defect is None:
        return "normal", []
    order = {r: i for i, r in enumerate(mod.RULES)}
    violations = sorted(mod.DEFECTS[defect], key=lambda r: order.get(r, len(order)))
    return violations[0], violations


def plan(product: str, n: int, seed: int, anomaly_rate: float) -> list[str | None]:
    """Which unit each index is: None (normal) or a defect type. Anomalies cycle through every defect
    type (so n * rate >= number of types covers all of them), and the order is shuffled by the seed."""
    kinds: list[str | None] = []
    defects = defect_types(product)
    n_anom = int(round(n * anomaly_rate))
    kinds += [defects[i % len(defects)] for i in range(n_anom)]
    kinds += [None] * (n - n_anom)
    order = np.random.default_rng([seed, 7919]).permutation(n)
    return [kinds[i] for i in order]


def render_unit(product: str, seed: int, index: int, defect: str | None, *, noise: bool = True
                ) -> tuple[np.ndarray, dict]:
    """Render one unit: (RGB pixels, scene dict). Deterministic in (product, seed, index, defect)."""
    mod = product_module(product)
    rng = np.random.default_rng([seed, index, PRODUCTS.index(product)])
    canvas = mod.render(rng, defect)
    pixels = canvas.finish(noise=1.0 if noise else 0.0)
    W, H = mod.SIZE
    scene = {"version": 1, "image": None, "width": W, "height": H, "objects": canvas.objects}
    return pixels, scene


@dataclass
class Summary:
    out: Path
    product: str
    n: int
    seconds: float
    by_label: dict[str, int] = field(default_factory=dict)

    @property
    def images_per_second(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("inf")


def scale_unit(pixels: np.ndarray, scene: dict, scale: float) -> tuple[np.ndarray, dict]:
    """Resize a rendered unit and its scene (boxes, rotated boxes, areas) by ``scale``."""
    import cv2

    if scale == 1.0:
        return pixels, scene
    W, H = round(scene["width"] * scale), round(scene["height"] * scale)
    pixels = cv2.resize(pixels, (W, H), interpolation=cv2.INTER_AREA)
    objects = []
    for o in scene["objects"]:
        o = dict(o)
        o["box"] = [round(v * scale, 2) for v in o["box"]]
        rb = o["rbox"]
        o["rbox"] = {k: (round(v * scale, 2) if k != "angle" else v) for k, v in rb.items()}
        o["area"] = round(o["area"] * scale * scale, 1)
        objects.append(o)
    return pixels, {**scene, "width": W, "height": H, "objects": objects}


def _write_one(args: tuple) -> dict:
    from .common import encode_jpg, png_chunks

    product, out, seed, index, defect, fmt, *rest = args
    scale = rest[0] if rest else 1.0
    noise = rest[1] if len(rest) > 1 else True
    pixels, scene = render_unit(product, seed, index, defect, noise=noise)
    pixels, scene = scale_unit(pixels, scene, scale)
    stem = f"{index:04d}"
    image_name = f"{stem}.{fmt}"
    scene["image"] = image_name
    with open(Path(out, image_name), "wb") as f:
        if fmt == "png":
            f.writelines(png_chunks(pixels, 0 if noise else 1))  # noise-free frames compress well: zlib level 1
        else:
            f.write(encode_jpg(pixels))
    Path(out, f"{stem}.json").write_text(json.dumps(scene, separators=(",", ":")), encoding="utf-8")
    label, violations = labels_for(product, defect)
    return {"image": image_name, "scene": f"{stem}.json", "label": label, "violations": violations,
            "defect_types": [] if defect is None else [defect]}


def generate(product: str, out: str | os.PathLike, n: int, seed: int = 0, anomaly_rate: float = 0.5, *,
             fmt: str = "png", jobs: int = 1, progress: Callable[[int], None] | None = None,
             scale: float = 1.0, noise: bool = True) -> Summary:
    """Write ``n`` units of ``product`` into ``out`` (created if needed) and return a summary."""
    product_module(product)
    if n < 1:
        raise SynthError(f"-n must be at least 1 (got {n})")
    if not 0.0 <= anomaly_rate <= 1.0:
        raise SynthError(f"--anomaly-rate must be between 0 and 1 (got {anomaly_rate})")
    if fmt not in FORMATS:
        raise SynthError(f"unknown image format `{fmt}` (choose from {', '.join(FORMATS)})")
    if not 0.05 <= scale <= 1.0:
        raise SynthError(f"--scale must be between 0.05 and 1 (got {scale})")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out}: exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    kinds = plan(product, n, seed, anomaly_rate)
    tasks = [(product, str(out), seed, i, kinds[i], fmt, scale, noise) for i in range(n)]
    t0 = time.perf_counter()
    rows: list[dict] = []
    for row in _run(tasks, jobs):
        rows.append(row)
        if progress:
            progress(1)
    seconds = time.perf_counter() - t0
    with open(out / "labels.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    meta = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "product": product,
            "generator": {"name": "logicdsl synth", "seed": seed, "n": n, "anomaly_rate": anomaly_rate,
                          "image_format": fmt, "scale": scale,
                          "sensor_noise": noise}}
    (out / "dataset.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    by_label: dict[str, int] = {}
    for row in rows:
        by_label[row["label"]] = by_label.get(row["label"], 0) + 1
    return Summary(out, product, n, seconds, by_label)


def _worker_init(fresh: bool) -> None:
    """A worker process. ``fresh``: not forked from this one (another start method), so it sets its own OpenCV
    thread count. And glibc's malloc is told to keep freed memory: every image allocates several full frames of
    3-6 MB, which by default are mapped fresh from the kernel and faulted in page by page (10-20 ms of system
    time an image)."""
    if fresh:
        import cv2

        cv2.setNumThreads(1)
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: frames come from the heap
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD: and the heap is not handed back between images
    except (OSError, AttributeError):  # not glibc
        pass


def _run(tasks: list[tuple], jobs: int) -> Iterable[dict]:
    if jobs <= 1 or len(tasks) < 4:
        for t in tasks:
            yield _write_one(t)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import cv2

    from .common import noise_tile

    if any(t[7] for t in tasks):
        noise_tile()  # made once here; forked workers inherit it
    chunk = max(1, min(4, len(tasks) // (jobs * 8)))
    # The workers get one OpenCV thread each (the work is spread over processes; OpenCV's own threads would only
    # contend). Forked workers inherit it from here, set around their start: a forked child whose parent has used
    # OpenCV's thread pool hangs in cv2.setNumThreads. (With the fork start method every worker starts at the first
    # submit.)
    context = multiprocessing.get_context()  # what ProcessPoolExecutor would take
    fresh = context.get_start_method() != "fork"
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init,
                                   initargs=(fresh,))
        results = pool.map(_write_one, tasks, chunksize=chunk)  # submits every task: the workers start now
    finally:
        cv2.setNumThreads(threads)
    with pool:
        yield from results
