"""The ``scene`` backend: detections read from JSON (the project's scene format, or COCO).

It answers ``detect`` natively (everything else is lowered onto detections), which makes it the
ground-truth oracle of the test suite and a way to run rules on the output of any detector.
The scene of ``img.png`` is ``img.json`` beside it unless one is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .backend import BackendError
from .image import ImageRef
from .scene_format import Scene, SceneError, SceneObject, load_scene, parse_scene
from .subquery import Answer, Detect, Subquery


def sidecar_path(image: Path) -> Path:
    return image.with_suffix(".json")


class SceneBackend:
    name = "scene"
    capabilities = frozenset({"detect"})
    cacheable = False  # the same pixels may come with different scene files

    def __init__(self, scene: str | Path | Scene | None = None, *, coco: str | Path | None = None):
        """``scene``: one scene for every image (a path or a Scene); ``coco``: a COCO annotation file
        whose images are matched by file name. With neither, each image's sidecar JSON is read."""
        self._fixed: Scene | None = None
        self._fixed_path: Path | None = None
        self._coco: dict[str, Scene] | None = None
        if isinstance(scene, Scene):
            self._fixed = scene
        elif scene is not None:
            self._fixed_path = Path(scene)
        if coco is not None:
            self._coco = load_coco(Path(coco))

    def scene_for(self, image: ImageRef) -> Scene:
        if self._fixed is not None:
            return self._fixed
        if self._fixed_path is not None:
            self._fixed = load_scene(self._fixed_path)
            return self._fixed
        if image.path is None:
            raise SceneError("an in-memory image needs an explicit scene")
        if self._coco is not None:
            scene = self._coco.get(image.path.name)
            if scene is None:
                raise SceneError(f"{image.path.name}: not in the COCO file")
            return scene
        side = sidecar_path(image.path)
        if not side.exists():
            raise SceneError(f"{image.path}: no scene file `{side.name}` beside it (pass --scene FILE)")
        return load_scene(side)

    def answer(self, image: ImageRef, subqueries: Sequence[Subquery]) -> list[Answer]:
        try:
            scene = self.scene_for(image)
        except SceneError as e:
            return [Answer.failed(str(e)) for _ in subqueries]
        out = []
        for q in subqueries:
            if isinstance(q, Detect):
                out.append(Answer(value=scene.instances(q.object), confidence=1.0))
            else:
                out.append(Answer.failed(f"the scene backend does not answer {q.kind} subqueries"))
        return out


def load_coco(path: Path) -> dict[str, Scene]:
    """COCO instances → one Scene per image file name; categories matched to objects by name.

    Attributes may be given per annotation under ``attributes`` (a common COCO extension)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackendError(f"{path}: no such COCO file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BackendError(f"{path}: not a readable COCO JSON file ({e})") from None
    try:
        cats = {c["id"]: c["name"] for c in data["categories"]}
        images = {im["id"]: im for im in data["images"]}
        objects: dict[int, list[SceneObject]] = {i: [] for i in images}
        for a in data["annotations"]:
            x, y, w, h = a["bbox"]
            objects[a["image_id"]].append(SceneObject(
                label=cats[a["category_id"]], box=(x, y, x + w, y + h), area=a.get("area"),
                score=a.get("score", 1.0), attributes=a.get("attributes", {})))
        return {Path(im["file_name"]).name: Scene(width=im["width"], height=im["height"],
                                                  image=im["file_name"], objects=objects[i])
                for i, im in images.items()}
    except (KeyError, TypeError, ValueError) as e:
        raise BackendError(f"{path}: malformed COCO file ({type(e).__name__}: {e})") from None


__all__ = ["SceneBackend", "load_coco", "sidecar_path", "parse_scene"]
