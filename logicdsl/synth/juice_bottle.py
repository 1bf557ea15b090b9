"""A juice bottle like MVTec LOCO's: a tall glass bottle on black, a square fruit label in the middle,
a small '100% Juice' label low on the body, juice filled to about 80 % of the bottle's height.

Proportions follow the real photographs (800 x 1600, bottle ~0.47 of the width and ~0.84 of the height,
fruit label centred ~0.53 down the bottle, the juice label ~0.87 down, fill ~0.81).
"""

from __future__ import annotations

import math
import numpy as np

from .common import Canvas, Part, font, jitter, move_parts, parts_bbox, rasterise, rotate_points

PRODUCT = "juice_bottle"
SIZE = (800, 1600)
RULES = ("bottle_present", "fruit_label_present", "juice_label_present", "labels_in_order",
         "fruit_label_placed", "juice_label_placed", "icon_present", "icon_centred",
         "juice_matches_label", "fill_level")
DEFECTS: dict[str, tuple[str, ...]] = {
    "missing_top_label": ("fruit_label_present",),
    "missing_bottom_label": ("juice_label_present",),
    "swapped_labels": ("labels_in_order",),
    "misplaced_label_top": ("fruit_label_placed",),
    "misplaced_label_bottom": ("juice_label_placed",),
    "missing_fruit_icon": ("icon_present",),
    "misplaced_fruit_icon": ("icon_centred",),
    "wrong_juice_type": ("juice_matches_label",),
    "empty_bottle": ("fill_level",),
    "wrong_fill_level_too_much": ("fill_level",),
    "wrong_fill_level_not_enough": ("fill_level",),
}
STRUCTURAL = ("damaged_label", "rotated_label", "label_text_incomplete", "unknown_fruit_icon",
              "incomplete_fruit_icon", "juice_color", "contamination")

FRUITS = ("orange", "cherry", "banana")
JUICE_COLOUR = {"orange": (236, 188, 42), "cherry": (150, 42, 48), "banana": (228, 224, 196)}


def _bottle_outline(cx: float, top: float, bw: float, bh: float, inset: float = 0.0) -> list[tuple[float, float]]:
    """Half-outline mirrored: cap/neck, shoulder, body with rounded bottom corners."""
    nw = 0.62 * bw / 2 - inset
    hw = bw / 2 - inset
    neck_end = top + 0.14 * bh
    shoulder_end = top + 0.21 * bh
    bottom = top + bh - inset
    t = top + inset
    right = [(cx + nw, t), (cx + nw, neck_end)]
    for k in range(1, 7):  # a smooth shoulder
        u = k / 6
        s = 0.5 - 0.5 * math.cos(math.pi * u)
        right.append((cx + nw + (hw - nw) * s, neck_end + (shoulder_end - neck_end) * u))
    r = 0.06 * bw
    right += [(cx + hw, bottom - r), (cx + hw - r * 0.3, bottom - r * 0.3), (cx + hw - r, bottom)]
    left = [(2 * cx - x, y) for x, y in reversed(right)]
    return right + left


def _icon_parts(fruit: str, size: float) -> tuple[list[tuple[list[Part], tuple[int, int, int]]], list[Part]]:
    """The icon as coloured layers (drawn in order) and its silhouette (the union), around (0, 0)."""
    s = size
    layers: list[tuple[list[Part], tuple[int, int, int]]] = []
    if fruit == "orange":
        body = [("ellipse", (-0.42 * s, -0.36 * s, 0.42 * s, 0.48 * s))]
        leaf = [("polygon", [(0.0, -0.36 * s), (0.22 * s, -0.5 * s), (0.34 * s, -0.44 * s), (0.12 * s, -0.32 * s)])]
        layers = [(body, (238, 128, 22)), (leaf, (60, 130, 40))]
    elif fruit == "cherry":
        a = [("ellipse", (-0.46 * s, 0.06 * s, -0.06 * s, 0.46 * s))]
        b = [("ellipse", (0.04 * s, 0.1 * s, 0.44 * s, 0.5 * s))]
        stems = [("line", [(-0.26 * s, 0.1 * s), (0.02 * s, -0.46 * s), (0.24 * s, 0.12 * s)], max(3, 0.05 * s))]
        layers = [(stems, (90, 70, 30)), (a, (196, 24, 30)), (b, (184, 20, 28))]
    else:  # banana: a bunch of three crescents
        for k, rot in enumerate((-0.35, 0.0, 0.35)):
            outer, inner = [], []
            for i in range(15):
                t = math.pi * (0.1 + 0.8 * i / 14)
                outer.append((0.46 * s * math.cos(t), 0.46 * s * math.sin(t) - 0.12 * s))
                inner.append((0.4 * s * math.cos(t), 0.26 * s * math.sin(t) - 0.12 * s))
            pts = rotate_points(outer + inner[::-1], 0.0, -0.3 * s, math.degrees(rot))
            layers.append(([("polygon", pts)], (236, 196 - 14 * k, 40)))
    silhouette = [p for parts, _ in layers for p in parts]
    return layers, silhouette


