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
        engine.hooks.append(self._capture)

    def _capture(self, image, answers, verdict) -> None:
        self._pending[verdict.image] = (image, detections_from(answers))

    def write(self, verdict) -> Path | None:
        image, dets = self._pending.pop(verdict.image, (None, []))
        if image is None:
            return None
        from logicdsl.engine.image import ImageError
        from logicdsl.engine.overlay import render_overlay

        name = Path(verdict.image).stem if image.path is not None else f"image_{len(list(self.dir.iterdir()))}"
        out = self.dir / f"{name}.overlay.png"
        try:
            render_overlay(image.load(), dets, verdict.model_dump(mode="json"), out)
        except (ImageError, OSError, ValueError) as e:
            print(f"logicdsl: warning: no overlay for {verdict.image}: {e}", file=sys.stderr)
            return None
        return out
