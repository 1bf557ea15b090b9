"""Pushpins like MVTec LOCO's: a tray of 3 x 5 compartments seen from above, one yellow pushpin lying in
each. The compartments are separated by 22 wall segments (2 x 5 horizontal, 4 x 3 vertical); each segment
is one ``separator`` instance, so a missing wall is a missing instance.
"""

from __future__ import annotations

import math

import numpy as np

from .common import Canvas, centre_parts, jitter, rasterise, rotate_points

PRODUCT = "pushpins"
SIZE = (1700, 1000)
ROWS, COLS = 3, 5
RULES = ("tray_present", "no_empty_compartment", "no_crowded_compartment", "separators_complete")
DEFECTS: dict[str, tuple[str, ...]] = {
    "missing_pushpin": ("no_empty_compartment",),
    "1_additional_pushpin": ("no_crowded_compartment",),
    "2_additional_pushpins": ("no_crowded_compartment",),
    "missing_separator": ("separators_complete",),
}
STRUCTURAL = ("broken", "color", "contamination", "front_bent")


def _pin_parts(cx: float, cy: float, angle: float, scale: float) -> tuple[list, list, list]:
    """Head (round, flattened), body and needle of a pin lying on its side, pointing along ``angle``."""
    s = scale
    head = [("ellipse", (-0.5 * s, -0.28 * s, -0.2 * s, 0.28 * s))]
    body = [("polygon", [(-0.3 * s, -0.17 * s), (0.12 * s, -0.11 * s), (0.12 * s, 0.11 * s), (-0.3 * s, 0.17 * s)])]
    needle = [("polygon", [(0.1 * s, -0.035 * s), (0.5 * s, -0.01 * s), (0.5 * s, 0.01 * s), (0.1 * s, 0.035 * s)])]

    def place(parts: list) -> list:
        out = []
        for kind, geom in parts:
            if kind == "ellipse":  # rotate the ellipse's centre only (it is nearly round)
                x0, y0, x1, y1 = geom
                (mx, my), = rotate_points([((x0 + x1) / 2, (y0 + y1) / 2)], 0, 0, angle)
                out.append(("ellipse", (mx - (x1 - x0) / 2, my - (y1 - y0) / 2, mx + (x1 - x0) / 2, my + (y1 - y0) / 2)))
            else:
                out.append((kind, rotate_points(geom, 0, 0, angle)))
        return out

    head, body, needle = place(head), place(body), place(needle)
    whole = centre_parts(head + body + needle, cx, cy)
    n1, n2 = len(head), len(head) + len(body)
    return whole[:n1], whole[n1:n2], whole[n2:]


def render(rng: np.random.Generator, defect: str | None) -> Canvas:
    W, H = SIZE
    cv = Canvas(rng, SIZE, (188, 190, 186), vignette=0.2)
    dx, dy = rng.uniform(-20, 20), rng.uniform(-15, 15)
    tx0, ty0 = 170 + dx, 90 + dy
    tx1, ty1 = W - 170 + dx, H - 90 + dy
    cw, ch = (tx1 - tx0) / COLS, (ty1 - ty0) / ROWS
    wall = 18.0
    tray = cv.paint([("rect", (tx0, ty0, tx1, ty1), 18)], (58, 62, 70), shade="radial", strength=0.2,
                    highlight=0.05)
    cv.record("tray", tray)
    # compartment floors
    for r in range(ROWS):
        for c in range(COLS):
            x0, y0 = tx0 + c * cw + wall / 2, ty0 + r * ch + wall / 2
            cv.paint([("rect", (x0 + 6, y0 + 6, x0 + cw - wall - 6, y0 + ch - wall - 6), 10)], (34, 36, 42),
                     shade="radial", strength=0.3, highlight=0.1)
    # the separators: vertical walls between columns, horizontal walls between rows
    segments = []
    for r in range(ROWS):
        for c in range(1, COLS):
            x = tx0 + c * cw
            segments.append((x - wall / 2, ty0 + r * ch + wall / 2 + 2, x + wall / 2, ty0 + (r + 1) * ch - wall / 2 - 2))
    for r in range(1, ROWS):
        for c in range(COLS):
            y = ty0 + r * ch
            segments.append((tx0 + c * cw + wall / 2 + 2, y - wall / 2, tx0 + (c + 1) * cw - wall / 2 - 2, y + wall / 2))
    missing: set[int] = set()
    if defect == "missing_separator":
        missing.add(int(rng.integers(len(segments))))
    for k, seg in enumerate(segments):
        if k in missing:
            continue
        d = cv.paint([("rect", seg, 3)], (120, 126, 136), shade="flat", texture=0.02, grain=4)
        cv.record("separator", d)
    for r in range(ROWS + 1):  # posts where walls meet
        for c in range(COLS + 1):
            if 0 < r < ROWS and 0 < c < COLS:
                x, y = tx0 + c * cw, ty0 + r * ch
                cv.draw.rectangle((x - wall / 2, y - wall / 2, x + wall / 2, y + wall / 2), fill=(110, 116, 126))

    # one pin per compartment, unless the defect says otherwise
    counts = np.ones((ROWS, COLS), int)
    if defect == "missing_pushpin":
        counts.flat[int(rng.integers(ROWS * COLS))] = 0
    elif defect == "1_additional_pushpin":
        counts.flat[int(rng.integers(ROWS * COLS))] = 2
    elif defect == "2_additional_pushpins":
        cells = rng.choice(ROWS * COLS, size=2, replace=bool(rng.random() < 0.3))
        for k in cells:
            counts.flat[int(k)] += 1
    scale = rng.uniform(120, 132)
    for r in range(ROWS):
        for c in range(COLS):
            n = int(counts[r, c])
            ccx, ccy = tx0 + (c + 0.5) * cw, ty0 + (r + 0.5) * ch
            if n == 1:
                spots = [(ccx + rng.uniform(-0.15, 0.15) * cw, ccy + rng.uniform(-0.15, 0.15) * ch)]
            else:  # several pins side by side, every centre well inside the compartment
                spots = [(ccx + rng.uniform(-0.05, 0.05) * cw, ccy + (k - (n - 1) / 2) * 0.3 * ch) for k in range(n)]
            for x, y in spots:
                angle = rng.uniform(-180, 180) if n == 1 else rng.uniform(-20, 20) + (180 if rng.random() < 0.5 else 0)
                head, body, needle = _pin_parts(x, y, angle, scale)
                cv.paint(needle, (196, 198, 204), shade="flat")
                cv.paint(body, jitter(rng, (236, 200, 30), 5), shade="radial", strength=0.3)
                cv.paint(head, jitter(rng, (246, 210, 40), 5), shade="radial", strength=0.4, highlight=0.3)
                pin = rasterise(head + body + needle, SIZE)
                cv.record("pin", pin)
    return cv


def cell_of(x: float, y: float, tray_box: tuple[float, float, float, float]) -> tuple[int, int]:
    """The (row, column) of the grid cell that contains (x, y) (used by tests)."""
    x0, y0, x1, y1 = tray_box
    return int(math.floor((y - y0) / (y1 - y0) * ROWS)), int(math.floor((x - x0) / (x1 - x0) * COLS))
