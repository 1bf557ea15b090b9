"""Overlay images: the detections, the regions/grid cells a rule looked at, and the failed rules'
evidence drawn onto the image, written as PNG.

Plain data in, so any backend and any caller can use it: the RGB array, a list of
``(label, Instance)`` pairs, and a verdict as a dict (``verdict.model_dump(mode="json")``).
Boxes are in image fractions. Instances named in a failed rule's evidence are drawn thick red;
the others thin, one colour per object label.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import cv2
import numpy as np

from .subquery import Instance

_FAIL = (230, 40, 40)
_UNDECIDED = (240, 170, 0)
_PASS = (40, 200, 80)
_REGION = (80, 160, 255)


def _colour_for(label: str) -> tuple[int, int, int]:
    """A stable, bright colour per label (RGB)."""
    h = int(hashlib.md5(label.encode()).hexdigest()[:4], 16) % 180
    hsv = np.uint8([[[h, 200, 255]]])
    r, g, b = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0]
    return int(r), int(g), int(b)


def _px(box: Sequence[float], w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return (int(round(x0 * w)), int(round(y0 * h)), int(round(x1 * w)) - 1, int(round(y1 * h)) - 1)


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour, scale: float) -> None:
    th = max(1, int(round(scale * 2)))
    (tw, tht), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    x, y = org
    y = max(y, tht + 2)
    x = min(max(0, x), max(0, img.shape[1] - tw - 2))
    cv2.rectangle(img, (x, y - tht - 2), (x + tw + 2, y + base), (0, 0, 0), thickness=cv2.FILLED)
    cv2.putText(img, text, (x + 1, y - 1), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, th, cv2.LINE_AA)


def _box_key(box: Iterable[float]) -> tuple[float, ...]:
    return tuple(round(float(v), 3) for v in box)


def _walk(obj: Any):
    """Every dict nested in ``obj`` (evidence is free-form JSON)."""
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def _evidence_of(rule: dict) -> tuple[set, list[tuple[str, tuple[float, float, float, float]]]]:
    """Boxes of the instances a rule's evidence names, and the regions (name, box) its subqueries used."""
    boxes: set = set()
    regions: list[tuple[str, tuple[float, float, float, float]]] = []
    ev = rule.get("evidence") or {}
    for d in _walk(ev):
        for inst in d.get("instances", []) if isinstance(d.get("instances"), list) else []:
            if isinstance(inst, dict) and isinstance(inst.get("box"), list) and len(inst["box"]) == 4:
                boxes.add(_box_key(inst["box"]))
        if isinstance(d.get("box"), list) and len(d["box"]) == 4 and "kind" in d and d.get("kind") == "box":
            regions.append((str(d.get("name", "region")), tuple(float(v) for v in d["box"])))
        if isinstance(d.get("region"), dict):
            r = d["region"]
            if r.get("kind") == "box" and isinstance(r.get("box"), list):
                regions.append((str(r.get("name", "region")), tuple(float(v) for v in r["box"])))
    return boxes, regions


def render_overlay(image_rgb: np.ndarray, detections: Sequence[tuple[str, Instance]],
                   verdict: dict[str, Any] | None, out_path: str | Path,
                   regions: Sequence[tuple[str, Sequence[float]]] = ()) -> Path:
    """Draw ``detections`` (and ``regions``: (name, box) pairs in fractions) and the failed rules'
    evidence on a copy of ``image_rgb``; write it to ``out_path`` as PNG and return the path.

    ``verdict`` is ``Verdict.model_dump(mode="json")`` (or None): its status and label go in a
    header, the violations' and undecided rules' evidence boxes are highlighted, and their grid
    cells / fixed regions are outlined.
    """
    img = np.ascontiguousarray(image_rgb[..., :3]).copy()
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    h, w = img.shape[:2]
    scale = max(0.4, min(1.2, max(w, h) / 1600))
    thin = max(1, int(round(max(w, h) / 800)))
    thick = 3 * thin

    verdict = verdict or {}
    failed_boxes: set = set()
    undecided_boxes: set = set()
    rule_regions: list[tuple[str, tuple[float, float, float, float]]] = [(n, tuple(b)) for n, b in regions]
    for rule in verdict.get("violations") or []:
        b, r = _evidence_of(rule)
        failed_boxes |= b
        rule_regions += r
    for rule in verdict.get("undecided") or []:
        b, r = _evidence_of(rule)
        undecided_boxes |= b
        rule_regions += r

    # regions and grid cells first, so detections draw over them
    seen = set()
    for name, box in rule_regions:
        key = (name, _box_key(box))
        if key in seen:
            continue
        seen.add(key)
        x0, y0, x1, y1 = _px(box, w, h)
        cv2.rectangle(img, (x0, y0), (x1, y1), _REGION, thin, cv2.LINE_AA)
        _text(img, name, (x0 + 2, y0 + int(14 * scale) + 4), _REGION, 0.45 * scale)

    for label, inst in detections:
        key = _box_key(inst.box)
        x0, y0, x1, y1 = _px(inst.box, w, h)
        if key in failed_boxes:
            colour, t = _FAIL, thick
        elif key in undecided_boxes:
            colour, t = _UNDECIDED, thick
        else:
            colour, t = _colour_for(label), thin
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, t, cv2.LINE_AA)
        attrs = ", ".join(f"{k}={v}" for k, v in inst.attributes)
        caption = f"{label} {inst.score:.2f}" + (f" [{attrs}]" if attrs else "")
        _text(img, caption, (x0, y0 - 3), colour, 0.5 * scale)

    # header: the verdict and the failed rules
    status = verdict.get("status")
    if status:
        lines = [f"{status.upper()}: {verdict.get('label') or ''}"]
        colour = {"normal": _PASS, "anomaly": _FAIL, "undecided": _UNDECIDED}.get(status, (255, 255, 255))
        for rule in (verdict.get("violations") or [])[:6]:
            lines.append(f"x {rule.get('rule')}" + (f": {rule['message']}" if rule.get("message") else ""))
        for rule in (verdict.get("undecided") or [])[:4]:
            reason = ((rule.get("evidence") or {}).get("reason")) or ""
            lines.append(f"? {rule.get('rule')}" + (f": {reason}" if reason else ""))
        y = int(22 * scale) + 4
        for i, line in enumerate(lines):
            _text(img, line[:90], (4, y), colour if i == 0 else (255, 255, 255), 0.6 * scale)
            y += int(24 * scale) + 4

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover
        raise ValueError(f"cannot encode an overlay for {out}")
    out.write_bytes(buf.tobytes())
    return out
