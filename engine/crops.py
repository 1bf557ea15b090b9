"""Region crops: asking a subquery about ``pin in c`` on the crop of ``c`` instead of the whole image.

Small, verifiable questions on a crop are what make hard constraints checkable by a VLM: "how many
pins in this cell" on the cell's pixels, rather than "how many pins in the cell from x 25% to 50%"
on the whole board. Supported regions (see ``subquery.Region``):

  - ``box``: a fixed box in image fractions (a grid cell) — cropped directly;
  - ``object``: inside the box of each instance of an object — needs the object's boxes first
    (a grounding ``Detect``); each instance's box is cropped and the answers combined;
  - ``object_box``: ``box`` relative to the single instance's box — grounded, then
    :func:`sub_box` gives the image-fraction box to crop.

Pure numpy/PIL; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from .subquery import Answer, Box, Count, Detect, Exists, Instance, Subquery

#: crops smaller than this many pixels a side are grown (around their centre) to it
MIN_CROP_PX = 28


def clamp_box(box: Sequence[float]) -> Box:
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    return (min(max(x0, 0.0), 1.0), min(max(y0, 0.0), 1.0), min(max(x1, 0.0), 1.0), min(max(y1, 0.0), 1.0))


def sub_box(outer: Box, rel: Box) -> Box:
    """``rel`` (fractions of ``outer``) as fractions of the image."""
    ox0, oy0, ox1, oy1 = outer
    w, h = ox1 - ox0, oy1 - oy0
    rx0, ry0, rx1, ry1 = rel
    return clamp_box((ox0 + rx0 * w, oy0 + ry0 * h, ox0 + rx1 * w, oy0 + ry1 * h))


def pixel_box(box: Box, size: tuple[int, int], margin: float = 0.0,
              min_px: int = MIN_CROP_PX) -> tuple[int, int, int, int]:
    """Integer pixel bounds (left, top, right, bottom) of ``box`` on a ``size`` = (W, H) image.

    ``margin`` grows the box by that fraction of its own size on every side (context for the
    model); tiny boxes are grown to ``min_px`` so a vision encoder gets at least one patch.
    """
    W, H = size
    x0, y0, x1, y1 = clamp_box(box)
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    left, top = (x0 - mx) * W, (y0 - my) * H
    right, bottom = (x1 + mx) * W, (y1 + my) * H

    def grow(a: float, b: float, limit: int) -> tuple[int, int]:
        need = min(min_px, limit)
        if b - a < need:
            c = (a + b) / 2
            a, b = c - need / 2, c + need / 2
        a, b = max(0.0, a), min(float(limit), b)
        if b - a < need:  # against an edge
            a, b = (0.0, float(need)) if a <= 0 else (float(limit - need), float(limit))
        return int(round(a)), int(round(b))

    left_i, right_i = grow(left, right, W)
    top_i, bottom_i = grow(top, bottom, H)
    return left_i, top_i, max(right_i, left_i + 1), max(bottom_i, top_i + 1)


def crop(pixels: np.ndarray, box: Box, margin: float = 0.0, min_px: int = MIN_CROP_PX) -> np.ndarray:
    """The H x W x 3 crop of ``box`` (image fractions) from an RGB array."""
    H, W = pixels.shape[:2]
    left, top, right, bottom = pixel_box(box, (W, H), margin, min_px)
    return np.ascontiguousarray(pixels[top:bottom, left:right])


def crop_to_image(box_in_crop: Box, crop_box: Box) -> Box:
    """A box found on a crop (fractions of the crop) as fractions of the whole image."""
    return sub_box(crop_box, box_in_crop)


# ---------------------------------------------------------------------------------------------
# planning the waves of one ``answer()`` call

ViewKey = Union[str, tuple]  # "full", or ("box", Box)


@dataclass(frozen=True)
class Task:
    """One question for a model: a subquery, the view it is asked on, and whether that view is
    already the subquery's region (so the prompt drops the region)."""

    query: Subquery
    view: ViewKey = "full"
    on_crop: bool = False


