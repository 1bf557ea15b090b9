"""Splicing connectors like MVTec LOCO's: two lever terminal blocks (2, 3 or 5 clamps) on a light table,
joined by one cable whose colour is fixed by the clamp count (2 yellow, 3 blue, 5 red), entering both
blocks at the same clamp. The cable's ends run inside the blocks, so its length is about the distance
between the blocks' centres (rule: at least 0.8 of it).
"""

from __future__ import annotations

import math

import numpy as np

from .common import Canvas, jitter

PRODUCT = "splicing_connectors"
SIZE = (1700, 850)
RULES = ("two_connectors", "same_type", "cable_long_enough", "one_cable", "colour_code", "cable_symmetric")
DEFECTS: dict[str, tuple[str, ...]] = {
    "wrong_connector_type_2_3": ("same_type",),
    "wrong_connector_type_2_5": ("same_type",),
    "wrong_connector_type_3_5": ("same_type",),
    "cable_color": ("colour_code",),
    "missing_connector": ("two_connectors",),
    "missing_connector_and_cable": ("two_connectors", "one_cable"),
    "missing_cable": ("one_cable",),
    "extra_cable": ("one_cable",),
    "wrong_cable_location": ("cable_symmetric",),
    "cable_too_short_T2": ("cable_long_enough",),
    "cable_too_short_T3": ("cable_long_enough",),
    "cable_too_short_T5": ("cable_long_enough",),
    "cable_cut": ("cable_long_enough",),
}
STRUCTURAL = ("broken_cable", "broken_connector", "cable_not_plugged", "color", "contamination",
              "flipped_connector", "open_lever", "unknown_cable_color")

COLOUR_OF = {2: "yellow", 3: "blue", 5: "red"}
RGB = {"yellow": (232, 196, 30), "blue": (40, 90, 190), "red": (196, 36, 36)}
PITCH = 68.0  # clamp pitch, pixels
CW = 190.0  # block width, pixels


class _Block:
    def __init__(self, cx: float, cy: float, clamps: int, side: str):
        self.cx, self.cy, self.clamps, self.side = cx, cy, clamps, side
        self.h = clamps * PITCH + 24
        self.top = cy - self.h / 2

    def slot_y(self, slot: int) -> float:
        return self.top + 12 + (slot - 0.5) * PITCH

    def inner_x(self) -> float:
        """Where a cable's end sits inside the block (towards the other block)."""
        return self.cx + (0.12 * CW if self.side == "left" else -0.12 * CW)


def _curve(p0: tuple[float, float], p1: tuple[float, float], sag: float, n: int = 24) -> list[tuple[float, float]]:
    (x0, y0), (x1, y1) = p0, p1
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2 + sag
    pts = []
    for i in range(n + 1):
        t = i / n
        x = (1 - t) ** 2 * x0 + 2 * (1 - t) * t * mx + t * t * x1
        y = (1 - t) ** 2 * y0 + 2 * (1 - t) * t * my + t * t * y1
        pts.append((x, y))
    return pts


def _cable(cv: Canvas, pts: list[tuple[float, float]], colour: str, thick: float, frayed: bool = False) -> None:
    parts = [("line", pts, thick)]
    d = cv.paint(parts, jitter(cv.rng, RGB[colour], 6), shade="flat")
    # a highlight along the cable
    cv.draw.line([(x, y - thick * 0.22) for x, y in pts], fill=tuple(min(255, c + 60) for c in RGB[colour]),
                 width=max(2, int(thick * 0.18)))
    if frayed:
        x, y = pts[-1]
        for k in range(5):
            a = math.radians(-40 + 20 * k)
            cv.draw.line([(x, y), (x + 14 * math.cos(a), y + 14 * math.sin(a))], fill=(200, 130, 60), width=3)
    cv.record("cable", d, {"color": colour})