def render(rng: np.random.Generator, defect: str | None) -> Canvas:
    W, H = SIZE
    cv = Canvas(rng, SIZE, (14, 14, 16), vignette=0.2, unevenness=0.15)
    # the bottle, with a small pose change
    bw = rng.uniform(360, 385)
    bh = rng.uniform(1320, 1370)
    cx = W / 2 + rng.uniform(-20, 20)
    top = rng.uniform(105, 135)
    bottom = top + bh

    fruit = str(rng.choice(FRUITS))
    kind = fruit
    if defect == "wrong_juice_type":
        kind = str(rng.choice([f for f in FRUITS if f != fruit]))

    # fill level: (bottom(bottle) - top(juice)) / height(bottle); the rule accepts 0.75 .. 0.88
    fill: float | None = rng.uniform(0.79, 0.84)
    if defect == "empty_bottle":
        fill = None
    elif defect == "wrong_fill_level_too_much":
        fill = rng.uniform(0.92, 0.95)
    elif defect == "wrong_fill_level_not_enough":
        fill = rng.uniform(0.35, 0.66)

    outline = _bottle_outline(cx, top, bw, bh)
    glass = cv.paint([("polygon", outline)], (110, 115, 122), shade="horizontal", strength=-0.8, highlight=0.0,
                     opacity=0.14)
    cv.record("bottle", glass)
    # glass edges and the screw thread of the neck
    cv.draw.line(outline[: len(outline) // 2], fill=(95, 100, 105), width=4)
    cv.draw.line(outline[len(outline) // 2:], fill=(95, 100, 105), width=4)
    nw = 0.62 * bw / 2
    for k in range(5):
        y = top + 12 + k * 0.018 * bh
        cv.draw.line([(cx - nw, y), (cx + nw, y + 6)], fill=(120, 124, 128), width=3)

    if fill is not None:
        juice_top = bottom - fill * bh
        interior = _bottle_outline(cx, top, bw, bh, inset=9)
        drawn = rasterise([("polygon", interior)], SIZE)
        assert drawn is not None
        cut = int(math.ceil(juice_top)) - drawn.y0
        drawn.mask[: max(0, cut)] = 0
        colour = jitter(rng, JUICE_COLOUR[kind], 6)
        cv.paint([], colour, shade="horizontal", strength=0.35, highlight=0.2, drawn=drawn, texture=0.012, grain=12)
        cv.record("juice", drawn, {"kind": kind})
        # the meniscus: a thin bright band
        cv.draw.line([(cx - bw / 2 + 14, juice_top + 2), (cx + bw / 2 - 14, juice_top + 2)],
                     fill=tuple(min(255, c + 40) for c in colour), width=4)
    # highlights on the glass, over the juice
    for off, wdt in ((-0.36, 10), (0.33, 6)):
        x = cx + off * bw
        cv.draw.line([(x, top + 0.24 * bh), (x, bottom - 0.05 * bh)], fill=(200, 205, 210), width=wdt)

    # label positions, as fractions of the bottle height measured from its top (centre of the label)
    fl_pos = rng.uniform(0.51, 0.55)
    jl_pos = rng.uniform(0.855, 0.885)
    fl_angle = rng.uniform(-1.5, 1.5)
    jl_angle = rng.uniform(-1.5, 1.5)
    if defect == "misplaced_label_top":
        if rng.random() < 0.5:
            fl_pos = rng.uniform(0.65, 0.68)
        else:
            fl_pos = rng.uniform(0.38, 0.41)
        fl_angle = rng.uniform(-6, 6)
    elif defect == "misplaced_label_bottom":
        if rng.random() < 0.5:
            jl_pos = rng.uniform(0.985, 1.0)
        else:
            jl_pos = rng.uniform(0.71, 0.73)
        jl_angle = rng.uniform(-5, 5)
    elif defect == "swapped_labels":
        fl_pos, jl_pos = rng.uniform(0.77, 0.79), rng.uniform(0.44, 0.5)

    if defect != "missing_top_label":
        lw = bw * rng.uniform(0.66, 0.7)
        lh = bh * rng.uniform(0.19, 0.2)
        lcx = cx + rng.uniform(-8, 8)
        lcy = top + fl_pos * bh
        corners = [(lcx - lw / 2, lcy - lh / 2), (lcx + lw / 2, lcy - lh / 2),
                   (lcx + lw / 2, lcy + lh / 2), (lcx - lw / 2, lcy + lh / 2)]
        poly = rotate_points(corners, lcx, lcy, fl_angle)
        label = cv.paint([("polygon", poly)], jitter(rng, (246, 196, 70), 5), shade="radial", strength=0.25,
                         highlight=0.12, texture=0.03, grain=3)
        inner = rotate_points([(lcx - lw * 0.42, lcy - lh * 0.42), (lcx + lw * 0.42, lcy - lh * 0.42),
                               (lcx + lw * 0.42, lcy + lh * 0.42), (lcx - lw * 0.42, lcy + lh * 0.42)],
                              lcx, lcy, fl_angle)
        cv.draw.polygon(inner, outline=(150, 100, 40), width=3)
        cv.record("fruit_label", label)
        if defect != "missing_fruit_icon":
            icx, icy = lcx + rng.uniform(-0.025, 0.025) * lw, lcy + rng.uniform(-0.025, 0.025) * lh
            if defect == "misplaced_fruit_icon":
                a = rng.uniform(0, 2 * math.pi)
                d = rng.uniform(0.2, 0.26)
                icx = lcx + d * lw * math.cos(a)
                icy = lcy + d * lh * math.sin(a)
            layers, silhouette = _icon_parts(fruit, lw * rng.uniform(0.4, 0.44))
            # place the icon so that its silhouette's box is centred on (icx, icy)
            bx0, by0, bx1, by1 = parts_bbox(silhouette)
            dx, dy = icx - (bx0 + bx1) / 2, icy - (by0 + by1) / 2
            for parts, colour in layers:
                cv.paint(move_parts(parts, dx, dy), jitter(rng, colour, 6), shade="radial", strength=0.3)
            icon = rasterise(move_parts(silhouette, dx, dy), SIZE)
            cv.record("icon", icon, {"fruit": fruit})

    if defect != "missing_bottom_label":
        jw = bw * rng.uniform(0.62, 0.66)
        jh = bh * rng.uniform(0.085, 0.092)
        jcx = cx + rng.uniform(-8, 8)
        jcy = top + jl_pos * bh
        corners = [(jcx - jw / 2, jcy - jh / 2), (jcx + jw / 2, jcy - jh / 2),
                   (jcx + jw / 2, jcy + jh / 2), (jcx - jw / 2, jcy + jh / 2)]
        poly = rotate_points(corners, jcx, jcy, jl_angle)
        jl = cv.paint([("polygon", poly)], jitter(rng, (240, 222, 150), 5), shade="radial", strength=0.2,
                      highlight=0.1, texture=0.03, grain=3)
        f = font(int(jh * 0.38))
        cv.draw.text((jcx, jcy), "100% Juice", fill=(40, 30, 25), font=f, anchor="mm")
        cv.record("juice_label", jl)
    return cv

