"""A breakfast box like MVTec LOCO's: a white tray with two compartments; on the left two tangerines and a
nectarine, on the right a pile of oat cereal with a pile of banana chips and a pile of almonds above it.

The amounts are mask areas in fractions of the image: cereal : toppings ~ 2.1 (rule: 1.6 .. 2.6), everything
on the right together ~ 0.16 of the image (rule: 0.13 .. 0.19).
"""

from __future__ import annotations

import math

import numpy as np

from .common import Canvas, Placement, blob, jitter, resize_to_area

PRODUCT = "breakfast_box"
SIZE = (1600, 1280)
RULES = ("compartments_in_place", "two_tangerines", "one_nectarine", "cereal_present", "toppings_present",
         "banana_chips_present", "almonds_present", "toppings_ratio", "fill_amount")
DEFECTS: dict[str, tuple[str, ...]] = {
    "0_nectarines_2_tangerines": ("one_nectarine",),
    "0_nectarines_3_tangerines": ("two_tangerines", "one_nectarine"),
    "1_nectarine_1_tangerine": ("two_tangerines",),
    "1_nectarine_3_tangerines": ("two_tangerines",),
    "2_nectarines_1_tangerine": ("two_tangerines", "one_nectarine"),
    "2_nectarines_2_tangerines": ("one_nectarine",),
    "missing_almonds": ("almonds_present",),
    "missing_bananas": ("banana_chips_present",),
    "missing_cereals": ("cereal_present",),
    "missing_toppings": ("toppings_present",),
    "wrong_ratio": ("toppings_ratio",),
    "compartments_swapped": ("compartments_in_place",),
    "overflow": ("fill_amount",),
    "underflow": ("fill_amount",),
}
STRUCTURAL = ("box_damaged", "contamination", "fruit_damaged", "mixed_cereals", "toppings_crushed")


def _fruit_counts(defect: str | None) -> tuple[int, int]:
    """(nectarines, tangerines)."""
    if defect and defect[0].isdigit():
        parts = defect.split("_")
        return int(parts[0]), int(parts[2])
    return 1, 2


