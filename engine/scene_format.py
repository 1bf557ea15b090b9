"""The project's scene format: what is in one image, as JSON (pydantic-validated).

```json
{"version": 1, "image": "000.png", "width": 1600, "height": 800,
 "objects": [{"label": "pin", "box": [x0, y0, x1, y1],
              "rbox": {"cx": 10, "cy": 20, "w": 30, "h": 8, "angle": 15},
              "area": 230.5, "score": 1.0, "attributes": {"color": "red"}}]}
```

Coordinates are pixels. ``rbox`` (rotated box), ``area`` (mask area), ``score`` and ``attributes``
are optional. The scene backend reads these files; the synthetic generator writes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .subquery import Instance

SCENE_VERSION = 1
AttrValue = Union[bool, int, float, str]


class SceneError(Exception):
    """A scene file that cannot be used; the message is one line."""


class RotatedBox(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cx: float
    cy: float
    w: float = Field(ge=0)
    h: float = Field(ge=0)
    angle: float = 0.0


class SceneObject(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str = Field(min_length=1)
    box: tuple[float, float, float, float]
    rbox: RotatedBox | None = None
    area: float | None = Field(default=None, ge=0)
    score: float = Field(default=1.0, ge=0, le=1)
    attributes: dict[str, AttrValue] = Field(default_factory=dict)

    @field_validator("box")
    @classmethod
    def _box_ordered(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = v
        if x1 < x0 or y1 < y0:
            raise ValueError("box must be [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1")
        return v


class Scene(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = SCENE_VERSION
    image: str | None = None
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    objects: list[SceneObject] = Field(default_factory=list)

    @model_validator(mode="after")
    def _version_known(self) -> "Scene":
        if self.version != SCENE_VERSION:
            raise ValueError(f"unsupported scene version {self.version} (this logicdsl reads {SCENE_VERSION})")
        return self

    def instances(self, label: str) -> list[Instance]:
        """The objects with ``label``, as engine instances in image fractions."""
        return [to_instance(o, self.width, self.height) for o in self.objects if o.label == label]


def to_instance(o: SceneObject, width: int, height: int) -> Instance:
    x0, y0, x1, y1 = o.box
    longer = float(max(width, height))
    length = short = angle = None
    if o.rbox is not None:
        length = max(o.rbox.w, o.rbox.h) / longer
        short = min(o.rbox.w, o.rbox.h) / longer
        angle = o.rbox.angle
    return Instance(
        box=(x0 / width, y0 / height, x1 / width, y1 / height),
        score=o.score,
        area=None if o.area is None else o.area / (width * height),
        length=length,
        width_r=short,
        angle=angle,
        attributes=tuple(sorted(o.attributes.items())),
    )


def load_scene(path: Path) -> Scene:
    """Read and validate a scene file; every problem is a one-line :class:`SceneError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SceneError(f"{path}: no such scene file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SceneError(f"{path}: cannot read scene ({e})") from None
    return parse_scene(text, str(path))


def parse_scene(text: str, origin: str = "<scene>") -> Scene:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SceneError(f"{origin}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if isinstance(data, dict) and "images" in data and "annotations" in data:
        raise SceneError(f"{origin}: this is a COCO file; pass it with --scene and name the image")
    try:
        return Scene.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise SceneError(f"{origin}: invalid scene at `{loc}`: {err['msg']}") from None
