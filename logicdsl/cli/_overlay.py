"""Overlay images for `check --overlay DIR` (and eval reports): capture each image's detections
through an engine hook, then draw them with the verdict's evidence via `engine.overlay`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def detections_from(answers: dict) -> list[tuple[str, Any]]:
    """(object, Instance) pairs from the answers of one image: detections, and instances backends
    attached to counts."""
    out = []
    for q, a in answers.items():
        obj = getattr(q, "object", None)
        if obj is None:
            continue
        if q.kind == "detect" and isinstance(a.value, list):
            out.extend((obj, inst) for inst in a.value)
        elif a.instances:
            out.extend((obj, inst) for inst in a.instances)
    return list(dict.fromkeys(out))


class OverlayWriter:
    def __init__(self, out_dir: Path, engine):
        self.dir = out_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self._pending: dict[str, tuple[Any, list]] = {}
        self._engine = engine
        engine.hooks.append(self._capture)

    def _capture(self, image, answers, verdict) -> None:
        self._pending[verdict.image] = (image, detections_from(answers))

    def detach(self) -> None:
        """Stop capturing (the engine outlives this writer)."""
        if self._capture in self._engine.hooks:
            self._engine.hooks.remove(self._capture)

    def write(self, verdict, name: str | None = None) -> Path | None:
        """Draw one checked image as ``<name>.overlay.png`` (``name``: the image's stem by default)."""
        image, dets = self._pending.pop(verdict.image, (None, []))
        if image is None:
            return None
        from logicdsl.engine.image import ImageError
        from logicdsl.engine.overlay import render_overlay

        if name is None:
            name = Path(verdict.image).stem if image.path is not None else f"image_{len(list(self.dir.iterdir()))}"
        out = self.dir / f"{name}.overlay.png"
        try:
            render_overlay(image.load(), dets, verdict.model_dump(mode="json"), out)
        except (ImageError, OSError, ValueError) as e:
            print(f"logicdsl: warning: no overlay for {verdict.image}: {e}", file=sys.stderr)
            return None
        return out


def report_overlays(spec, items, limit: int = 100):
    """The ``eval --report`` overlay hook (see ``logicdsl.report``): a misclassified image is checked
    again, its detections captured, and drawn into the report's ``overlays/`` folder — at most
    ``limit`` pictures, numbered so that images of the same name in different folders do not clash."""
    from logicdsl.evaluate import engine_for

    scenes = {str(it.image): (str(it.scene) if getattr(it, "scene", None) else None) for it in items}
    drawn = 0

    def hook(record, report_dir: Path) -> str | None:
        nonlocal drawn
        if drawn >= limit or record.status == "error":
            return None
        drawn += 1
        engine = engine_for(spec, record.image, scenes.get(record.image))
        writer = OverlayWriter(report_dir / "overlays", engine)
        try:
            path = writer.write(engine.check(record.image), name=f"{drawn:03d}_{Path(record.image).stem}")
        finally:
            writer.detach()
        return path.relative_to(report_dir).as_posix() if path is not None else None

    return hook