def render(rng: np.random.Generator, defect: str | None) -> Canvas:
    W, H = SIZE
    cv = Canvas(rng, SIZE, (52, 56, 62), vignette=0.3)
    flip = defect == "compartments_swapped"

    def X(x: float) -> float:  # mirror the layout for swapped compartments
        return W - x if flip else x

    # the tray and its divider, with a small pose change
    dx, dy = rng.uniform(-18, 18), rng.uniform(-18, 18)
    tx0, ty0, tx1, ty1 = 60 + dx, 70 + dy, W - 60 + dx, H - 70 + dy
    cv.paint([("rect", (tx0, ty0, tx1, ty1), 60)], (232, 232, 226), shade="radial", strength=0.15, highlight=0.05)
    cv.paint([("rect", (tx0 + 22, ty0 + 22, tx1 - 22, ty1 - 22), 44)], (214, 214, 208), shade="radial",
             strength=0.2, highlight=0.08)
    mid = W / 2 + dx
    cv.paint([("rect", (mid - 14, ty0 + 10, mid + 14, ty1 - 10), 8)], (240, 240, 236), shade="horizontal",
             strength=0.3, highlight=0.1)
    # left compartment: the fruit (x ranges given for the normal layout, mirrored when swapped)
    lx0, lx1 = tx0 + 40, mid - 40
    ly0, ly1 = ty0 + 40, ty1 - 40
    rx0, rx1 = mid + 40, tx1 - 40

    n_nect, n_tang = _fruit_counts(defect)
    fruit = [("nectarine", rng.uniform(100, 112)) for _ in range(n_nect)]
    fruit += [("tangerine", rng.uniform(84, 94)) for _ in range(n_tang)]
    fruit.sort(key=lambda f: -f[1])
    place = Placement(lx0, ly0, lx1, ly1)
    for kind, r in fruit:
        x, y = place.place(rng, r, gap=10)
        x = X(x)
        shape = blob(rng, x, y, r, r * rng.uniform(0.93, 1.0), bumps=0.03)
        if kind == "tangerine":
            d = cv.paint([("polygon", shape)], jitter(rng, (236, 124, 26), 6), strength=0.5, highlight=0.3,
                         texture=0.05, grain=4)
            cv.draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=(120, 110, 50))
        else:
            d = cv.paint([("polygon", shape)], jitter(rng, (204, 74, 44), 8), strength=0.5, highlight=0.45,
                         texture=0.07, grain=7)
            cv.draw.arc((x - r * 0.6, y - r * 0.9, x + r * 0.2, y + r * 0.9), 250, 110, fill=(150, 50, 35), width=4)
        cv.record(kind, d)

    # right compartment: amounts as fractions of the image area
    total = rng.uniform(0.15, 0.17)
    ratio = rng.uniform(1.95, 2.25)
    if defect == "wrong_ratio":
        ratio = rng.uniform(1.0, 1.25) if rng.random() < 0.5 else rng.uniform(3.2, 3.6)
    elif defect == "overflow":
        total = rng.uniform(0.205, 0.22)
    elif defect == "underflow":
        total = rng.uniform(0.09, 0.11)
    cereal_area = total * ratio / (1 + ratio) * W * H
    topping_area = total / (1 + ratio) * W * H
    share = rng.uniform(0.47, 0.57)  # banana chips' share of the toppings
    has_cereal = defect != "missing_cereals"
    has_banana = defect not in ("missing_bananas", "missing_toppings")
    has_almonds = defect not in ("missing_almonds", "missing_toppings")

    rcx = (rx0 + rx1) / 2
    if has_cereal:
        aspect = rng.uniform(1.0, 1.12)
        cy = ty1 - 40 - math.sqrt(cereal_area / math.pi / aspect) - rng.uniform(5, 25)
        ccx = X(rcx + rng.uniform(-15, 15))
        seed_c = int(rng.integers(1 << 30))
        d = resize_to_area(rng, lambda s: [("polygon", blob(np.random.default_rng(seed_c), ccx, cy,
                                                             s * math.sqrt(cereal_area / math.pi * aspect),
                                                             s * math.sqrt(cereal_area / math.pi / aspect),
                                                             bumps=0.08))], cereal_area, SIZE)
        cv.paint([], jitter(rng, (196, 156, 96), 6), strength=0.35, highlight=0.15, drawn=d, texture=0.16, grain=5)
        # flakes
        bx0, by0 = d.x0, d.y0
        hh, ww = d.mask.shape
        for _ in range(60):
            px, py = rng.uniform(0, ww), rng.uniform(0, hh)
            if d.mask[int(py), int(px)]:
                c = jitter(rng, (160, 118, 66), 12)
                cv.draw.ellipse((bx0 + px - 9, by0 + py - 6, bx0 + px + 9, by0 + py + 6), fill=c)
        cv.record("cereal", d)
    top_y = ty0 + 40 + math.sqrt(topping_area / math.pi) * 0.95 + rng.uniform(10, 30)
    piles = []
    if has_banana:
        piles.append(("banana_chips", topping_area * share, rcx - 0.24 * (rx1 - rx0)))
    if has_almonds:
        piles.append(("almonds", topping_area * (1 - share), rcx + 0.24 * (rx1 - rx0)))
    for kind, area, px in piles:
        pcx = X(px + rng.uniform(-10, 10))
        pcy = top_y + rng.uniform(-10, 10)
        seed = int(rng.integers(1 << 30))
        d = resize_to_area(rng, lambda s: [("polygon", blob(np.random.default_rng(seed), pcx, pcy,
                                                             s * math.sqrt(area / math.pi * 1.1),
                                                             s * math.sqrt(area / math.pi / 1.1), bumps=0.1))],
                           area, SIZE)
        if kind == "banana_chips":
            cv.paint([], (226, 206, 150), strength=0.3, drawn=d, texture=0.08, grain=6)
            colour, size = (236, 220, 170), (20, 20)
        else:
            cv.paint([], (150, 96, 60), strength=0.3, drawn=d, texture=0.1, grain=6)
            colour, size = (126, 76, 44), (20, 12)
        hh, ww = d.mask.shape
        for _ in range(45):
            qx, qy = rng.uniform(0, ww), rng.uniform(0, hh)
            if d.mask[int(qy), int(qx)]:
                c = jitter(rng, colour, 10)
                ax, ay = size
                cv.draw.ellipse((d.x0 + qx - ax, d.y0 + qy - ay, d.x0 + qx + ax, d.y0 + qy + ay), fill=c,
                                outline=tuple(int(v * 0.8) for v in c))
        cv.record(kind, d)
    return cv
