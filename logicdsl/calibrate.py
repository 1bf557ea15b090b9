"""Calibration: fit a vision profile's colour ranges and size bounds from a few good images with
scene annotations, so nobody tunes HSV numbers by hand.

The profile given is the template: it says which objects exist and how each is segmented. For every
object with a ``colour`` source, calibration replaces the colour ranges with the HSV box that covers
the annotated pixels (the central part of each annotated box or rotated box, where the object is
and the background is not) between the ``low``/``high`` percentiles, widened by ``pad``; for every
acceptance bound the template sets (``area``, ``length``, ``width``, ``aspect``, ``box_width``,
``box_height``) it sets ``[min / (1 + margin), max * (1 + margin)]`` over the annotated instances.
Colour-class attributes whose class names match annotated attribute values get their classes fitted
the same way. Objects that use only lines or brightness keep their recipe; their bounds are fitted.

``logicdsl calibrate TEMPLATE.vision.toml IMAGES... --out NEW.vision.toml`` (scene JSON beside each
image as ``<image>.json`` — the synthetic datasets' layout).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from logicdsl.engine.image import ImageRef
from logicdsl.engine.scene_format import Scene, SceneObject, load_scene
from logicdsl.engine.vision_profile import ColourClass, ColourRange, VisionProfile

SIZE_KEYS = ("area", "length", "width", "aspect", "box_width", "box_height")  # annotated geometry


class CalibrationError(Exception):
    """Calibration cannot run (no annotated images, an object never annotated); one line."""


@dataclass
class Samples:
    """Per object: HSV pixels (N x 3, uint8) and geometry measurements of each annotated instance."""

    hsv: list[np.ndarray] = field(default_factory=list)
    ring: list[np.ndarray] = field(default_factory=list)  # pixels just around each instance's box
    by_value: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)  # attr -> value -> pixels
    geometry: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in SIZE_KEYS})


def _object_mask(o: SceneObject, w: int, h: int, shrink: float) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """A boolean mask of the central part of the object's (rotated) box, with its pixel bbox."""
    import cv2

    if o.rbox is not None:
        r = o.rbox
        pts = cv2.boxPoints(((r.cx, r.cy), (max(1.0, r.w * (1 - shrink)), max(1.0, r.h * (1 - shrink))), r.angle))
    else:
        x0, y0, x1, y1 = o.box
        cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * (1 - shrink), (y1 - y0) * (1 - shrink)
        pts = np.array([[cx - bw / 2, cy - bh / 2], [cx + bw / 2, cy - bh / 2],
                        [cx + bw / 2, cy + bh / 2], [cx - bw / 2, cy + bh / 2]], np.float32)
    x0 = max(0, int(np.floor(pts[:, 0].min())))
    y0 = max(0, int(np.floor(pts[:, 1].min())))
    x1 = min(w, int(np.ceil(pts[:, 0].max())) + 1)
    y1 = min(h, int(np.ceil(pts[:, 1].max())) + 1)
    m = np.zeros((max(1, y1 - y0), max(1, x1 - x0)), np.uint8)
    cv2.fillPoly(m, [np.int32(np.round(pts - [x0, y0]))], 1)
    return (x0, y0, x1, y1), m.astype(bool)


BACKGROUND = "\0background"


