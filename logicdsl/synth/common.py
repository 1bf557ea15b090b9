"""Drawing, shading, sensor noise and encoding shared by the synthetic products.

Everything here is cheap on purpose (the generator must render well over 20 images/s on two cores):
shapes are rasterised by PIL into small local masks, shaded with numpy gradients on that patch only,
and pasted into the frame through the mask; lighting is a low-resolution gain field resized with
OpenCV; sensor noise is a fixed pre-computed tile sampled at a random offset.

Every drawn object yields its scene entry from the pixels it actually covers: the axis-aligned box
and area come from its mask, the rotated box from ``cv2.minAreaRect`` over the mask's outline.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

Colour = tuple[int, int, int]
Point = tuple[float, float]

#: one part of a shape: ("ellipse", (x0, y0, x1, y1)), ("polygon", [(x, y), ...]),
#: ("line", [(x, y), ...], width), ("rect", (x0, y0, x1, y1), radius); a leading "-" cuts a hole
Part = tuple


@dataclass
class Drawn:
    """What a drawn shape covers: its local mask (uint8, 0/255) and the mask's offset in the frame."""

    mask: np.ndarray
    x0: int
    y0: int

    def scene_object(self, label: str, attributes: dict[str, Any] | None = None) -> dict[str, Any]:
        return scene_object_from_mask(label, self.mask, self.x0, self.y0, attributes)


def scene_object_from_mask(
    label: str, mask: np.ndarray, x0: int, y0: int, attributes: dict[str, Any] | None = None
) -> dict[str, Any]:
    bx, by, bw, bh = cv2.boundingRect(mask)
    if bw == 0 or bh == 0:
        raise ValueError(f"{label}: empty mask")
    box = [float(x0 + bx), float(y0 + by), float(x0 + bx + bw), float(y0 + by + bh)]
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    pts = np.concatenate(contours).reshape(-1, 2).astype(np.float32)
    (cx, cy), (w, h), angle = cv2.minAreaRect(pts)
    return {
        "label": label,
        "box": box,
        "rbox": {"cx": round(float(cx) + x0, 2), "cy": round(float(cy) + y0, 2),
                 "w": round(float(w) + 1, 2), "h": round(float(h) + 1, 2), "angle": round(float(angle), 2)},
        "area": float(cv2.countNonZero(mask)),
        "score": 1.0,
        "attributes": dict(attributes or {}),
    }


def _part_points(part: Part) -> list[Point]:
    kind = part[0].lstrip("-")
    if kind in ("ellipse", "rect"):
        x0, y0, x1, y1 = part[1]
        return [(x0, y0), (x1, y1)]
    if kind == "polygon":
        return list(part[1])
    if kind == "line":
        w = part[2] / 2 + 1
        return [(x - w, y - w) for x, y in part[1]] + [(x + w, y + w) for x, y in part[1]]
    raise ValueError(f"unknown part kind {part[0]!r}")


