"""The built-in vision backend: classical machine vision (OpenCV + numpy), driven by a station profile.

For each image, every object of the profile is segmented once, in dependency order (an object may
look ``within`` another and ``subtract`` others), at a reduced working resolution:

  candidate pixels (colour ranges, brightness, background distance, thin lines)
  -> search area (a fixed box, the parent object's mask or box) -> minus other objects
  -> morphology -> connected components -> optional splits (watershed, concavities, unit area)
  -> grouping (each component, all merged, or the largest) -> acceptance bounds
  -> instances (box, rotated box, mask area) and their measured attributes.

Each instance's ``score`` is the margin to the closest acceptance bound (0.6 at the bound, 1.0 at
20 % inside it); an answer's confidence is lowered by components that narrowly missed a bound, so
an image near a threshold comes back with low confidence instead of a confident wrong answer.

Geometry follows the engine's conventions: boxes in fractions of width/height, ``length`` and
``width_r`` the rotated box's sides over the image's longer side, ``area`` mask area over W*H.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from logicdsl.record import field, record

from .backend import BackendError
from .image import ImageError, ImageRef
from .subquery import (
    Answer,
    Attribute,
    AttributeSpec,
    Count,
    Detect,
    Exists,
    Instance,
    Measure,
    Region,
    Relation,
    Subquery,
)
from .vision_profile import (
    BlobCount,
    ColourClass,
    ColourRange,
    Geometry,
    ObjectRecipe,
    Slot,
    VisionProfile,
    load_profile,
)

#: the recipe fields that decide the pixel mask (objects equal in these share one computation)
_PIXEL_STAGE = {"blur", "colour", "exclude", "brightness", "background", "lines", "combine", "within", "within_mode",
                "within_box", "within_grow", "subtract", "subtract_grow", "morphology"}
#: bounds that sit at a property's natural limit carry no margin information
_NATURAL = {("aspect", 0): 1.0, ("solidity", 1): 1.0, ("extent", 1): 1.0}
#: relative margin to a bound at which an instance's score reaches 1.0
_FULL_MARGIN = 0.2
#: a rejected component this close (relative) outside a bound lowers the answer's confidence
_NEAR_MISS = 0.2
#: sums the three channels of an image (cv2.transform)
_SUM3 = np.ones((1, 3), np.float32)
#: a concavity split cuts a neck at most this many times as wide as its shallower concavity is deep
#: (parts touching in the screw bag: 0.3-0.85; a screw's head over its shank: ~2.5)
_NECK_RATIO = 1.5
#: concavity tips closer than this (working pixels) are a pinch: a disk around them is cut out
_PINCH = 6


def _margin_score(margin: float) -> float:
    """0.6 at the bound, 1.0 at a relative margin of 0.2 or more."""
    return 0.6 + 0.4 * min(1.0, max(0.0, margin) / _FULL_MARGIN)


def _rel_margin(v: float, lo: float, hi: float) -> float:
    """Relative distance of ``v`` inside [lo, hi] (negative outside); an infinite end is no bound."""
    ml = mh = float("inf")
    if lo != -float("inf"):
        ml = (v - lo) / lo if lo > 0 else (float("inf") if v >= lo else -1.0)
    if hi != float("inf"):
        mh = (hi - v) / hi if hi > 0 else (float("inf") if v <= hi else -1.0)
    return min(ml, mh)


def _kernel(n: int) -> np.ndarray:
    n = max(1, int(n))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (n, n))


def _fill_holes(m: np.ndarray) -> np.ndarray:
    if not m.any():
        return m
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(m)
    cv2.drawContours(out, cs, -1, 255, thickness=cv2.FILLED)
    return out


def _hull(m: np.ndarray) -> np.ndarray:
    if not m.any():
        return m
    cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    out = np.zeros_like(m)
    cv2.drawContours(out, [cv2.convexHull(c) for c in cs], -1, 255, thickness=cv2.FILLED)
    return out


_RECT3 = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
_CROSS3 = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
#: above this size a disk is approximated by an octagon of repeated 3x3 steps (3-4x faster)
_DECOMPOSE_FROM = 11


def _erode(m: np.ndarray, n: int) -> np.ndarray:
    if n < _DECOMPOSE_FROM:
        return cv2.erode(m, _kernel(n))
    for i in range(n // 2):
        m = cv2.erode(m, _RECT3 if i % 2 == 0 else _CROSS3)
    return m


def _dilate(m: np.ndarray, n: int) -> np.ndarray:
    if n < _DECOMPOSE_FROM:
        return cv2.dilate(m, _kernel(n))
    for i in range(n // 2):
        m = cv2.dilate(m, _RECT3 if i % 2 == 0 else _CROSS3)
    return m


def apply_morphology(mask: np.ndarray, steps: Sequence[str]) -> np.ndarray:
    """Apply profile morphology steps (``open N``, ``close N``, ``close_v N``, ``close_h N``, ``open_v N``,
    ``open_h N``, ``cut_crossings N``, ``dilate N``, ``erode N``, ``fill_holes``, ``hull``)."""
    for step in steps:
        parts = step.split()
        op = parts[0]
        n = int(parts[1]) if len(parts) > 1 else 0
        if op == "open":
            mask = _dilate(_erode(mask, n), n)
        elif op == "close":
            # pad so a closing does not glue objects to the border or lose edge pixels
            p = n
            padded = cv2.copyMakeBorder(mask, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
            mask = _erode(_dilate(padded, n), n)[p:-p, p:-p]
        elif op in ("close_v", "close_h"):  # a line kernel: bridges gaps along one axis only
            k = cv2.getStructuringElement(cv2.MORPH_RECT, (1, n) if op == "close_v" else (n, 1))
            p = n
            padded = cv2.copyMakeBorder(mask, p, p, p, p, cv2.BORDER_CONSTANT, value=0)
            mask = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, k)[p:-p, p:-p]
        elif op in ("open_v", "open_h"):  # keep only runs at least n long along one axis
            k = cv2.getStructuringElement(cv2.MORPH_RECT, (1, n) if op == "open_v" else (n, 1))
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, k)
        elif op == "cut_crossings":  # split a grid of walls into its segments: remove where runs cross
            kv = cv2.getStructuringElement(cv2.MORPH_RECT, (1, n))
            kh = cv2.getStructuringElement(cv2.MORPH_RECT, (n, 1))
            cross = cv2.bitwise_and(cv2.morphologyEx(mask, cv2.MORPH_OPEN, kv), cv2.morphologyEx(mask, cv2.MORPH_OPEN, kh))
            # 3 px around the crossing too: the fillets of rounded compartment corners would bridge it
            mask = cv2.bitwise_and(mask, cv2.bitwise_not(cv2.dilate(cross, _RECT3, iterations=3)))
        elif op == "dilate":
            mask = _dilate(mask, n)
        elif op == "erode":
            mask = _erode(mask, n)
        elif op == "fill_holes":
            mask = _fill_holes(mask)
        elif op == "hull":
            mask = _hull(mask)
    return mask


class _Frame:
    """One decoded image and its per-resolution colour conversions (computed lazily, once)."""

    def __init__(self, rgb: np.ndarray):
        self.rgb = rgb
        self.H, self.W = rgb.shape[:2]
        self._levels: dict[int, dict[str, np.ndarray]] = {}
        #: pixel-stage masks shared by objects with the same recipe up to their acceptance bounds
        self.memo: dict[Any, np.ndarray] = {}

    def level(self, long_side: int) -> dict[str, np.ndarray]:
        long_side = min(long_side, max(self.W, self.H))
        lv = self._levels.get(long_side)
        if lv is None:
            f = long_side / max(self.W, self.H)
            if abs(f - 1.0) < 1e-6:
                rgb = self.rgb
            else:
                size = (max(1, round(self.W * f)), max(1, round(self.H * f)))
                rgb = cv2.resize(self.rgb, size, interpolation=cv2.INTER_AREA)
            lv = {"rgb": rgb}
            self._levels[long_side] = lv
        return lv

    def space(self, long_side: int, name: str) -> np.ndarray:
        lv = self.level(long_side)
        arr = lv.get(name)
        if arr is None:
            rgb = lv["rgb"]
            if name == "hsv":
                arr = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
            elif name == "lab":
                arr = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
            elif name == "gray":
                arr = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            else:
                arr = rgb
            lv[name] = arr
        return arr


def colour_mask(arr: np.ndarray, r: ColourRange) -> np.ndarray:
    """uint8 0/255 mask of the pixels of ``arr`` (already in ``r.space``) inside the range."""
    lo = np.array(r.low, dtype=np.float64)
    hi = np.array(r.high, dtype=np.float64)
    if r.space == "hsv" and lo[0] > hi[0]:  # hue wraps through red
        a = cv2.inRange(arr, np.array([lo[0], lo[1], lo[2]]), np.array([180, hi[1], hi[2]]))
        b = cv2.inRange(arr, np.array([0, lo[1], lo[2]]), np.array([hi[0], hi[1], hi[2]]))
        return cv2.bitwise_or(a, b)
    return cv2.inRange(arr, lo, hi)


_CHANNEL = {"s": ("hsv", 1), "v": ("hsv", 2), "lab_a": ("lab", 1), "lab_b": ("lab", 2),
            "r": ("rgb", 0), "g": ("rgb", 1), "b": ("rgb", 2)}


def _lines_mask(crop_of, ln, around=None) -> np.ndarray:
    """Thin strokes darker (black-hat) or lighter (top-hat) than their surroundings in one channel.

    ``around(space, pad)``, where given, returns the crop grown by ``pad`` pixels on every side (as far
    as the frame goes) and the slices that cut the crop back out of it: the filter then sees what lies
    outside the crop, so a shading that darkens towards the crop's edge is not taken for a stroke."""
    space, idx = ("gray", None) if ln.channel == "gray" else _CHANNEL[ln.channel]
    if around is not None:
        img, crop = around(space, ln.size // 2 + 1)
    else:
        img, crop = crop_of(space), (slice(None), slice(None))
    if idx is not None:
        img = np.ascontiguousarray(img[..., idx])
    op = cv2.MORPH_BLACKHAT if ln.polarity == "dark" else cv2.MORPH_TOPHAT
    resp = cv2.morphologyEx(img, op, _kernel(ln.size))[crop]
    return ((resp > ln.threshold).astype(np.uint8)) * 255


def ranges_mask(crop_of, ranges: Sequence[ColourRange]) -> np.ndarray | None:
    out = None
    for r in ranges:
        m = colour_mask(crop_of(r.space), r)
        out = m if out is None else cv2.bitwise_or(out, m)
    return out


@record(frozen=False)
class _Seg:
    """One object's segmentation at its working resolution."""

    scale: int
    shape: tuple[int, int]  # (h, w) at that resolution
    mask: np.ndarray  # union of the accepted instances, uint8 0/255, full working frame
    instances: list[Instance] = field(default_factory=list)
    masks: list[tuple[tuple[int, int, int, int], np.ndarray]] = field(default_factory=list)  # (x,y,w,h), bool crop
    near_miss: float = 1.0  # confidence cap from rejected components close to a bound
    margins: list[float] = field(default_factory=list)  # per instance: its smallest relative margin to a bound
    rejected: list[dict[str, Any]] = field(default_factory=list)


@record(frozen=False)
class Detections:
    """Everything the backend found in one image: instances per object, and diagnostics."""

    width: int
    height: int
    objects: dict[str, _Seg]

    def instances(self, name: str) -> list[Instance]:
        seg = self.objects.get(name)
        return list(seg.instances) if seg else []

    def as_list(self) -> list[tuple[str, Instance]]:
        return [(n, i) for n, s in self.objects.items() for i in s.instances]


class VisionBackend:
    """Classical machine vision driven by a station profile (see :mod:`logicdsl.engine.vision_profile`)."""

    name = "vision"
    #: the planner lowers counts, presence, regions, relations and measures to detections; the
    #: backend still answers count/exists/attribute/measure itself when asked (see ``NATIVE``)
    capabilities = frozenset({"detect"})
    NATIVE = frozenset({"detect", "count", "exists", "attribute", "measure"})

    def __init__(self, profile: VisionProfile | str | Path, *, native: bool = False, cache_size: int = 8):
        if isinstance(profile, (str, Path)):
            self.profile_path: Path | None = Path(profile)
            profile = load_profile(profile)
        else:
            self.profile_path = None
        if not isinstance(profile, VisionProfile):
            raise BackendError("the vision backend needs a VisionProfile or the path of a .vision.toml file")
        self.profile = profile
        self._order = profile.order()
        if native:
            self.capabilities = self.NATIVE
        self._cache: OrderedDict[str, Detections] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public
    def detect_all(self, image: ImageRef | np.ndarray | str | Path) -> Detections:
        """Segment every object of the profile in ``image`` (cached per image content)."""
        ref = ImageRef.of(image)
        key = ref.content_hash()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        det = self._segment(ref.load())
        with self._lock:
            self._cache[key] = det
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return det

    def answer(self, image: ImageRef, subqueries: Sequence[Subquery]) -> list[Answer]:
        try:
            det = self.detect_all(image)
        except ImageError as e:
            return [Answer.failed(str(e)) for _ in subqueries]
        out = []
        for q in subqueries:
            try:
                out.append(self._answer_one(det, q))
            except Exception as e:  # noqa: BLE001 - one bad subquery must not sink the batch
                out.append(Answer.failed(f"vision backend error on {q.kind}: {type(e).__name__}: {e}"))
        return out

    # ------------------------------------------------------------------ answering
    def _unknown(self, obj: str) -> Answer:
        known = ", ".join(sorted(self.profile.objects))
        where = f" {self.profile_path}" if self.profile_path else ""
        return Answer.failed(f"the vision profile{where} has no recipe for `{obj}` (it has: {known})")

    def _with_attrs(self, det: Detections, obj: str, wanted: Sequence[AttributeSpec]) -> list[Instance]:
        insts = det.instances(obj)
        if not wanted:
            return insts
        names = {a.name for a in wanted}
        out = []
        for inst in insts:
            attrs = tuple((k, v) for k, v in inst.attributes if k in names)
            scores = tuple((k, v) for k, v in inst.attribute_scores if k in names)
            out.append(Instance(box=inst.box, score=inst.score, area=inst.area, length=inst.length,
                                width_r=inst.width_r, angle=inst.angle, attributes=attrs, attribute_scores=scores))
        return out

    def _conf(self, det: Detections, obj: str, insts: Sequence[Instance]) -> float:
        seg = det.objects[obj]
        return round(min([seg.near_miss] + [i.score for i in insts]), 4)

    def _answer_one(self, det: Detections, q: Subquery) -> Answer:
        if isinstance(q, Relation):
            return Answer.failed("the vision backend does not answer relations natively (ask for detections)")
        obj = q.object
        if obj not in det.objects:
            return self._unknown(obj)
        if isinstance(q, Detect):
            insts = det.instances(obj)
            return Answer(value=insts, confidence=self._conf(det, obj, insts))
        if isinstance(q, (Count, Exists)):
            insts = det.instances(obj)
            if q.region is not None:
                sel = self._in_region(det, insts, q.region)
                if isinstance(sel, Answer):
                    return sel
                insts = sel
            if isinstance(q, Count) and q.where is not None:
                w = q.where
                keep = []
                for i in insts:
                    v = i.attribute(w.attribute.name)
                    if v is None:
                        return Answer.failed(f"`{obj}.{w.attribute.name}` could not be measured on every instance")
                    if (v == w.value) == (w.op == "=="):
                        keep.append(i)
                confs = [i.attribute_score(w.attribute.name) or 1.0 for i in insts]
                conf = min([self._conf(det, obj, insts)] + confs)
                return Answer(value=len(keep), confidence=conf, instances=keep)
            conf = self._conf(det, obj, insts)
            if isinstance(q, Exists):
                return Answer(value=bool(insts), confidence=conf, instances=insts)
            return Answer(value=len(insts), confidence=conf, instances=insts)
        insts = det.instances(obj)
        if len(insts) != 1:
            return Answer.failed(f"found {len(insts)} instances of `{obj}`, need exactly one", )
        inst = insts[0]
        if isinstance(q, Attribute):
            v = inst.attribute(q.attribute.name)
            if v is None:
                rec = self.profile.objects[obj]
                if q.attribute.name not in rec.attributes:
                    return Answer.failed(f"the vision profile has no measurement for `{obj}.{q.attribute.name}`")
                return Answer.failed(f"`{obj}.{q.attribute.name}` could not be measured", )
            conf = min(inst.score, inst.attribute_score(q.attribute.name) or 1.0)
            return Answer(value=v, confidence=conf, instances=[inst])
        if isinstance(q, Measure):
            return Answer(value=float(_measure(inst, q.quantity)), confidence=inst.score, instances=[inst])
        return Answer.failed(f"the vision backend does not answer `{q.kind}` subqueries")

    def _in_region(self, det: Detections, insts: list[Instance], region: Region) -> list[Instance] | Answer:
        if region.kind == "box":
            boxes = [region.box]
        elif region.kind == "object":
            if region.object not in det.objects:
                return self._unknown(region.object)
            boxes = [i.box for i in det.instances(region.object)]
        else:
            if region.object not in det.objects:
                return self._unknown(region.object)
            parents = det.instances(region.object)
            if len(parents) != 1:
                return Answer.failed(f"region `{region.name}` needs exactly one `{region.object}`, found {len(parents)}")
            px0, py0, px1, py1 = parents[0].box
            bx0, by0, bx1, by1 = region.box
            pw, ph = px1 - px0, py1 - py0
            boxes = [(px0 + bx0 * pw, py0 + by0 * ph, px0 + bx1 * pw, py0 + by1 * ph)]
        out = []
        for i in insts:
            cx, cy = i.center
            if any(b[0] <= cx <= b[2] and b[1] <= cy <= b[3] for b in boxes):
                out.append(i)
        return out

    # ------------------------------------------------------------------ segmentation
    def _segment(self, rgb: np.ndarray) -> Detections:
        frame = _Frame(rgb)
        segs: dict[str, _Seg] = {}
        for name in self._order:
            segs[name] = self._segment_object(frame, name, self.profile.objects[name], segs)
        self._resolve_rivals(segs)
        # attributes that look at other objects (slots) run once everything is segmented
        return Detections(width=frame.W, height=frame.H, objects={n: segs[n] for n in self.profile.objects})

    def _resolve_rivals(self, segs: dict[str, _Seg]) -> None:
        """A blob accepted by rival objects stays only with the one it fits with the larger margin
        (ties go to the object named first in the profile)."""
        names = list(self.profile.objects)
        for name in names:
            rivals = self.profile.objects[name].rivals
            seg = segs[name]
            if not rivals or not seg.instances:
                continue
            drop = set()
            for k, inst in enumerate(seg.instances):
                for r in rivals:
                    other = segs[r]
                    for j, o in enumerate(other.instances):
                        if box_iou(inst.box, o.box) < 0.5:
                            continue
                        mine, theirs = seg.margins[k], other.margins[j]
                        if theirs > mine or (theirs == mine and names.index(r) < names.index(name)):
                            drop.add(k)
            if drop:
                keep = [k for k in range(len(seg.instances)) if k not in drop]
                seg.instances = [seg.instances[k] for k in keep]
                seg.masks = [seg.masks[k] for k in keep]
                seg.margins = [seg.margins[k] for k in keep]
                seg.mask[:] = 0
                for (bx, by, bw, bh), m in seg.masks:
                    seg.mask[by:by + bh, bx:bx + bw][m] = 255

    def _segment_object(self, frame: _Frame, name: str, rec: ObjectRecipe, segs: dict[str, _Seg]) -> _Seg:
        scale = min(rec.long_side or self.profile.station.long_side, max(frame.W, frame.H))
        lv = frame.level(scale)
        h, w = lv["rgb"].shape[:2]

        # the area to look at: a fixed box, and the parent's boxes
        x0, y0, x1, y1 = 0, 0, w, h
        if rec.search is not None:
            sx0, sy0, sx1, sy1 = rec.search
            x0, y0, x1, y1 = int(sx0 * w), int(sy0 * h), int(np.ceil(sx1 * w)), int(np.ceil(sy1 * h))
        parent_boxes: list[tuple[int, int, int, int]] = []
        if rec.within is not None:
            parent = segs[rec.within]
            g = rec.within_grow
            for inst in parent.instances:
                bx0, by0, bx1, by1 = inst.box
                if rec.within_box is not None:
                    rx0, ry0, rx1, ry1 = rec.within_box
                    bw, bh = bx1 - bx0, by1 - by0
                    bx0, by0, bx1, by1 = bx0 + rx0 * bw, by0 + ry0 * bh, bx0 + rx1 * bw, by0 + ry1 * bh
                parent_boxes.append((max(0, int(bx0 * w) - g), max(0, int(by0 * h) - g),
                                     min(w, int(np.ceil(bx1 * w)) + g), min(h, int(np.ceil(by1 * h)) + g)))
            if not parent_boxes:
                return _Seg(scale=scale, shape=(h, w), mask=np.zeros((h, w), np.uint8))
            x0 = max(x0, min(b[0] for b in parent_boxes))
            y0 = max(y0, min(b[1] for b in parent_boxes))
            x1 = min(x1, max(b[2] for b in parent_boxes))
            y1 = min(y1, max(b[3] for b in parent_boxes))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return _Seg(scale=scale, shape=(h, w), mask=np.zeros((h, w), np.uint8))

        key = (scale, (x0, y0, x1, y1), tuple(parent_boxes), rec.model_dump_json(include=_PIXEL_STAGE))
        mask = frame.memo.get(key)
        if mask is None:
            mask = self._pixel_stage(frame, scale, rec, (h, w), (x0, y0, x1, y1), parent_boxes, segs)
            frame.memo[key] = mask
        full = np.zeros((h, w), np.uint8)
        full[y0:y1, x0:x1] = mask
        return self._instances(frame, scale, (h, w), full, rec, (x0, y0, x1, y1), segs, key)

    def _pixel_stage(self, frame: _Frame, scale: int, rec: ObjectRecipe, shape: tuple[int, int],
                     roi: tuple[int, int, int, int], parent_boxes: list, segs: dict[str, _Seg]) -> np.ndarray:
        h, w = shape
        x0, y0, x1, y1 = roi

        if rec.blur >= 3:
            k = rec.blur | 1
            conv = frame.memo.get(("blur", scale, roi, k))
            if conv is None:
                blurred = cv2.medianBlur(np.ascontiguousarray(frame.space(scale, "rgb")[y0:y1, x0:x1]), k)
                conv = frame.memo[("blur", scale, roi, k)] = {"rgb": blurred}
            blurred = conv["rgb"]

            def crop_of(space: str) -> np.ndarray:
                if space not in conv:
                    code = {"hsv": cv2.COLOR_RGB2HSV, "lab": cv2.COLOR_RGB2Lab, "gray": cv2.COLOR_RGB2GRAY}[space]
                    conv[space] = cv2.cvtColor(blurred, code)
                return conv[space]
            around = None
        else:
            def crop_of(space: str) -> np.ndarray:
                return frame.space(scale, space)[y0:y1, x0:x1]

            def around(space: str, pad: int) -> tuple[np.ndarray, tuple[slice, slice]]:
                ay0, ax0 = max(0, y0 - pad), max(0, x0 - pad)
                grown = frame.space(scale, space)[ay0:min(h, y1 + pad), ax0:min(w, x1 + pad)]
                return grown, (slice(y0 - ay0, y1 - ay0), slice(x0 - ax0, x1 - ax0))

        # candidate pixels
        sources: list[np.ndarray] = []
        if rec.colour:
            sources.append(ranges_mask(crop_of, rec.colour))
        if rec.brightness is not None:
            lo, hi = rec.brightness
            sources.append(cv2.inRange(crop_of("gray"), lo, hi))
        if rec.background is not None:
            sources.append(self._background_mask(frame, scale, rec, crop_of, (x0, y0, x1, y1)))
        for ln in rec.lines:
            sources.append(_lines_mask(crop_of, ln, around))
        mask = sources[0]
        for s in sources[1:]:
            mask = cv2.bitwise_and(mask, s) if rec.combine == "all" else cv2.bitwise_or(mask, s)
        if rec.exclude:
            mask = cv2.bitwise_and(mask, cv2.bitwise_not(ranges_mask(crop_of, rec.exclude)))

        # restrict to the parent, remove others
        if rec.within is not None:
            if rec.within_mode == "mask" and rec.within_box is None:
                pm = _resize_mask(segs[rec.within].mask, (h, w))[y0:y1, x0:x1]
                if rec.within_grow:
                    pm = cv2.dilate(pm, _kernel(2 * rec.within_grow + 1))
            else:
                pm = np.zeros((y1 - y0, x1 - x0), np.uint8)
                for bx0, by0, bx1, by1 in parent_boxes:
                    pm[max(0, by0 - y0):max(0, by1 - y0), max(0, bx0 - x0):max(0, bx1 - x0)] = 255
            mask = cv2.bitwise_and(mask, pm)
        for other in rec.subtract:
            om = _resize_mask(segs[other].mask, (h, w))[y0:y1, x0:x1]
            if rec.subtract_grow:
                om = cv2.dilate(om, _kernel(2 * rec.subtract_grow + 1))
            mask = cv2.bitwise_and(mask, cv2.bitwise_not(om))

        return apply_morphology(mask, rec.morphology)

    def _background_mask(self, frame: _Frame, scale: int, rec: ObjectRecipe, crop_of, roi) -> np.ndarray:
        bg = rec.background
        if bg.mode == "local":
            return self._local_background(frame, scale, bg, crop_of, roi)
        lab_full = frame.space(scale, "lab")
        if bg.colour == "auto":
            border = np.concatenate([lab_full[0], lab_full[-1], lab_full[:, 0], lab_full[:, -1]])
            ref = np.median(border, axis=0)
        else:
            ref = cv2.cvtColor(np.uint8([[bg.colour]]), cv2.COLOR_RGB2Lab)[0, 0].astype(np.float64)
        # squared Lab distance above distance squared (OpenCV per-pixel ops: twice as fast as numpy's)
        d = cv2.subtract(crop_of("lab").astype(np.float32), (float(ref[0]), float(ref[1]), float(ref[2]), 0.0))
        sq = cv2.transform(cv2.multiply(d, d), _SUM3)
        return cv2.threshold(sq, float(bg.distance) ** 2, 255, cv2.THRESH_BINARY)[1].astype(np.uint8)

    def _local_background(self, frame: _Frame, scale: int, bg, crop_of, roi) -> np.ndarray:
        key = ("local-bg", scale, bg.size, bg.polarity)
        model = frame.memo.get(key)
        if model is None:
            gray = frame.space(scale, "gray")
            h, w = gray.shape
            f = 4
            small = cv2.resize(gray, (max(1, w // f), max(1, h // f)), interpolation=cv2.INTER_AREA)
            k = max(3, bg.size // f) | 1
            op = cv2.MORPH_CLOSE if bg.polarity == "dark" else cv2.MORPH_OPEN
            pad = k
            small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            small = cv2.morphologyEx(small, op, _kernel(k))[pad:-pad, pad:-pad]
            small = cv2.GaussianBlur(small, (0, 0), max(1.0, k / 4))
            model = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            frame.memo[key] = model
        x0, y0, x1, y1 = roi
        g = crop_of("gray")
        m = model[y0:y1, x0:x1]
        diff = cv2.subtract(m, g) if bg.polarity == "dark" else cv2.subtract(g, m)
        return ((diff > bg.distance).astype(np.uint8)) * 255

    def _instances(self, frame: _Frame, scale: int, shape: tuple[int, int], mask: np.ndarray,
                   rec: ObjectRecipe, roi: tuple[int, int, int, int], segs: dict[str, _Seg], key=None) -> _Seg:
        h, w = shape
        x0, y0, x1, y1 = roi
        sub = mask[y0:y1, x0:x1]
        split = rec.split
        if split is not None and split.min_distance is not None and sub.any():
            n, labels = _watershed_split(sub, split.min_distance)
            stats = _stats_from_labels(labels, n)
        else:
            cc = frame.memo.get(("cc", key)) if key is not None else None
            if cc is None:
                cc = cv2.connectedComponentsWithStats(sub, connectivity=8)[:3]
                if key is not None:
                    frame.memo[("cc", key)] = cc
            n, labels, stats = cc
        if split is not None and (split.concavity is not None or split.unit_area is not None):
            labels, stats = labels.copy(), stats.copy()  # the components may be shared with other objects
            if split.concavity is not None:
                n, labels, stats = _split_at_concavities(labels, stats, n, split.concavity, split.max_parts)
            if split.unit_area is not None:
                n, labels, stats = _split_by_area(labels, stats, n, split.unit_area * w * h, split.max_parts)
        img_area = float(w * h)
        min_px = rec.min_component * img_area
        comps = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= max(1, min_px)]
        groups: list[list[int]]
        if rec.group == "components":
            groups = [[i] for i in comps]
        elif rec.group == "largest":
            groups = [[max(comps, key=lambda i: stats[i, cv2.CC_STAT_AREA])]] if comps else []
        else:
            groups = [comps] if comps else []

        seg = _Seg(scale=scale, shape=(h, w), mask=np.zeros((h, w), np.uint8))
        candidates = []
        longer = float(max(w, h))
        for grp in groups:
            gx0 = min(stats[i, cv2.CC_STAT_LEFT] for i in grp)
            gy0 = min(stats[i, cv2.CC_STAT_TOP] for i in grp)
            gx1 = max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in grp)
            gy1 = max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in grp)
            lab_crop = labels[gy0:gy1, gx0:gx1]
            m = np.isin(lab_crop, grp) if len(grp) > 1 else (lab_crop == grp[0])
            px = float(sum(stats[i, cv2.CC_STAT_AREA] for i in grp))
            m8 = m.astype(np.uint8)
            cs, _ = cv2.findContours(m8, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            pts = np.concatenate(cs).reshape(-1, 2).astype(np.float32)
            (_, _), (rw, rh), angle = cv2.minAreaRect(pts)
            rw, rh = rw + 1.0, rh + 1.0
            hull_area = float(cv2.contourArea(cv2.convexHull(pts))) if len(pts) >= 3 else px
            bw, bh = gx1 - gx0, gy1 - gy0
            props = {
                "area": px / img_area,
                "aspect": max(rw, rh) / max(min(rw, rh), 1e-9),
                "solidity": min(1.0, px / max(hull_area, 1.0)),
                "extent": px / float(bw * bh),
                "length": max(rw, rh) / longer,
                "width": min(rw, rh) / longer,
                "box_width": bw / w,
                "box_height": bh / h,
            }
            score, worst, worst_key = 1.0, float("inf"), None
            for key, val in props.items():
                b = getattr(rec, key)
                if b is None:
                    continue
                lo, hi = b
                if lo <= _NATURAL.get((key, 0), -1.0):
                    lo = -float("inf")
                if hi >= _NATURAL.get((key, 1), float("inf")):
                    hi = float("inf")
                mg = _rel_margin(val, lo, hi)
                if mg < worst:
                    worst, worst_key = mg, key
            if worst_key is not None:
                score = _margin_score(worst)
            ox, oy = x0 + gx0, y0 + gy0
            if rec.median_colour and (worst >= 0 or worst_key is None):
                med_ok = False
                for r in rec.median_colour:
                    arr = frame.space(scale, r.space)[oy:oy + (gy1 - gy0), ox:ox + (gx1 - gx0)][m]
                    if arr.size == 0:
                        continue
                    med = np.median(arr.reshape(len(arr), -1), axis=0)
                    med_ok = bool(cv2.inRange(med.reshape(1, 1, -1).astype(np.uint8),
                                              np.array(r.low, np.float64), np.array(r.high, np.float64)).any()) \
                        if not (r.space == "hsv" and r.low[0] > r.high[0]) else bool(colour_mask(
                            med.reshape(1, 1, -1).astype(np.uint8), r).any())
                    if med_ok:
                        break
                if not med_ok:
                    worst, worst_key = -1.0, "median_colour"
            candidates.append({
                "ok": worst >= 0 or worst_key is None, "worst": worst, "worst_key": worst_key, "score": score,
                "bbox": (int(ox), int(oy), int(bw), int(bh)), "mask": m, "px": px, "props": props,
                "rbox": (rw, rh, angle),
            })
        accepted = [c for c in candidates if c["ok"]]
        rejected = [c for c in candidates if not c["ok"]]
        if rec.max_instances is not None and len(accepted) > rec.max_instances:
            accepted.sort(key=lambda c: -c["px"])
            rejected += accepted[rec.max_instances:]
            accepted = accepted[: rec.max_instances]
        accepted.sort(key=lambda c: (c["bbox"][1], c["bbox"][0]))
        for c in rejected:
            if c["worst"] is not None and c["worst"] != float("inf") and -c["worst"] < _NEAR_MISS:
                seg.near_miss = min(seg.near_miss, 0.6 - 0.1 * (1 - (-c["worst"]) / _NEAR_MISS))
            seg.rejected.append({"box": _frac_box(c["bbox"], w, h), "failed": c["worst_key"],
                                 "value": round(float(c["props"].get(c["worst_key"], 0.0)), 5) if c["worst_key"] else None})
        for c in accepted:
            bx, by, bw, bh = c["bbox"]
            seg.mask[by:by + bh, bx:bx + bw][c["mask"]] = 255
            seg.masks.append((c["bbox"], c["mask"]))
            seg.margins.append(float(c["worst"]))
            rw, rh, angle = c["rbox"]
            seg.instances.append(Instance(
                box=_frac_box(c["bbox"], w, h), score=round(float(c["score"]), 4), area=float(c["px"] / img_area),
                length=float(max(rw, rh) / longer), width_r=float(min(rw, rh) / longer), angle=float(angle),
            ))
        if rec.attributes and seg.instances:
            self._measure_attributes(frame, scale, rec, seg, segs)
        return seg

    # ------------------------------------------------------------------ attributes
    def _measure_attributes(self, frame: _Frame, scale: int, rec: ObjectRecipe, seg: _Seg,
                            segs: dict[str, _Seg]) -> None:
        h, w = seg.shape
        new = []
        for inst, (bbox, m) in zip(seg.instances, seg.masks):
            values: dict[str, Any] = {}
            scores: dict[str, float] = {}
            for aname, arec in rec.attributes.items():
                if isinstance(arec, ColourClass):
                    v, s = _colour_class(frame, scale, bbox, m, arec)
                elif isinstance(arec, BlobCount):
                    v, s = _blob_count(frame, scale, bbox, m, arec)
                elif isinstance(arec, Geometry):
                    v, s = _geometry(inst, arec.quantity), 1.0
                else:
                    continue
                if v is not None:
                    values[aname] = _py(v)
                    scores[aname] = round(float(s), 4)
            for aname, arec in rec.attributes.items():
                if isinstance(arec, Slot):
                    v, s = _slot(inst, arec, values, segs.get(arec.other), (h, w))
                    if v is not None:
                        values[aname] = _py(v)
                        scores[aname] = round(float(s), 4)
            new.append(Instance(box=inst.box, score=inst.score, area=inst.area, length=inst.length,
                                width_r=inst.width_r, angle=inst.angle,
                                attributes=tuple(sorted(values.items())),
                                attribute_scores=tuple(sorted(scores.items()))))
        seg.instances = new


def _py(v: Any) -> Any:
    """numpy scalars to plain Python values (the evaluator expects bool/int/float/str)."""
    return v.item() if isinstance(v, np.generic) else v


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _frac_box(bbox: tuple[int, int, int, int], w: int, h: int) -> tuple[float, float, float, float]:
    bx, by, bw, bh = (int(v) for v in bbox)
    return (bx / w, by / h, (bx + bw) / w, (by + bh) / h)


def _resize_mask(m: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if m.shape == shape:
        return m
    return cv2.resize(m, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def _inner_crop(bbox, inner, m):
    bx, by, bw, bh = bbox
    if inner is None:
        return bx, by, bw, bh, m
    ix0, iy0, ix1, iy1 = inner
    cx0, cy0 = int(ix0 * bw), int(iy0 * bh)
    cx1, cy1 = max(cx0 + 1, int(round(ix1 * bw))), max(cy0 + 1, int(round(iy1 * bh)))
    return bx + cx0, by + cy0, cx1 - cx0, cy1 - cy0, m[cy0:cy1, cx0:cx1]


def _colour_class(frame: _Frame, scale: int, bbox, m: np.ndarray, a: ColourClass) -> tuple[Any, float]:
    bx, by, bw, bh, mm = _inner_crop(bbox, a.inner, m)
    sel = mm if a.region == "mask" else np.ones_like(mm, dtype=bool)
    total = int(sel.sum())
    if total == 0:
        return None, 0.0

    def crop_of(space: str) -> np.ndarray:
        return frame.space(scale, space)[by:by + bh, bx:bx + bw]

    votes = {}
    fracs = {}
    masks = {cls: (ranges_mask(crop_of, ranges) > 0) & sel for cls, ranges in a.classes.items()}
    denom = total
    if a.normalise:
        covered = np.zeros_like(sel)
        for cm in masks.values():
            covered |= cm
        n_covered = int(covered.sum())
        if n_covered < a.min_fraction * total:
            return None, 0.0
        denom = max(1, n_covered)
    for cls, cm in masks.items():
        frac = float(cm.sum()) / denom
        fracs[cls] = frac
        exp = a.expected.get(cls)
        votes[cls] = min(1.0, frac / exp) if exp else frac
    ranked = sorted(votes, key=lambda k: -votes[k])
    best = ranked[0]
    if fracs[best] < a.min_fraction:
        return None, 0.0
    second = votes[ranked[1]] if len(ranked) > 1 else 0.0
    conf = 0.5 + 0.5 * (votes[best] - second) / max(votes[best], 1e-9)
    return best, conf


def _blob_count(frame: _Frame, scale: int, bbox, m: np.ndarray, a: BlobCount) -> tuple[Any, float]:
    bx, by, bw, bh, _ = _inner_crop(bbox, a.inner, m)

    def crop_of(space: str) -> np.ndarray:
        return frame.space(scale, space)[by:by + bh, bx:bx + bw]

    srcs = []
    if a.colour:
        srcs.append(ranges_mask(crop_of, a.colour))
    if a.brightness is not None:
        srcs.append(cv2.inRange(crop_of("gray"), a.brightness[0], a.brightness[1]))
    if a.lines is not None:
        srcs.append(_lines_mask(crop_of, a.lines))
    if not srcs:
        return None, 0.0
    mask = srcs[0]
    for s in srcs[1:]:
        mask = cv2.bitwise_and(mask, s)
    mask = apply_morphology(mask, a.morphology)
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    box_area = float(bbox[2] * bbox[3])
    lo, hi = a.area
    count, worst = 0, float("inf")
    for i in range(1, n):
        f = stats[i, cv2.CC_STAT_AREA] / box_area
        mg = _rel_margin(f, lo, hi)
        if mg >= 0:
            count += 1
        worst = min(worst, abs(mg))
    conf = _margin_score(worst) if worst != float("inf") else 1.0
    return count, conf


def _geometry(inst: Instance, q: str) -> float:
    x0, y0, x1, y1 = inst.box
    return {
        "length": inst.length or 0.0,
        "width": inst.width_r or 0.0,
        "area": inst.area or 0.0,
        "box_width": x1 - x0,
        "box_height": y1 - y0,
        "aspect": (inst.length or 0.0) / max(inst.width_r or 1e-9, 1e-9),
        "center_x": (x0 + x1) / 2,
        "center_y": (y0 + y1) / 2,
    }[q]


def _slot(inst: Instance, a: Slot, values: dict[str, Any], other: _Seg | None,
          shape: tuple[int, int]) -> tuple[Any, float]:
    if other is None:
        return None, 0.0
    n = a.slots if a.slots is not None else values.get(a.slots_from)
    if not isinstance(n, (int, float)) or n < 1:
        return None, 0.0
    n = int(n)
    h, w = other.shape
    x0, y0, x1, y1 = inst.box
    bw, bh = x1 - x0, y1 - y0
    if a.axis == "y":  # the other object arrives from the side: look left and right of the box
        gx0, gx1, gy0, gy1 = x0 - a.reach * bw, x1 + a.reach * bw, y0, y1
    else:
        gx0, gx1, gy0, gy1 = x0, x1, y0 - a.reach * bh, y1 + a.reach * bh
    px0, px1 = max(0, int(gx0 * w)), min(w, int(np.ceil(gx1 * w)))
    py0, py1 = max(0, int(gy0 * h)), min(h, int(np.ceil(gy1 * h)))
    sub = other.mask[py0:py1, px0:px1]
    ys, xs = np.nonzero(sub)
    if len(ys) == 0:
        return None, 0.0
    if a.axis == "y":
        pos = ((ys.mean() + py0) / h - y0) / max(bh, 1e-9)
    else:
        pos = ((xs.mean() + px0) / w - x0) / max(bw, 1e-9)
    pos = min(max(pos, 0.0), 0.999999)
    k = int(pos * n)
    frac = pos * n - k
    conf = 0.5 + min(frac, 1 - frac)  # 1.0 mid-slot, 0.5 on a boundary
    return k + 1, conf


def _measure(inst: Instance, q: str) -> float:
    x0, y0, x1, y1 = inst.box
    return {
        "left": x0, "right": x1, "top": y0, "bottom": y1, "width": x1 - x0, "height": y1 - y0,
        "center_x": (x0 + x1) / 2, "center_y": (y0 + y1) / 2,
        "area": inst.area if inst.area is not None else (x1 - x0) * (y1 - y0),
        "length": inst.length if inst.length is not None else max(x1 - x0, y1 - y0),
    }[q]


def _watershed_split(mask: np.ndarray, min_distance: float) -> tuple[int, np.ndarray]:
    """Split touching blobs: seeds are the distance-transform peaks at least ``min_distance`` deep."""
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    peaks = ((dist >= min_distance) & (dist >= cv2.dilate(dist, _kernel(max(3, int(min_distance)))) - 1e-3))
    peaks = cv2.dilate(peaks.astype(np.uint8), _kernel(3))
    nseed, seeds = cv2.connectedComponents(peaks)
    n, labels = cv2.connectedComponents(mask)
    if nseed <= 1:
        return n, labels
    markers = seeds.astype(np.int32)
    markers[mask == 0] = 0
    # components without a seed keep their own label
    unseeded = np.setdiff1d(np.unique(labels[mask > 0]), np.unique(labels[(markers > 0)]))
    nxt = nseed
    for u in unseeded:
        markers[labels == u] = nxt
        nxt += 1
    bg = (mask == 0)
    markers[bg] = nxt  # background marker
    rgb = cv2.cvtColor(mask, cv2.COLOR_GRAY2BGR)
    cv2.watershed(rgb, markers)
    markers[(markers == nxt) | (markers < 0)] = 0
    markers[mask == 0] = 0
    return nxt, markers


def _split_at_concavities(labels: np.ndarray, stats: np.ndarray, n: int, min_depth: float, max_parts: int):
    """Cut components where two concavities at least ``min_depth`` deep face each other across a neck
    narrower than 1.5 times the shallower one (see ``Split.concavity``), then share the component's
    pixels out among the pieces (see ``_share_out``)."""
    min_piece = min_depth * min_depth
    new_stats = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area < 2 * min_piece:
            continue
        crop = labels[y:y + bh, x:x + bw]
        own = (crop == i).astype(np.uint8)
        pieces = _cut_at_concavities(own, min_depth, min_piece, max_parts)
        if len(pieces) < 2:
            continue
        pieces = _share_out(own, pieces)
        crop[own > 0] = 0
        for k, piece in enumerate(pieces):
            lab = i if k == 0 else n + len(new_stats)
            crop[piece] = lab
            row = _stats_row(*np.nonzero(piece), x, y)
            if k == 0:
                stats[i] = row
            else:
                new_stats.append(row)
    if not new_stats:
        return n, labels, stats
    return n + len(new_stats), labels, np.vstack([stats, np.array(new_stats, stats.dtype)])


def _cut_at_concavities(m: np.ndarray, min_depth: float, min_piece: float, max_parts: int) -> list[np.ndarray]:
    """The pieces of one component (boolean masks of its crop), cut recursively at facing concavities."""
    cut = _concavity_cut(m, min_depth)
    if cut is None:
        return [m > 0]
    cut_mask = m.copy()
    if isinstance(cut[1], int):  # a pinch: the concavities meet, or sit side by side, at one spot
        cv2.circle(cut_mask, cut[0], cut[1], 0, -1)
    else:
        cv2.line(cut_mask, cut[0], cut[1], 0, 1, cv2.LINE_4)  # a 4-connected line separates 8-connected pieces
    k, lab, st, _ = cv2.connectedComponentsWithStats(cut_mask, connectivity=8)
    big = [j for j in range(1, k) if st[j, cv2.CC_STAT_AREA] >= min_piece]
    if not 2 <= len(big) <= max_parts:
        return [m > 0]
    pieces: list[np.ndarray] = []
    for idx, j in enumerate(big):
        budget = max_parts - len(pieces) - (len(big) - idx - 1)
        part = _without_slivers((lab == j).astype(np.uint8))
        if part is None:
            continue
        pieces += _cut_at_concavities(part, min_depth, min_piece, budget) if budget >= 2 else [part > 0]
    return pieces if len(pieces) >= 2 else [m > 0]


def _share_out(own: np.ndarray, pieces: list[np.ndarray]) -> list[np.ndarray]:
    """The component's pixels given to the nearest piece core (a piece eroded by 2 px): a straight cut
    set back from where two parts touch (a nut's corner against a washer) would take the corner's tip
    off; sharing out by distance gives it back to the part it belongs to."""
    seeds = np.zeros(own.shape, np.int32)
    for k, piece in enumerate(pieces, start=1):
        core = cv2.erode(piece.astype(np.uint8), _kernel(5))
        seeds[(core if core.any() else piece.astype(np.uint8)) > 0] = k
    _, nearest = cv2.distanceTransformWithLabels((seeds == 0).astype(np.uint8), cv2.DIST_L2, 5,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    # DIST_LABEL_PIXEL gives each seed pixel a number of its own: map the numbers to pieces
    is_seed = seeds > 0
    owner = np.zeros(int(nearest.max()) + 1, np.int32)
    owner[nearest[is_seed]] = seeds[is_seed]
    shared = owner[nearest] * (own > 0)
    out = []
    for k in range(1, len(pieces) + 1):
        part = _largest((shared == k).astype(np.uint8))
        if part is not None:
            out.append(part > 0)
    return out if len(out) >= 2 else pieces


def _without_slivers(part: np.ndarray) -> np.ndarray | None:
    """A cut piece without what a straight cut left on it of its neighbour (a screw head's corner on a
    washer): opened with a disk as wide as the piece's inscribed radius, then grown back by 2 px within
    the piece, so its own corners come back and a sliver narrower than that disk does not."""
    r = float(cv2.distanceTransform(part, cv2.DIST_L2, 5).max())
    core = _largest(cv2.morphologyEx(part, cv2.MORPH_OPEN, _kernel(max(3, int(r) | 1))))
    if core is None:
        return None
    return _largest(cv2.bitwise_and(part, cv2.dilate(core, _kernel(5))))


def _largest(m: np.ndarray) -> np.ndarray | None:
    """The largest 8-connected component of a 0/1 mask (None if it is empty)."""
    k, lab, st, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if k <= 1:
        return None
    if k == 2:
        return m
    return (lab == 1 + int(np.argmax(st[1:, cv2.CC_STAT_AREA]))).astype(np.uint8)


def _concavity_cut(m: np.ndarray, min_depth: float) -> tuple[tuple[int, int], tuple[int, int] | int] | None:
    """The shortest line between two concavities at least ``min_depth`` deep that is shorter than 1.5
    times the shallower one and runs inside the mask, extended 2 px past both ends; for tips closer
    than ``_PINCH`` px, the centre and radius of a disk to cut out instead; None if there is none."""
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    c = max(contours, key=len)
    if len(c) < 8:
        return None
    try:
        defects = cv2.convexityDefects(c, cv2.convexHull(c, returnPoints=False))
    except cv2.error:  # a contour whose hull indices are not monotonic (rare, thin self-touching outlines)
        return None
    if defects is None:
        return None
    defects = defects.reshape(-1, 4)
    defects = defects[defects[:, 3] >= min_depth * 256]
    # the deepest 16 are plenty for parts that touch; a ragged blob would make the pairing quadratic
    defects = defects[np.argsort(-defects[:, 3], kind="stable")[:16]]
    deep = [(c[f][0].astype(np.float64), d / 256.0) for _, _, f, d in defects]
    best = None
    along = np.linspace(0.1, 0.9, 9)[:, None]
    for a in range(len(deep)):
        for b in range(a + 1, len(deep)):
            (p, dp), (q, dq) = deep[a], deep[b]
            length = float(np.hypot(*(q - p)))
            if length >= _NECK_RATIO * min(dp, dq) or (best is not None and length >= best[0]):
                continue
            pts = np.rint(p + along * (q - p)).astype(int)
            if np.count_nonzero(m[pts[:, 1], pts[:, 0]]) < 8:
                continue
            best = (length, p, q)
    if best is None:
        return None
    length, p, q = best
    if length < _PINCH:
        # the concavities' tips are a few pixels apart, not necessarily across the neck: a line through
        # them can run along it, so the spot between them is cut out instead
        mid = (int(round((p[0] + q[0]) / 2)), int(round((p[1] + q[1]) / 2)))
        return mid, int(np.ceil(length / 2)) + 2
    u = (q - p) / length
    p0, q0 = p - 2 * u, q + 2 * u
    return ((int(round(p0[0])), int(round(p0[1]))), (int(round(q0[0])), int(round(q0[1]))))


def _split_by_area(labels: np.ndarray, stats: np.ndarray, n: int, unit_px: float, max_parts: int = 3):
    """Cut each component of about k >= 2 unit areas into k parts by k-means on its pixel coordinates."""
    extra = []
    for i in range(1, n):
        k = int(round(stats[i, cv2.CC_STAT_AREA] / unit_px))
        if k < 2 or k > max_parts or stats[i, cv2.CC_STAT_AREA] < 1.5 * unit_px:
            continue
        x, y, bw, bh = (int(v) for v in stats[i, :4])
        ys, xs = np.nonzero(labels[y:y + bh, x:x + bw] == i)
        pts = np.stack([xs, ys], axis=1).astype(np.float32)
        crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.5)
        cv2.setRNGSeed(0)
        _, assign, _ = cv2.kmeans(pts, k, None, crit, 3, cv2.KMEANS_PP_CENTERS)
        assign = assign.ravel()
        for j in range(1, k):
            sel = assign == j
            labels[y + ys[sel], x + xs[sel]] = n + len(extra)
            extra.append((n + len(extra), i))
    if not extra:
        return n, labels, stats
    new_n = n + len(extra)
    stats = np.vstack([stats, np.zeros((len(extra), 5), stats.dtype)])
    for lab in {i for _, i in extra} | {e for e, _ in extra}:
        stats[lab] = _stats_row(*np.nonzero(labels == lab))
    return new_n, labels, stats


def _stats_from_labels(labels: np.ndarray, n: int) -> np.ndarray:
    stats = np.zeros((max(n, 1), 5), np.int32)
    for i in range(1, n):
        ys, xs = np.nonzero(labels == i)
        if len(xs) == 0:
            continue
        stats[i] = _stats_row(ys, xs)
    return stats


def _stats_row(ys: np.ndarray, xs: np.ndarray, x0: int = 0, y0: int = 0) -> tuple[int, int, int, int, int]:
    """A component's row of ``connectedComponentsWithStats`` (left, top, width, height, area) from its
    pixel coordinates (``np.nonzero`` of its mask), offset by (x0, y0) when the mask is a crop."""
    return (x0 + int(xs.min()), y0 + int(ys.min()), int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1,
            len(xs))