class RegionPlan:
    """Splits one image's subqueries into at most two waves of :class:`Task`.

    Wave 1: everything on the full image, ``box``-region subqueries on their crops (when
    ``crop_regions``), and one grounding ``Detect`` per object that an ``object``/``object_box``
    region refers to. Wave 2: those region subqueries on the crops of the grounded instances;
    per-instance answers are combined (counts summed, presence or-ed). Kinds outside
    ``capabilities`` are answered ``failed`` without being asked.
    """

    def __init__(self, subqueries: Sequence[Subquery], capabilities: frozenset[str], crop_regions: bool,
                 backend: str) -> None:
        self.subqueries = list(subqueries)
        self.answers: list[Answer | None] = [None] * len(self.subqueries)
        self.first: list[Task] = []
        self._slot: dict[int, int] = {}
        self._deferred: list[int] = []
        self._grounding: dict[str, int] = {}
        self._second_plan: dict[int, list[int]] = {}
        for i, q in enumerate(self.subqueries):
            if q.kind not in capabilities:
                self.answers[i] = Answer.failed(
                    f"the {backend} backend does not answer `{q.kind}` subqueries natively; "
                    "the planner should lower them to `detect`")
                continue
            region = getattr(q, "region", None)
            if crop_regions and region is not None:
                if region.kind == "box" and region.box is not None:
                    self._slot[i] = len(self.first)
                    self.first.append(Task(q, ("box", clamp_box(region.box)), True))
                    continue
                if region.object:
                    if region.object not in self._grounding:
                        self._grounding[region.object] = len(self.first)
                        desc = region.object_description or region.object
                        self.first.append(Task(Detect(object=region.object, description=desc)))
                    self._deferred.append(i)
                    continue
            self._slot[i] = len(self.first)
            self.first.append(Task(q))

    def second(self, first_answers: Sequence[Answer]) -> list[Task]:
        """Wave 2, from the answers to wave 1 (empty when nothing needs a grounded crop)."""
        for i, slot in self._slot.items():
            self.answers[i] = first_answers[slot]
        self._first_answers = list(first_answers)
        tasks: list[Task] = []
        for i in self._deferred:
            q = self.subqueries[i]
            region = q.region
            g = first_answers[self._grounding[region.object]]
            if g.value is None:
                self.answers[i] = Answer.failed(
                    f"cannot crop to `{region.object}`: grounding it failed ({g.error})", raw=g.raw)
                continue
            inst: list[Instance] = list(g.value)
            if not inst:
                self.answers[i] = Answer.failed(
                    f"cannot crop to `{region.object}`: it was not found in the image", raw=g.raw)
                continue
            if region.kind == "object_box":
                if len(inst) > 1:
                    self.answers[i] = Answer.failed(
                        f"cannot crop to region `{region.name}`: {len(inst)} instances of `{region.object}` "
                        "were found, expected one", raw=g.raw)
                    continue
                boxes = [sub_box(inst[0].box, region.box or (0.0, 0.0, 1.0, 1.0))]
            else:
                boxes = [x.box for x in inst]
            self._second_plan[i] = []
            for b in boxes:
                self._second_plan[i].append(len(tasks))
                tasks.append(Task(q, ("box", clamp_box(b)), True))
        return tasks

    def finish(self, second_answers: Sequence[Answer] = ()) -> list[Answer]:
        for i, slots in self._second_plan.items():
            q = self.subqueries[i]
            grounding = self._first_answers[self._grounding[q.region.object]]
            self.answers[i] = combine(q, [second_answers[s] for s in slots], grounding)
        return [a if a is not None else Answer.failed("no answer") for a in self.answers]


def combine(q: Subquery, parts: Sequence[Answer], grounding: Answer) -> Answer:
    """One answer for an object-region subquery asked on each instance's crop."""
    raws = " | ".join(p.raw or "" for p in parts)
    failed = [p for p in parts if p.value is None]
    if failed:
        return Answer.failed(failed[0].error or "no answer", raw=raws)
    confs = [p.confidence for p in parts if p.confidence is not None]
    conf = min(confs) if confs else None
    inst = list(grounding.value or [])
    if isinstance(q, Count):
        return Answer(value=sum(int(p.value) for p in parts), confidence=conf, raw=raws, instances=inst)
    if isinstance(q, Exists):
        return Answer(value=any(bool(p.value) for p in parts), confidence=conf, raw=raws, instances=inst)
    return parts[0]