def collect(pairs: Iterable[tuple[Path, Scene]], shrink: float = 0.3, max_pixels: int = 4000,
            seed: int = 0) -> dict[str, Samples]:
    """Sample annotated pixels and geometry per object label over (image, scene) pairs; the pixels
    outside every annotated box are sampled too, under the key ``BACKGROUND``."""
    import cv2

    rng = np.random.default_rng(seed)
    out: dict[str, Samples] = {}
    for path, scene in pairs:
        rgb = ImageRef.of(path).load()
        h, w = rgb.shape[:2]
        if (w, h) != (scene.width, scene.height):
            raise CalibrationError(f"{path}: image is {w}x{h} but its scene says {scene.width}x{scene.height}")
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
        longer = float(max(w, h))
        outside = np.ones((h, w), bool)
        for o in scene.objects:
            x0, y0, x1, y1 = (int(v) for v in o.box)
            outside[max(0, y0):y1 + 1, max(0, x0):x1 + 1] = False
        bg = hsv[outside]
        if len(bg) > 4 * max_pixels:
            bg = bg[rng.choice(len(bg), 4 * max_pixels, replace=False)]
        if len(bg):
            out.setdefault(BACKGROUND, Samples()).hsv.append(bg)
        for o in scene.objects:
            s = out.setdefault(o.label, Samples())
            (x0, y0, x1, y1), m = _object_mask(o, w, h, shrink)
            px = hsv[y0:y1, x0:x1][m[: y1 - y0, : x1 - x0]]
            if len(px) > max_pixels:
                px = px[rng.choice(len(px), max_pixels, replace=False)]
            bx0, by0, bx1, by1 = (int(v) for v in o.box)
            gw, gh = max(4, (bx1 - bx0) // 2), max(4, (by1 - by0) // 2)
            rx0, ry0, rx1, ry1 = max(0, bx0 - gw), max(0, by0 - gh), min(w, bx1 + gw), min(h, by1 + gh)
            ring = np.ones((ry1 - ry0, rx1 - rx0), bool)
            ring[max(0, by0 - ry0):max(0, by1 - ry0), max(0, bx0 - rx0):max(0, bx1 - rx0)] = False
            rp = hsv[ry0:ry1, rx0:rx1][ring]
            if len(rp) > max_pixels:
                rp = rp[rng.choice(len(rp), max_pixels, replace=False)]
            if len(rp):
                s.ring.append(rp)
            if len(px):
                s.hsv.append(px)
                for k, v in o.attributes.items():
                    s.by_value.setdefault(k, {}).setdefault(str(v).lower(), []).append(px)
            bx0, by0, bx1, by1 = o.box
            g = s.geometry
            g["box_width"].append((bx1 - bx0) / w)
            g["box_height"].append((by1 - by0) / h)
            g["area"].append((o.area if o.area is not None else (bx1 - bx0) * (by1 - by0)) / (w * h))
            if o.rbox is not None:
                a, b = max(o.rbox.w, o.rbox.h), min(o.rbox.w, o.rbox.h)
                g["length"].append(a / longer)
                g["width"].append(b / longer)
                g["aspect"].append(a / max(b, 1e-9))
    return out


def _bins(px: np.ndarray) -> np.ndarray:
    return (px[:, 0].astype(np.int64) // 10) * 256 + (px[:, 1].astype(np.int64) // 16) * 16 + px[:, 2] // 16


def distinctive(px: np.ndarray, background: np.ndarray, ratio: float = 3.0) -> np.ndarray:
    """The object pixels whose colour is clearly more common on the object than in the background
    (coarse HSV histograms): what is left of an annotated box once the background showing through is
    taken out. Falls back to all pixels when too few remain."""
    if len(background) == 0:
        return px
    ob, bb = _bins(px), _bins(background)
    n = 18 * 256
    ho = np.bincount(ob, minlength=n) / len(ob)
    hb = np.bincount(bb, minlength=n) / len(bb)
    keep = ho[ob] > ratio * hb[ob]
    return px[keep] if keep.sum() >= max(50, 0.05 * len(px)) else px


def fit_hsv(px: np.ndarray, low: float = 1.0, high: float = 99.0, pad: Sequence[float] = (4, 25, 25),
            floor: float = 0.01) -> ColourRange:
    """The HSV box of the main colour of ``px``: the hue arc around the histogram's peak (extended while
    the smoothed hue histogram stays above ``floor`` of the peak, on the circle), then the S and V
    ``low..high`` percentiles of the pixels on that arc; each widened by ``pad``."""
    hue = px[:, 0].astype(np.int64) % 180
    hist = np.bincount(hue, minlength=180).astype(np.float64)
    smooth = np.convolve(np.concatenate([hist[-2:], hist, hist[:2]]), np.ones(5) / 5, mode="valid")
    peak = int(np.argmax(smooth))
    thr = floor * smooth[peak]
    lo_i, hi_i = peak, peak
    while hi_i - lo_i < 179 and smooth[(lo_i - 1) % 180] >= thr:
        lo_i -= 1
    while hi_i - lo_i < 179 and smooth[(hi_i + 1) % 180] >= thr:
        hi_i += 1
    if hi_i - lo_i >= 179 - 2 * pad[0]:
        h_lo_v, h_hi_v = 0.0, 180.0
        on_arc = np.ones(len(px), bool)
    else:
        h_lo_v, h_hi_v = float((lo_i - pad[0]) % 180), float((hi_i + pad[0]) % 180)
        on_arc = ((hue - lo_i) % 180) <= (hi_i - lo_i)
    sel = px[on_arc] if on_arc.sum() >= 10 else px
    s_lo = max(0.0, float(np.percentile(sel[:, 1], low)) - pad[1])
    s_hi = min(255.0, float(np.percentile(sel[:, 1], high)) + pad[1])
    v_lo = max(0.0, float(np.percentile(sel[:, 2], low)) - pad[2])
    v_hi = min(255.0, float(np.percentile(sel[:, 2], high)) + pad[2])
    return ColourRange(space="hsv", low=[round(h_lo_v), round(s_lo), round(v_lo)],
                       high=[round(h_hi_v), round(s_hi), round(v_hi)])


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def add(self, s: str) -> None:
        self.lines.append(s)


def calibrate(template: VisionProfile, pairs: Sequence[tuple[Path, Scene]], *, margin: float = 0.35,
              low: float = 1.0, high: float = 99.0, shrink: float = 0.3,
              objects: Sequence[str] | None = None) -> tuple[VisionProfile, Report]:
    """Fit ``template``'s colour ranges and size bounds to the annotated ``pairs``."""
    if not pairs:
        raise CalibrationError("calibration needs at least one image with a scene annotation")
    samples = collect(pairs, shrink=shrink)
    report = Report()
    data = template.model_dump(mode="json", exclude_none=True)
    names = list(objects) if objects else list(template.objects)
    for name in names:
        if name not in template.objects:
            raise CalibrationError(f"`{name}` is not an object of the profile")
        rec = template.objects[name]
        s = samples.get(name)
        if s is None or not s.hsv:
            report.add(f"{name}: not annotated in any image — kept as it was")
            continue
        od = data["objects"][name]
        n = sum(len(p) for p in s.hsv)
        if rec.colour:
            px = np.concatenate(s.hsv)
            if s.ring:  # take out the background showing through the annotated boxes
                px = distinctive(px, np.concatenate(s.ring))
            rng = fit_hsv(px, low, high)
            od["colour"] = [rng.model_dump(mode="json")]
            report.add(f"{name}: colour hsv {rng.low}..{rng.high} from {n} pixels of {len(s.hsv)} instances")
        for aname, arec in rec.attributes.items():
            if not isinstance(arec, ColourClass):
                continue
            got = s.by_value.get(aname, {})
            fitted = {}
            for cls in arec.classes:
                px = got.get(cls.lower())
                if px:
                    fitted[cls] = [fit_hsv(np.concatenate(px), 5.0, 95.0, pad=(2, 15, 15)).model_dump(mode="json")]
            if fitted:
                od["attributes"][aname]["classes"].update(fitted)
                report.add(f"{name}.{aname}: fitted classes {', '.join(sorted(fitted))}")
    coloured = VisionProfile.model_validate(data)
    bounds = fit_bounds(coloured, pairs, names, margin=margin)
    for name, fitted in bounds.items():
        for key, (lo, hi, npos, nneg) in fitted.items():
            data["objects"][name][key] = [_round(lo), _round(hi)]
            report.add(f"{name}: {key} {_round(lo)}..{_round(hi)} from {npos} matched instance(s)"
                       + (f", kept clear of {nneg} other blob(s)" if nneg else ""))
    return VisionProfile.model_validate(data), report


BOUND_KEYS = ("area", "aspect", "solidity", "extent", "length", "width", "box_width", "box_height")


def fit_bounds(profile: VisionProfile, pairs: Sequence[tuple[Path, Scene]], names: Sequence[str],
               margin: float = 0.35, min_iou: float = 0.5) -> dict[str, dict[str, tuple[float, float, int, int]]]:
    """Fit each object's acceptance bounds on what the profile's own segmentation measures.

    The object's bounds are lifted, every image is segmented, and the blobs that match an annotated
    instance (box IoU >= ``min_iou``) give the range, widened by ``margin``; blobs that match nothing
    (other parts, clutter) pull a bound back to half-way, so the fitted bounds still keep them out.
    """
    from logicdsl.engine.vision import VisionBackend, box_iou

    out: dict[str, dict[str, tuple[float, float, int, int]]] = {}
    for name in names:
        rec = profile.objects[name]
        keys = [k for k in BOUND_KEYS if getattr(rec, k) is not None and k not in ("solidity", "extent")]
        if not keys:
            continue
        relaxed = profile.model_copy(deep=True)
        objs = dict(relaxed.objects)
        objs[name] = rec.model_copy(update={k: None for k in keys} | {"max_instances": None})
        relaxed = relaxed.model_copy(update={"objects": objs})
        backend = VisionBackend(relaxed)
        pos: dict[str, list[float]] = {k: [] for k in keys}
        neg: dict[str, list[float]] = {k: [] for k in keys}
        for path, scene in pairs:
            det = backend.detect_all(path)
            gt = [o for o in scene.objects if o.label == name]
            gt_boxes = [(o.box[0] / scene.width, o.box[1] / scene.height, o.box[2] / scene.width,
                         o.box[3] / scene.height) for o in gt]
            for inst in det.instances(name):
                props = _props(inst)
                hit = any(box_iou(inst.box, g) >= min_iou for g in gt_boxes)
                for k in keys:
                    (pos if hit else neg)[k].append(props[k])
        if not pos[keys[0]]:
            continue
        fitted = {}
        for k in keys:
            pmin, pmax = min(pos[k]), max(pos[k])
            lo, hi = pmin / (1 + margin), pmax * (1 + margin)
            if k == "aspect":
                lo = max(1.0, lo)
            if k in ("solidity", "extent"):
                hi = min(1.0, hi)
            clear = 0
            for v in neg[k]:
                if lo < v < pmin:
                    lo, clear = (v + pmin) / 2, clear + 1
                elif pmax < v < hi:
                    hi, clear = (v + pmax) / 2, clear + 1
            fitted[k] = (lo, hi, len(pos[k]), clear)
        out[name] = fitted
    return out


def _props(inst) -> dict[str, float]:
    x0, y0, x1, y1 = inst.box
    length = inst.length or max(x1 - x0, y1 - y0)
    width = inst.width_r or min(x1 - x0, y1 - y0)
    return {"area": inst.area or (x1 - x0) * (y1 - y0), "aspect": length / max(width, 1e-9),
            "solidity": inst.solidity if hasattr(inst, "solidity") else 1.0, "extent": 1.0,
            "length": length, "width": width, "box_width": x1 - x0, "box_height": y1 - y0}


def _round(v: float) -> float:
    if v == 0:
        return 0.0
    digits = max(2, 3 - int(math.floor(math.log10(abs(v)))))
    return round(v, digits)


# ------------------------------------------------------------------ TOML output
def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e6:
            return str(int(v)) if abs(v) >= 1 else repr(v)
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else json.dumps(k)


def dump_profile(profile: VisionProfile, header: str = "") -> str:
    """A profile as TOML text (defaults left out), readable and loadable by ``load_profile``."""
    data = profile.model_dump(mode="json", exclude_defaults=True)
    out: list[str] = [f"# {line}" if line else "#" for line in header.splitlines()]
    if out:
        out.append("")
    station = data.get("station")
    if station:
        out.append("[station]")
        out += [f"{_key(k)} = {_toml_value(v)}" for k, v in station.items()]
        out.append("")
    for name, od in data.get("objects", {}).items():
        attrs = od.pop("attributes", {})
        out.append(f"[objects.{_key(name)}]")
        for k, v in od.items():
            if k in ("colour", "exclude") and len(v) > 1:
                out.append(f"{k} = [")
                out += [f"  {_toml_value(x)}," for x in v]
                out.append("]")
            else:
                out.append(f"{_key(k)} = {_toml_value(v)}")
        out.append("")
        for aname, ad in attrs.items():
            out.append(f"[objects.{_key(name)}.attributes.{_key(aname)}]")
            ad = dict(ad)
            out.append(f"measure = {_toml_value(ad.pop('measure'))}")
            classes = ad.pop("classes", None)
            for k, v in ad.items():
                out.append(f"{_key(k)} = {_toml_value(v)}")
            for cls, ranges in (classes or {}).items():
                out.append(f"classes.{_key(cls)} = {_toml_value(ranges)}")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def pairs_from(paths: Sequence[Path]) -> list[tuple[Path, Scene]]:
    """(image, scene) for each image with a ``<image stem>.json`` scene beside it."""
    from logicdsl.engine.image import find_images

    out = []
    for img in find_images(list(paths)):
        sc = img.with_suffix(".json")
        if sc.is_file():
            out.append((img, load_scene(sc)))
    return out


def good_only(pairs: Sequence[tuple[Path, Scene]]) -> list[tuple[Path, Scene]]:
    """Keep the images a dataset's ``labels.jsonl`` marks normal (all, when there is no labels file)."""
    keep = []
    labels_cache: dict[Path, dict[str, str]] = {}
    for img, sc in pairs:
        lf = img.parent / "labels.jsonl"
        if lf not in labels_cache:
            labels_cache[lf] = {}
            if lf.is_file():
                for line in lf.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        row = json.loads(line)
                        labels_cache[lf][row.get("image", "")] = row.get("label", "")
        lab = labels_cache[lf].get(img.name)
        if lab in (None, "normal"):
            keep.append((img, sc))
    return keep
