"""Station profiles for the built-in vision backend: a TOML file, validated with pydantic.

A profile says *how* a station sees the objects a rule file names (the rules say *what* must hold).
It maps each object to a segmentation recipe and each attribute to a measurement::

    [station]
    product = "juice_bottle"
    long_side = 800                  # segment at this long side (pixels); objects may override

    [objects.bottle]
    brightness = [40, 255]           # gray level range of candidate pixels
    morphology = ["close 15", "fill_holes", "open 5"]
    group = "largest"                # components | merge | largest
    area = [0.1, 0.6]                # mask area / (W * H)

    [objects.juice]
    within = "bottle"                # search inside another object (its mask; or its box with within_mode)
    subtract = ["fruit_label", "juice_label"]
    colour = [{space = "hsv", low = [0, 90, 50], high = [180, 255, 255]}]

    [objects.juice.attributes.kind]
    measure = "colour_class"
    classes.cherry = [{space = "hsv", low = [165, 80, 40], high = [12, 255, 255]}]   # hue wraps
    classes.orange = [{space = "hsv", low = [15, 80, 80], high = [35, 255, 255]}]

Colour spaces use OpenCV's 8-bit conventions: HSV hue 0..180, S and V 0..255 (a hue range whose
low end is above its high end wraps through red); Lab L, a, b 0..255; RGB 0..255; gray 0..255.
Sizes in ``morphology`` and ``lines`` are pixels at the object's working resolution (``long_side``).

Every validation problem is a one-line :class:`BackendError` naming the file and the key path,
e.g. ``station.vision.toml: objects.juice.colour.0.low: expected 3 numbers``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .backend import BackendError

Bounds = tuple[float, float]
Box = tuple[float, float, float, float]

_MORPH = re.compile(r"^(open|close|close_v|close_h|open_v|open_h|cut_crossings|dilate|erode|fill_holes|hull)(\s+\d+)?$")
_SPACE_MAX = {"hsv": (180, 255, 255), "lab": (255, 255, 255), "rgb": (255, 255, 255), "gray": (255,)}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_bounds(v: Bounds | None, name: str = "bounds") -> Bounds | None:
    if v is not None and v[0] > v[1]:
        raise ValueError(f"{name} must be [low, high] with low <= high")
    return v


def _check_box(v: Box | None) -> Box | None:
    if v is None:
        return v
    x0, y0, x1, y1 = v
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise ValueError("a box is [x0, y0, x1, y1] in fractions, 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1")
    return v


class ColourRange(_Model):
    """An inclusive box in a colour space. For ``hsv`` a low hue above the high hue wraps through red."""

    space: Literal["hsv", "lab", "rgb", "gray"] = "hsv"
    low: list[float]
    high: list[float]

    @model_validator(mode="after")
    def _shape(self) -> "ColourRange":
        n = len(_SPACE_MAX[self.space])
        for name in ("low", "high"):
            vals = getattr(self, name)
            if len(vals) != n:
                raise ValueError(f"`{name}` needs {n} number{'s' if n > 1 else ''} for space `{self.space}`"
                                 f" (got {len(vals)})")
            for v, top in zip(vals, _SPACE_MAX[self.space]):
                if not 0 <= v <= top:
                    raise ValueError(f"`{name}` value {v:g} is outside 0..{top} for space `{self.space}`")
        for i, (lo, hi) in enumerate(zip(self.low, self.high)):
            if lo > hi and not (self.space == "hsv" and i == 0):
                raise ValueError(f"`low` is above `high` in channel {i} (only an hsv hue may wrap)")
        return self


class Lines(_Model):
    """Thin dark (or light) strokes narrower than ``size``: printed outlines, text, seams (black/top-hat)."""

    polarity: Literal["dark", "light"] = "dark"
    size: int = Field(default=11, ge=3, le=101)
    threshold: float = Field(default=15, ge=0, le=255)
    #: the channel to look in: gray (default), HSV ``s``/``v``, Lab ``lab_a``/``lab_b``, or ``r``/``g``/``b``
    channel: Literal["gray", "s", "v", "lab_a", "lab_b", "r", "g", "b"] = "gray"


class Background(_Model):
    """Foreground = pixels far enough from the background.

    ``mode = "colour"``: Lab distance above ``distance`` from ``colour`` (an RGB triple, or ``auto``:
    the median of the image border). ``mode = "local"``: a background estimated per pixel by closing
    (``polarity = "dark"`` parts on a light ground) or opening (``light`` parts) the gray image with a
    disk of ``size`` pixels (larger than the parts are wide), at quarter resolution; foreground where
    the gray level differs from it by more than ``distance`` — lighting gradients do not matter."""

    mode: Literal["colour", "local"] = "colour"
    colour: Union[Literal["auto"], tuple[int, int, int]] = "auto"
    distance: float = Field(default=30, gt=0, le=442)
    size: int = Field(default=61, ge=3, le=1001)
    polarity: Literal["dark", "light"] = "dark"


class Split(_Model):
    """Separate touching instances.

    ``unit_area`` (fraction of the image): a component holding about k times this area is cut into
    k instances (k-means on its pixels) — for identical parts that touch (two pins in one cell).
    ``min_distance`` (pixels at working resolution): watershed on the distance transform, seeds at
    least that deep inside the mask — for round parts that overlap.
    ``concavity`` (pixels at working resolution): cut a blob along the line between two concavities
    of its outline at least this deep that face each other across a neck narrower than 1.5 times the
    shallower of the two, then give each pixel to the nearest piece — for convex parts that touch (a
    nut against a screw). Steps that belong to one part (a screw's head over its shank) must be
    shallower than this.

    They combine in the order watershed, concavity, unit area."""

    unit_area: float | None = Field(default=None, gt=0, le=1)
    #: blobs of more than this many unit areas are left whole (they are something else)
    max_parts: int = Field(default=3, ge=2, le=50)
    min_distance: float | None = Field(default=None, gt=0)
    concavity: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _any(self) -> "Split":
        if self.unit_area is None and self.min_distance is None and self.concavity is None:
            raise ValueError("give at least one of `unit_area`, `min_distance` and `concavity`")
        return self


class ColourClass(_Model):
    """A closed-set attribute from colour: the class whose ranges cover the largest share of the pixels."""

    measure: Literal["colour_class"]
    classes: dict[str, list[ColourRange]]
    #: the share a class must reach to count at all; below it for every class the answer is undecided
    min_fraction: float = Field(default=0.05, ge=0, le=1)
    #: measure on the instance ``mask``, its ``box``, or a sub-box of the box (fractions of it)
    region: Literal["mask", "box"] = "mask"
    inner: Box | None = None
    #: optional share per class that counts as a full vote (a small red icon on yellow paper)
    expected: dict[str, float] = Field(default_factory=dict)
    #: shares among the pixels some class covers (instead of among all pixels of the region)
    normalise: bool = False

    _inner = field_validator("inner")(classmethod(lambda cls, v: _check_box(v)))

    @model_validator(mode="after")
    def _some(self) -> "ColourClass":
        if not self.classes:
            raise ValueError("`classes` needs at least one class")
        for k in self.expected:
            if k not in self.classes:
                raise ValueError(f"`expected` names `{k}`, which is not one of the classes")
        return self


class BlobCount(_Model):
    """A number: how many sub-blobs of a colour (or lines) lie inside the instance."""

    measure: Literal["blob_count"]
    colour: list[ColourRange] = Field(default_factory=list)
    brightness: Bounds | None = None
    lines: Lines | None = None
    inner: Box | None = None
    morphology: list[str] = Field(default_factory=list)
    #: sub-blob area bounds as fractions of the instance's box area
    area: Bounds = (0.0, 1.0)

    _inner = field_validator("inner")(classmethod(lambda cls, v: _check_box(v)))
    _area = field_validator("area")(classmethod(lambda cls, v: _check_bounds(v, "area")))
    _morph = field_validator("morphology")(classmethod(lambda cls, v: _check_morphology(v)))


class Geometry(_Model):
    """A number from the instance's own geometry (image fractions)."""

    measure: Literal["geometry"]
    quantity: Literal["length", "width", "area", "box_width", "box_height", "aspect", "center_x", "center_y"]


class Slot(_Model):
    """A number 1..n: where along the instance another object touches it, in ``slots`` equal parts
    (or as many parts as the number attribute ``slots_from`` says), counted from the top (or left)."""

    measure: Literal["slot"]
    other: str
    axis: Literal["y", "x"] = "y"
    slots: int | None = Field(default=None, ge=1)
    slots_from: str | None = None
    #: how far beyond the instance box (fraction of its size) the other object may touch
    reach: float = Field(default=0.25, ge=0, le=2)

    @model_validator(mode="after")
    def _one(self) -> "Slot":
        if (self.slots is None) == (self.slots_from is None):
            raise ValueError("give exactly one of `slots` and `slots_from`")
        return self


AttributeRecipe = Annotated[Union[ColourClass, BlobCount, Geometry, Slot], Field(discriminator="measure")]


def _check_morphology(steps: list[str]) -> list[str]:
    for s in steps:
        m = _MORPH.match(s.strip())
        if not m:
            raise ValueError(
                f"unknown morphology step `{s}` (use `open N`, `close N`, `close_v N`, `close_h N`, `open_v N`,"
                " `open_h N`, `cut_crossings N`, `dilate N`, `erode N`, `fill_holes`, `hull`)"
            )
        if m.group(1) not in ("fill_holes", "hull") and not m.group(2):
            raise ValueError(f"morphology step `{s}` needs a size in pixels, e.g. `{m.group(1)} 5`")
    return steps


class ObjectRecipe(_Model):
    """How to find the instances of one object."""

    # --- candidate pixels (the sources given are combined with `combine`) ---
    colour: list[ColourRange] = Field(default_factory=list)
    exclude: list[ColourRange] = Field(default_factory=list)
    brightness: Bounds | None = None
    background: Background | None = None
    #: one thin-stroke source or several (each is one more source for `combine`)
    lines: list[Lines] = Field(default_factory=list)
    combine: Literal["all", "any"] = "all"
    #: median-blur the image (odd size, working pixels) before the colour/brightness tests (textured parts)
    blur: int = Field(default=0, ge=0, le=31)
    # --- where to look ---
    search: Box | None = None
    within: str | None = None
    within_mode: Literal["mask", "box"] = "mask"
    within_box: Box | None = None
    within_grow: int = Field(default=0, ge=0)
    subtract: list[str] = Field(default_factory=list)
    subtract_grow: int = Field(default=0, ge=0)
    long_side: int | None = Field(default=None, ge=64, le=8192)
    # --- cleaning and grouping ---
    morphology: list[str] = Field(default_factory=list)
    split: Split | None = None
    group: Literal["components", "merge", "largest"] = "components"
    #: components smaller than this (fraction of image area) are dropped before grouping
    min_component: float = Field(default=0.0, ge=0, le=1)
    # --- acceptance bounds on each instance (image fractions; aspect = rotated long / short side) ---
    area: Bounds | None = None
    aspect: Bounds | None = None
    solidity: Bounds | None = None
    extent: Bounds | None = None
    length: Bounds | None = None
    width: Bounds | None = None
    box_width: Bounds | None = None
    box_height: Bounds | None = None
    #: the component's median colour must lie in one of these ranges (tells apart blobs found by one mask)
    median_colour: list[ColourRange] = Field(default_factory=list)
    max_instances: int | None = Field(default=None, ge=1)
    #: objects found by the same mask that compete for its blobs (a tangerine and a nectarine): a blob
    #: that more than one of them accepts goes to the one whose bounds it sits deepest inside
    rivals: list[str] = Field(default_factory=list)
    attributes: dict[str, AttributeRecipe] = Field(default_factory=dict)

    _boxes = field_validator("search", "within_box")(classmethod(lambda cls, v: _check_box(v)))

    @field_validator("lines", mode="before")
    @classmethod
    def _one_or_more_lines(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return [v]
        if not isinstance(v, list):
            raise ValueError("give one table `{polarity, size, threshold, channel}` or a list of them")
        return v
    _morph = field_validator("morphology")(classmethod(lambda cls, v: _check_morphology(v)))

    @field_validator("brightness", "area", "aspect", "solidity", "extent", "length", "width", "box_width", "box_height")
    @classmethod
    def _bounds(cls, v: Bounds | None) -> Bounds | None:
        return _check_bounds(v)

    @model_validator(mode="after")
    def _has_source(self) -> "ObjectRecipe":
        if not (self.colour or self.brightness or self.background or self.lines):
            raise ValueError("give at least one pixel source: `colour`, `brightness`, `background` or `lines`")
        return self


class Station(_Model):
    product: str | None = None
    long_side: int = Field(default=800, ge=64, le=8192)
    #: answers whose confidence falls below this are reported as failed (undecided)
    min_confidence: float = Field(default=0.0, ge=0, le=1)
    #: the resolution the profile was tuned at, for information (e.g. [800, 1600])
    tuned_on: tuple[int, int] | None = None


class VisionProfile(_Model):
    station: Station = Field(default_factory=Station)
    objects: dict[str, ObjectRecipe]

    @model_validator(mode="after")
    def _references(self) -> "VisionProfile":
        names = set(self.objects)
        for name, rec in self.objects.items():
            refs = ([("within", rec.within)] if rec.within else []) + [("subtract", s) for s in rec.subtract]
            refs += [("rivals", r) for r in rec.rivals]
            refs += [(f"attributes.{a}.other", r.other) for a, r in rec.attributes.items() if isinstance(r, Slot)]
            for key, ref in refs:
                if ref not in names:
                    raise _RefError(f"objects.{name}.{key}", f"unknown object `{ref}`"
                                    f" (the profile defines {', '.join(sorted(names))})")
                if ref == name:
                    raise _RefError(f"objects.{name}.{key}", f"object `{name}` cannot refer to itself")
        self.order()  # raises on a cycle
        return self

    def order(self) -> list[str]:
        """Objects in dependency order (``within`` and ``subtract`` first)."""
        out: list[str] = []
        state: dict[str, int] = {}

        def visit(n: str, path: list[str]) -> None:
            if state.get(n) == 2:
                return
            if state.get(n) == 1:
                raise _RefError(f"objects.{n}", "objects refer to each other in a cycle: " + " -> ".join(path + [n]))
            state[n] = 1
            rec = self.objects[n]
            deps = ([rec.within] if rec.within else []) + list(rec.subtract)
            deps += [r.other for r in rec.attributes.values() if isinstance(r, Slot)]
            for d in deps:
                visit(d, path + [n])
            state[n] = 2
            out.append(n)

        for n in self.objects:
            visit(n, [])
        return out


class _RefError(ValueError):
    def __init__(self, loc: str, msg: str):
        super().__init__(msg)
        self.loc = loc
        self.msg = msg


def _format_error(err: dict) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if not str(p).startswith(("function-after", "tagged-union")))
    msg = err.get("msg", "invalid value")
    msg = re.sub(r"^(Value|Assertion) error, ", "", msg)
    ctx = err.get("ctx") or {}
    if isinstance(ctx.get("error"), _RefError):
        e = ctx["error"]
        return f"{e.loc}: {e.msg}"
    return f"{loc or '(top level)'}: {msg}"


def parse_profile(text: str, origin: str = "<profile>") -> VisionProfile:
    """Parse and validate TOML text; every problem is a one-line BackendError naming ``origin`` and the key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise BackendError(f"{origin}: not valid TOML ({e})") from None
    try:
        return VisionProfile.model_validate(data)
    except ValidationError as e:
        errs = e.errors()
        more = f" (and {len(errs) - 1} more problem{'s' if len(errs) > 2 else ''})" if len(errs) > 1 else ""
        raise BackendError(f"{origin}: {_format_error(errs[0])}{more}") from None


def load_profile(path: str | Path) -> VisionProfile:
    """Read and validate a station profile; errors are one-line :class:`BackendError`s."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BackendError(f"{p}: no such vision profile") from None
    except IsADirectoryError:
        raise BackendError(f"{p}: is a directory, not a vision profile") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BackendError(f"{p}: cannot read vision profile ({e})") from None
    return parse_profile(text, str(p))


_PRODUCT_LINE = re.compile(r"^\s*product\s+([A-Za-z_][A-Za-z0-9_]*)", re.MULTILINE)


def default_profile_path(rules_path: str | Path) -> Path | None:
    """``<product>.vision.toml`` beside the rule file, if it exists.

    The product is the name on the rule file's ``product`` line; the file's stem is tried first
    (they are normally the same), so the rule file is only read when the stem does not match.
    """
    rp = Path(rules_path)
    cand = rp.with_name(f"{rp.stem}.vision.toml")
    if cand.is_file():
        return cand
    try:
        m = _PRODUCT_LINE.search(rp.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None
    if m:
        cand = rp.with_name(f"{m.group(1)}.vision.toml")
        if cand.is_file():
            return cand
    return None
