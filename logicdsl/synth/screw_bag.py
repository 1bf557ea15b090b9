"""A screw bag like MVTec LOCO's: a clear plastic bag on a light table holding one long screw, one short
screw, two hexagonal nuts and two flat washers, lying in random poses.

Screw lengths are set relative to the washer diameter D (the rule's ruler): long ~3.1 D (rule: 2.8 .. 3.4),
short ~1.95 D (rule: 1.7 .. 2.2); 2.4 D tells long from short.
"""

from __future__ import annotations

import math

import numpy as np

from .common import Canvas, Occupancy, PlacementError, jitter, rasterise, regular_polygon, rotate_points, rotated_rect

PRODUCT = "screw_bag"
SIZE = (1600, 1100)
RULES = ("two_washers", "two_nuts", "one_long_screw", "one_short_screw", "long_screw_length", "short_screw_length")
DEFECTS: dict[str, tuple[str, ...]] = {
    "1_additional_long_screw": ("one_long_screw",),
    "1_additional_nut": ("two_nuts",),
    "1_additional_short_screw": ("one_short_screw",),
    "1_additional_washer": ("two_washers",),
    "1_missing_long_screw": ("one_long_screw",),
    "1_missing_nut": ("two_nuts",),
    "1_missing_short_screw": ("one_short_screw",),
    "1_missing_washer": ("two_washers",),
    "2_additional_nuts": ("two_nuts",),
    "2_additional_washers": ("two_washers",),
    "2_missing_nuts": ("two_nuts",),
    "2_missing_washers": ("two_washers",),
    "screw_too_long": ("long_screw_length",),
    "screw_too_short": ("long_screw_length",),
    "very_short_screw": ("short_screw_length",),
}
STRUCTURAL = ("bag_broken", "color", "contamination", "part_broken")

METAL = (150, 152, 158)


def _counts(defect: str | None) -> dict[str, int]:
    counts = {"long": 1, "short": 1, "nut": 2, "washer": 2}
    if defect and defect[0].isdigit():
        n, change, *what = defect.split("_")
        key = {"long": "long", "short": "short", "nut": "nut", "nuts": "nut", "washer": "washer",
               "washers": "washer"}[what[0]]
        counts[key] += int(n) * (1 if change == "additional" else -1)
    return counts


def _screw(cv: Canvas, cx: float, cy: float, length: float, d: float, angle: float) -> None:
    head_w, head_l, shank_w = 0.72 * d, 0.24 * d, 0.42 * d
    x0 = cx - length / 2
    head = [(x0, cy - head_w / 2), (x0 + head_l, cy - head_w / 2), (x0 + head_l, cy + head_w / 2), (x0, cy + head_w / 2)]
    tip = 0.12 * d
    shank = [(x0 + head_l - 1, cy - shank_w / 2), (x0 + length - tip, cy - shank_w / 2), (x0 + length, cy),
             (x0 + length - tip, cy + shank_w / 2), (x0 + head_l - 1, cy + shank_w / 2)]
    head = rotate_points(head, cx, cy, angle)
    shank = rotate_points(shank, cx, cy, angle)
    cv.paint([("polygon", shank)], jitter(cv.rng, METAL, 5), shade="radial", strength=0.4, highlight=0.3)
    cv.paint([("polygon", head)], jitter(cv.rng, (140, 142, 148), 5), shade="radial", strength=0.5)
    # the thread: short dark strokes across the shank
    pitch = 0.09 * d
    k = x0 + head_l + pitch
    while k < x0 + length - tip - 2:
        a, b = rotate_points([(k, cy - shank_w / 2 + 2), (k + pitch * 0.5, cy + shank_w / 2 - 2)], cx, cy, angle)
        cv.draw.line([a, b], fill=(100, 102, 108), width=2)
        k += pitch
    cv.record("screw", rasterise([("polygon", head), ("polygon", shank)], cv.size))