def _draw_block(cv: Canvas, b: _Block, slot: int) -> None:
    x0, x1 = b.cx - CW / 2, b.cx + CW / 2
    body = cv.paint([("rect", (x0, b.top, x1, b.top + b.h), 14)], (214, 218, 222), shade="radial", strength=0.2,
                    highlight=0.1, opacity=0.86)
    # the levers, on the outer side; the cable enters from the inner side
    for k in range(1, b.clamps + 1):
        y = b.slot_y(k)
        lx0, lx1 = (x0 + 8, b.cx - 8) if b.side == "left" else (b.cx + 8, x1 - 8)
        cv.paint([("rect", (lx0, y - PITCH * 0.36, lx1, y + PITCH * 0.36), 6)], (236, 120, 30), shade="vertical",
                 strength=0.3, highlight=0.2)
        ox = x1 - 22 if b.side == "left" else x0 + 22
        cv.draw.ellipse((ox - 9, y - 9, ox + 9, y + 9), fill=(90, 94, 98))
    cv.record("connector", body, {"clamps": b.clamps, "cable_slot": slot})


def render(rng: np.random.Generator, defect: str | None) -> Canvas:
    W, H = SIZE
    cv = Canvas(rng, SIZE, (232, 230, 224), vignette=0.2)
    types = (2, 3, 5)
    t = int(rng.choice(types))
    left_t = right_t = t
    if defect and defect.startswith("wrong_connector_type_"):
        a, b = (int(v) for v in defect.rsplit("_", 2)[-2:])
        left_t, right_t = (a, b) if rng.random() < 0.5 else (b, a)
        t = int(rng.choice([a, b]))
    elif defect and defect.startswith("cable_too_short_T"):
        left_t = right_t = t = int(defect[-1])
    colour = COLOUR_OF[t]
    if defect == "cable_color":
        colour = str(rng.choice([c for c in RGB if c != COLOUR_OF[t]]))

    cy = H / 2 + rng.uniform(-40, 40)
    left = _Block(W * rng.uniform(0.19, 0.23), cy + rng.uniform(-15, 15), left_t, "left")
    right = _Block(W * rng.uniform(0.77, 0.81), cy + rng.uniform(-15, 15), right_t, "right")
    slot = int(rng.integers(1, min(left_t, right_t) + 1))
    left_slot = right_slot = slot
    if defect == "wrong_cable_location":
        right_slot = int(rng.choice([s for s in range(1, right_t + 1) if s != slot]))
    blocks = [left, right]
    if defect in ("missing_connector", "missing_connector_and_cable"):
        blocks = [left] if rng.random() < 0.5 else [right]

    thick = rng.uniform(24, 28)
    span = abs(right.cx - left.cx)
    cables: list[tuple[list[tuple[float, float]], bool]] = []
    if defect in ("missing_cable", "missing_connector_and_cable"):
        pass
    elif defect == "missing_connector":
        b = blocks[0]
        p0 = (b.inner_x(), b.slot_y(slot))
        direction = 1 if b.side == "left" else -1
        end = (p0[0] + direction * span * rng.uniform(0.5, 0.8), p0[1] + rng.uniform(60, 160))
        cables.append((_curve(p0, end, rng.uniform(20, 80)), False))
    elif defect is not None and (defect.startswith("cable_too_short") or defect == "cable_cut"):
        # plugged into one block only; the free end falls well short of the other one
        frac = rng.uniform(0.45, 0.62) if defect != "cable_cut" else rng.uniform(0.2, 0.36)
        b = left if rng.random() < 0.5 else right
        p0 = (b.inner_x(), b.slot_y(slot))
        direction = 1 if b.side == "left" else -1
        end = (p0[0] + direction * span * frac, p0[1] + rng.uniform(10, 60))
        cables.append((_curve(p0, end, rng.uniform(5, 30)), defect == "cable_cut"))
    else:
        p0 = (left.inner_x(), left.slot_y(left_slot))
        p1 = (right.inner_x(), right.slot_y(right_slot))
        cables.append((_curve(p0, p1, rng.uniform(10, 110)), False))
        if defect == "extra_cable":
            other = int(rng.choice([s for s in range(1, min(left_t, right_t) + 1) if s != slot]))
            q0 = (left.inner_x(), left.slot_y(other))
            q1 = (right.inner_x(), right.slot_y(other))
            cables.append((_curve(q0, q1, rng.uniform(-110, 110)), False))
    for pts, frayed in cables:
        _cable(cv, pts, colour, thick, frayed)
    for b in blocks:
        _draw_block(cv, b, left_slot if b is left else right_slot)
    return cv