def _draw_part(d: ImageDraw.ImageDraw, part: Part, ox: float, oy: float) -> None:
    kind = part[0]
    fill = 0 if kind.startswith("-") else 255
    kind = kind.lstrip("-")
    if kind == "ellipse":
        x0, y0, x1, y1 = part[1]
        d.ellipse((x0 - ox, y0 - oy, x1 - ox, y1 - oy), fill=fill)
    elif kind == "rect":
        x0, y0, x1, y1 = part[1]
        r = part[2] if len(part) > 2 else 0
        d.rounded_rectangle((x0 - ox, y0 - oy, x1 - ox, y1 - oy), radius=r, fill=fill)
    elif kind == "polygon":
        d.polygon([(x - ox, y - oy) for x, y in part[1]], fill=fill)
    elif kind == "line":
        pts = [(x - ox, y - oy) for x, y in part[1]]
        d.line(pts, fill=fill, width=int(round(part[2])), joint="curve")
        r = part[2] / 2
        for x, y in (pts[0], pts[-1]):
            d.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def rasterise(parts: Sequence[Part], size: tuple[int, int]) -> Drawn | None:
    """The mask of a shape made of parts, clipped to the frame; None when nothing is visible."""
    W, H = size
    pts = [p for part in parts if not part[0].startswith("-") for p in _part_points(part)]
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0 = max(0, int(math.floor(min(xs))) - 2)
    y0 = max(0, int(math.floor(min(ys))) - 2)
    x1 = min(W, int(math.ceil(max(xs))) + 3)
    y1 = min(H, int(math.ceil(max(ys))) + 3)
    if x1 <= x0 or y1 <= y0:
        return None
    m = Image.new("L", (x1 - x0, y1 - y0), 0)
    d = ImageDraw.Draw(m)
    for part in parts:
        _draw_part(d, part, x0, y0)
    arr = np.asarray(m)
    if not arr.any():
        return None
    return Drawn(np.array(arr), x0, y0)


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _grid(sh: int, sw: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates -1 .. 1 of a low-resolution shading patch: a row (1 x sw) and a column (sh x 1)."""
    g = _GRIDS.get((sh, sw))
    if g is None:
        g = (np.linspace(-1, 1, sw, dtype=np.float32)[None, :], np.linspace(-1, 1, sh, dtype=np.float32)[:, None])
        if len(_GRIDS) < 4096:
            _GRIDS[(sh, sw)] = g
    return g


class Canvas:
    """An RGB frame being painted, plus the scene objects recorded on it."""

    def __init__(self, rng: np.random.Generator, size: tuple[int, int], background: Colour, *,
                 vignette: float = 0.25, unevenness: float = 0.12):
        self.rng = rng
        self.size = size
        W, H = size
        # light: a low-resolution random gain field with a vignette, resized smoothly to the frame
        sw, sh = max(8, W // 16), max(8, H // 16)
        g = 1.0 + rng.uniform(-unevenness, unevenness, (4, 4)).astype(np.float32)
        gain = cv2.resize(g, (sw, sh), interpolation=cv2.INTER_CUBIC)
        yy = np.linspace(-1, 1, sh, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, sw, dtype=np.float32)[None, :]
        gain *= 1.0 - vignette * 0.5 * (xx * xx + yy * yy)
        base = np.array(background, np.float32)
        small = np.clip(gain[..., None] * base, 0, 255).astype(np.uint8)
        bg = cv2.resize(small, (W, H), interpolation=cv2.INTER_LINEAR)
        self.gain = gain
        self.image = Image.fromarray(bg, "RGB")
        self.draw = ImageDraw.Draw(self.image)
        self.objects: list[dict[str, Any]] = []
        self._patches: dict[tuple, Image.Image] = {}  # shading patches without texture, by what makes them
        # where the key light comes from (upper left by default, jittered): used for highlights
        a = rng.uniform(-2.6, -2.0)
        self.light = (math.cos(a), math.sin(a))

    # -- painting -------------------------------------------------------------------------------
    def paint(self, parts: Sequence[Part], colour: Colour, *, shade: str = "radial", strength: float = 0.45,
              highlight: float = 0.25, opacity: float = 1.0, drawn: Drawn | None = None, texture: float = 0.0,
              grain: int = 6) -> Drawn | None:
        """Fill a shape with ``colour``, shaded as a ball (radial), a cylinder (vertical/horizontal) or flat,
        optionally with a coarse multiplicative ``texture`` (cereal, fruit skin, paper) of cell size ``grain``."""
        drawn = drawn or rasterise(parts, self.size)
        if drawn is None:
            return None
        h, w = drawn.mask.shape
        where = (drawn.x0, drawn.y0, drawn.x0 + w, drawn.y0 + h)
        if opacity >= 1:  # a two-level mask: PIL copies pixels instead of blending them
            mask = Image.frombytes("1", (w, h), drawn.mask, "raw", "1;8")
        else:
            mask = Image.fromarray(np.bitwise_and(drawn.mask, int(255 * opacity)), "L")
        if shade == "flat" and not texture:  # one colour: no shading patch at all
            self.image.paste(tuple(int(c) for c in colour), where, mask)
            return drawn
        key = None if texture else (shade, h, w, tuple(colour), strength, highlight, grain)
        patch_image = self._patches.get(key) if key else None
        if patch_image is None:
            patch_image = self._shading(h, w, colour, shade, strength, highlight, texture, grain)
            if key:
                self._patches[key] = patch_image
        self.image.paste(patch_image, where, mask)
        return drawn

    def _shading(self, h: int, w: int, colour: Colour, shade: str, strength: float, highlight: float,
                 texture: float, grain: int) -> Image.Image:
        """The shading patch of a shape's box, as an RGBA image (its alpha byte is unused: PIL takes 4-byte pixels
        onto an RGB canvas without repacking them)."""
        sh, sw = max(2, h // grain), max(2, w // grain)
        xx, yy = _grid(sh, sw)
        lx, ly = self.light
        if shade == "flat":
            light = np.ones((sh, sw), np.float32)
        elif shade == "radial":
            dx = xx - 0.45 * lx
            dy = yy - 0.45 * ly
            r2 = xx * xx + yy * yy
            light = 1.0 + highlight * np.exp(-(dx * dx + dy * dy) * 6.0) - strength * np.clip(r2 - 0.3, 0, 1)
        elif shade == "horizontal":  # a vertical cylinder: darker left and right edges
            light = np.broadcast_to(1.0 + highlight * np.exp(-((xx - 0.35 * lx) ** 2) * 8.0) - strength * xx * xx,
                                    (sh, sw))
        elif shade == "vertical":
            light = np.broadcast_to(1.0 + highlight * np.exp(-((yy - 0.35 * ly) ** 2) * 8.0) - strength * yy * yy,
                                    (sh, sw))
        else:
            raise ValueError(shade)
        if texture:
            light = light * self.rng.normal(1.0, texture, (sh, sw)).astype(np.float32)
        small = np.empty((sh, sw, 4), np.float32)
        np.multiply(light[..., None], (*colour, 255.0), out=small)
        small = np.clip(small, 0, 255, out=small).astype(np.uint8)
        patch = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
        return Image.frombuffer("RGBA", (w, h), patch, "raw", "RGBA", 0, 1)

    def outline(self, parts: Sequence[Part], colour: Colour, width: int = 2) -> None:
        for part in parts:
            kind = part[0]
            if kind == "ellipse":
                self.draw.ellipse(part[1], outline=colour, width=width)
            elif kind == "rect":
                self.draw.rounded_rectangle(part[1], radius=part[2] if len(part) > 2 else 0, outline=colour, width=width)
            elif kind == "polygon":
                self.draw.polygon(list(part[1]), outline=colour, width=width)

    def record(self, label: str, drawn: Drawn | None, attributes: dict[str, Any] | None = None) -> None:
        if drawn is not None:
            self.objects.append(drawn.scene_object(label, attributes))

    # -- finishing ------------------------------------------------------------------------------
    def finish(self, *, noise: float = 1.0, blur: bool = True) -> np.ndarray:
        """Lens blur, global exposure change and sensor noise; returns H x W x 3 uint8 RGB."""
        arr = np.asarray(self.image)
        if blur:
            arr = cv2.GaussianBlur(arr, (3, 3), 0.8)
        gain = float(self.rng.uniform(0.9, 1.1))
        bias = float(self.rng.uniform(-6, 6))
        if noise > 0:  # exposure and noise in one pass
            return add_sensor_noise(arr, self.rng, noise, gain=gain, bias=bias)
        return cv2.convertScaleAbs(arr, alpha=gain, beta=bias)


# -- sensor noise: one fixed tile per process, sampled at a random offset -------------------------
_NOISE: np.ndarray | None = None
_NOISE_SIZE = 2048
_NOISE_SIGMA = 2.2
_NOISE_ZERO = 128  # the tile holds noise + 128 as uint8, so that one saturating pass adds it


def noise_tile() -> np.ndarray:
    """The sensor-noise tile: 2048 x 2048 x 3 uint8, Gaussian noise of sigma 2.2 around 128, the same in every
    process (OpenCV's generator, seeded; about 0.1 s). ``generate`` makes it before starting worker processes,
    which inherit it."""
    global _NOISE
    if _NOISE is None:
        tile = np.empty((_NOISE_SIZE, _NOISE_SIZE, 3), np.uint8)
        cv2.setRNGSeed(20240611)
        cv2.randn(tile, (_NOISE_ZERO,) * 3, (_NOISE_SIGMA,) * 3)
        _NOISE = tile
    return _NOISE


def add_sensor_noise(arr: np.ndarray, rng: np.random.Generator, amount: float = 1.0, *, gain: float = 1.0,
                     bias: float = 0.0) -> np.ndarray:
    """``gain * arr + bias + amount * noise``, saturated to uint8, in one pass; the noise is the tile at a random
    offset."""
    tile = noise_tile()
    h, w = arr.shape[:2]
    oy = int(rng.integers(0, _NOISE_SIZE - h + 1))
    ox = int(rng.integers(0, _NOISE_SIZE - w + 1))
    return cv2.addWeighted(arr, gain, tile[oy:oy + h, ox:ox + w], amount, bias - _NOISE_ZERO * amount,
                           dtype=cv2.CV_8U)


# -- encoding ----------------------------------------------------------------------------------
def png_chunks(arr: np.ndarray, level: int = 0) -> list[bytes]:
    """An 8-bit RGB PNG of ``arr`` as a list of byte strings to be written one after another (see ``encode_png``)."""
    h, w = arr.shape[:2]
    raw = np.empty((h, w * 3 + 1), np.uint8)
    rows = arr.reshape(h, w * 3)
    if level <= 0:
        raw[:, 0] = 0  # filter type None
        raw[:, 1:] = rows
    else:
        raw[:, 0] = 2  # filter type Up
        raw[0, 0] = 0
        raw[0, 1:] = rows[0]
        np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return [b"\x89PNG\r\n\x1a\n", *_chunk(b"IHDR", header), *_chunk(b"IDAT", zlib.compress(raw, max(0, level))),
            *_chunk(b"IEND", b"")]


def _chunk(kind: bytes, data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)), kind, data, struct.pack(">I", crc)


def encode_png(arr: np.ndarray, level: int = 0) -> bytes:
    """An 8-bit RGB PNG. ``level`` 0, for frames with sensor noise: unfiltered rows in stored deflate blocks, about
    3 bytes a pixel. Noise leaves deflate nothing to match, and its Huffman coding alone (half the size) costs ten
    times what the rest of the image does; OpenCV's and Pillow's encoders at level 0 are slower than this (they
    also filter and repack rows). ``level`` 1..9, for noise-free frames, which compress well and fast: the 'up'
    filter on every row and zlib at that level."""
    return b"".join(png_chunks(arr, level))


def encode_jpg(arr: np.ndarray, quality: int = 92) -> bytes:
    # cvtColor, not arr[..., ::-1]: numpy's copy of a reversed channel axis costs more than the JPEG encoding
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(arr, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


# -- geometry helpers ----------------------------------------------------------------------------
def rotated_rect(cx: float, cy: float, w: float, h: float, angle_deg: float) -> list[Point]:
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    pts = []
    for dx, dy in ((-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)):
        pts.append((cx + dx * c - dy * s, cy + dx * s + dy * c))
    return pts


def rotate_points(pts: Sequence[Point], cx: float, cy: float, angle_deg: float) -> list[Point]:
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in pts]


def regular_polygon(cx: float, cy: float, r: float, n: int, angle_deg: float = 0.0) -> list[Point]:
    a0 = math.radians(angle_deg)
    return [(cx + r * math.cos(a0 + 2 * math.pi * k / n), cy + r * math.sin(a0 + 2 * math.pi * k / n)) for k in range(n)]


def blob(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float, bumps: float = 0.12,
         n: int = 28) -> list[Point]:
    """An irregular closed outline around an ellipse (a pile of cereal, a fruit)."""
    k = rng.normal(0, 1, 4)
    out = []
    for i in range(n):
        t = 2 * math.pi * i / n
        r = 1 + bumps * (0.5 * k[0] * math.sin(2 * t + k[1]) + 0.5 * k[2] * math.sin(3 * t + k[3]))
        out.append((cx + rx * r * math.cos(t), cy + ry * r * math.sin(t)))
    return out


def jitter(rng: np.random.Generator, c: Colour, amount: float = 10) -> Colour:
    return tuple(int(min(255.0, max(0.0, v + rng.normal(0, amount)))) for v in c)  # type: ignore[return-value]


_FONTS: dict[int, Any] = {}


def font(size: int):
    if size not in _FONTS:
        try:
            _FONTS[size] = ImageFont.load_default(size=size)
        except TypeError:  # pragma: no cover - Pillow < 10.1
            _FONTS[size] = ImageFont.load_default()
    return _FONTS[size]


@dataclass
class Placement:
    """Non-overlapping placement of round footprints inside a rectangle (rejection sampling)."""

    x0: float
    y0: float
    x1: float
    y1: float
    placed: list[tuple[float, float, float]] = field(default_factory=list)

    def place(self, rng: np.random.Generator, radius: float, gap: float = 8, tries: int = 400) -> tuple[float, float]:
        for _ in range(tries):
            x = rng.uniform(self.x0 + radius, self.x1 - radius)
            y = rng.uniform(self.y0 + radius, self.y1 - radius)
            if all((x - px) ** 2 + (y - py) ** 2 >= (radius + pr + gap) ** 2 for px, py, pr in self.placed):
                self.placed.append((x, y, radius))
                return x, y
        raise PlacementError("no room left")


class PlacementError(Exception):
    pass


def parts_bbox(parts: Sequence[Part]) -> tuple[float, float, float, float]:
    pts = [p for part in parts if not part[0].startswith("-") for p in _part_points(part)]
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def move_parts(parts: Sequence[Part], dx: float, dy: float) -> list[Part]:
    out: list[Part] = []
    for part in parts:
        kind = part[0].lstrip("-")
        if kind in ("ellipse", "rect"):
            x0, y0, x1, y1 = part[1]
            out.append((part[0], (x0 + dx, y0 + dy, x1 + dx, y1 + dy), *part[2:]))
        else:
            out.append((part[0], [(x + dx, y + dy) for x, y in part[1]], *part[2:]))
    return out


def centre_parts(parts: Sequence[Part], cx: float, cy: float) -> list[Part]:
    """Move a shape so that the centre of its bounding box lands on (cx, cy)."""
    x0, y0, x1, y1 = parts_bbox(parts)
    return move_parts(parts, cx - (x0 + x1) / 2, cy - (y0 + y1) / 2)


class Occupancy:
    """Free space for non-overlapping placement of arbitrary polygons (a coarse raster, 1/4 scale)."""

    def __init__(self, size: tuple[int, int], scale: int = 4):
        self.scale = scale
        self.size = (size[0] // scale + 1, size[1] // scale + 1)
        self.grid = np.zeros((self.size[1], self.size[0]), bool)

    def _raster(self, polygon: Sequence[Point], margin: float) -> np.ndarray:
        m = Image.new("L", self.size, 0)
        d = ImageDraw.Draw(m)
        pts = [(x / self.scale, y / self.scale) for x, y in polygon]
        d.polygon(pts, fill=255, outline=255, width=max(1, int(round(2 * margin / self.scale))))
        return np.asarray(m) > 0

    def try_add(self, polygon: Sequence[Point], margin: float = 10) -> bool:
        r = self._raster(polygon, margin)
        if (r & self.grid).any():
            return False
        self.grid |= self._raster(polygon, 0)
        return True


def resize_to_area(rng: np.random.Generator, make, target: float, size: tuple[int, int]) -> Drawn:
    """Rasterise ``make(scale)`` and rescale once so its mask area is within ~1 % of ``target`` pixels."""
    scale = 1.0
    drawn = None
    for _ in range(3):
        drawn = rasterise(make(scale), size)
        assert drawn is not None
        area = float(np.count_nonzero(drawn.mask))
        if abs(area - target) <= 0.01 * target:
            break
        scale *= math.sqrt(target / area)
    assert drawn is not None
    return drawn