def render(rng: np.random.Generator, defect: str | None) -> Canvas:
    W, H = SIZE
    cv = Canvas(rng, SIZE, (226, 226, 222), vignette=0.15)
    # the bag: a slightly darker translucent pillow with crinkles
    bx0, by0 = 70 + rng.uniform(-15, 15), 60 + rng.uniform(-15, 15)
    bx1, by1 = W - 70 + rng.uniform(-15, 15), H - 60 + rng.uniform(-15, 15)
    cv.paint([("rect", (bx0, by0, bx1, by1), 50)], (206, 208, 210), shade="radial", strength=-0.1, highlight=0.05,
             opacity=0.8)
    for _ in range(6):
        x, y = rng.uniform(bx0, bx1), rng.uniform(by0, by1)
        a = rng.uniform(0, math.pi)
        L = rng.uniform(80, 300)
        cv.draw.line([(x, y), (x + L * math.cos(a), y + L * math.sin(a))], fill=(238, 240, 242), width=3)
    cv.draw.rectangle((bx0 + 20, by0 + 14, bx1 - 20, by0 + 40), fill=(196, 198, 202))  # the seal

    D = rng.uniform(116, 126)  # the washer diameter, the ruler
    counts = _counts(defect)
    long_ratio = rng.uniform(3.0, 3.2)
    short_ratio = rng.uniform(1.85, 2.05)
    if defect == "screw_too_long":
        long_ratio = rng.uniform(3.7, 4.0)
    elif defect == "screw_too_short":
        long_ratio = rng.uniform(2.55, 2.65)
    elif defect == "very_short_screw":
        short_ratio = rng.uniform(1.25, 1.45)

    items: list[tuple[str, float]] = [("long", long_ratio * D)] * counts["long"]
    items += [("short", short_ratio * D)] * counts["short"]
    items += [("nut", 0.95 * D)] * counts["nut"] + [("washer", D)] * counts["washer"]
    occ = Occupancy(SIZE)
    margin = 40
    for kind, size in items:  # largest first (the list is already ordered so)
        for _ in range(300):
            angle = rng.uniform(0, 180)
            w = size
            h = 0.72 * D if kind in ("long", "short") else size
            cx = rng.uniform(bx0 + margin + w / 2 * 0.8, bx1 - margin - w / 2 * 0.8)
            cy = rng.uniform(by0 + 60 + h / 2 + 20, by1 - margin - h / 2)
            footprint = rotated_rect(cx, cy, w, h, angle)
            if all(bx0 + margin < x < bx1 - margin and by0 + 50 < y < by1 - margin for x, y in footprint) \
                    and occ.try_add(footprint, margin=14):
                break
        else:
            raise PlacementError("screw bag: no room left")
        if kind in ("long", "short"):
            _screw(cv, cx, cy, size, D, angle)
        elif kind == "washer":
            dd = D * rng.uniform(0.995, 1.005)
            r, ri = dd / 2, 0.25 * dd
            parts = [("ellipse", (cx - r, cy - r, cx + r, cy + r)), ("-ellipse", (cx - ri, cy - ri, cx + ri, cy + ri))]
            d = cv.paint(parts, jitter(rng, (170, 172, 178), 5), shade="radial", strength=0.35, highlight=0.35)
            cv.draw.ellipse((cx - ri - 3, cy - ri - 3, cx + ri + 3, cy + ri + 3), outline=(120, 122, 128), width=3)
            cv.record("washer", d)
        else:
            hexagon = regular_polygon(cx, cy, size / 2, 6, angle)
            ri = 0.22 * D
            parts = [("polygon", hexagon), ("-ellipse", (cx - ri, cy - ri, cx + ri, cy + ri))]
            d = cv.paint(parts, jitter(rng, (128, 130, 136), 5), shade="radial", strength=0.4, highlight=0.3)
            cv.draw.polygon(regular_polygon(cx, cy, size / 2 * 0.8, 6, angle), outline=(108, 110, 116), width=3)
            cv.record("nut", d)
    return cv
