"""Test backends: a scene backend that answers every subquery kind natively, a recording wrapper,
and an override backend that injects chosen answers (low confidence, garbage, failures).

The native backend computes counts, presence, attributes, measures and relations straight from
the scene with the reference interpreter's geometry — not through the planner — so comparing it
with the detect-only :class:`SceneBackend` tests the planner's lowering.
"""

from __future__ import annotations

from typing import Any, Sequence

from logicdsl.engine.scene import SceneBackend
from logicdsl.engine.subquery import (
    Answer, Attribute, Count, Detect, Exists, Measure, Region, Relation, Subquery, SUBQUERY_KINDS,
)

from .reference import RInst, box_relation, geometry, relative, scene_instances


def _valid(spec, v: Any) -> bool:
    if spec.kind == "enum":
        return isinstance(v, str) and v in spec.values
    if spec.kind == "bool":
        return isinstance(v, bool)
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class NativeSceneBackend:
    """Answers detect, count, exists, attribute, relation and measure from one scene."""

    name = "native-scene"

    def __init__(self, scene, capabilities=SUBQUERY_KINDS):
        self.scene = scene
        self.capabilities = frozenset(capabilities)
        self.inst = scene_instances(scene)
        self._detect = SceneBackend(scene)

    def _single(self, obj: str) -> RInst | str:
        items = self.inst.get(obj, [])
        return items[0] if len(items) == 1 else f"expected exactly one `{obj}`, found {len(items)}"

    def _boxes(self, region: Region) -> list | str:
        if region.kind == "box":
            return [region.box]
        if region.kind == "object":
            return [i.box for i in self.inst.get(region.object, [])]
        outer = self._single(region.object)  # type: ignore[arg-type]
        return outer if isinstance(outer, str) else [relative(outer.box, region.box)]

    def _one(self, image, q: Subquery) -> Answer:
        if isinstance(q, Detect):
            return self._detect.answer(image, [q])[0]
        if isinstance(q, (Count, Exists)):
            items = self.inst.get(q.object, [])
            if q.region is not None:
                boxes = self._boxes(q.region)
                if isinstance(boxes, str):
                    return Answer.failed(boxes)
                items = [i for i in items if any(b[0] <= i.cx <= b[2] and b[1] <= i.cy <= b[3] for b in boxes)]
            if isinstance(q, Count) and q.where is not None:
                f = q.where
                kept = []
                for i in items:
                    v = i.attributes.get(f.attribute.name)
                    if v is None or not _valid(f.attribute, v):
                        return Answer.failed(f"no valid `{f.attribute.name}` for an instance")
                    same = v == f.value and isinstance(v, bool) == isinstance(f.value, bool)
                    if same == (f.op == "=="):
                        kept.append(i)
                items = kept
            return Answer(len(items) if isinstance(q, Count) else bool(items), confidence=1.0)
        if isinstance(q, Attribute):
            inst = self._single(q.object)
            if isinstance(inst, str):
                return Answer.failed(inst)
            v = inst.attributes.get(q.attribute.name)
            return Answer.failed(f"`{q.attribute.name}` not reported") if v is None else Answer(v, confidence=1.0)
        if isinstance(q, Measure):
            inst = self._single(q.object)
            return Answer.failed(inst) if isinstance(inst, str) else Answer(geometry(inst, q.quantity), 1.0)
        if isinstance(q, Relation):
            a, b = self._single(q.a), self._single(q.b)
            for x in (a, b):
                if isinstance(x, str):
                    return Answer.failed(x)
            t = 0.1 if q.tolerance is None else q.tolerance
            return Answer(box_relation(q.relation, a.box, b.box, t), confidence=1.0)
        raise ValueError(q)

    def answer(self, image, subqueries: Sequence[Subquery]) -> list[Answer]:
        return [self._one(image, q) for q in subqueries]


class Recording:
    """Wraps a backend and records every batch it is asked."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities
        self.batches: list[list[Subquery]] = []

    def answer(self, image, subqueries):
        self.batches.append(list(subqueries))
        return self.inner.answer(image, subqueries)

    @property
    def asked(self) -> list[Subquery]:
        return [q for b in self.batches for q in b]


def subquery_matches(q: Subquery, pattern: dict[str, Any]) -> bool:
    """``{"kind": "count", "object": "pin", "region": "left"}``: every given field must match.
    ``region`` matches the region's name (``""``: no region), ``attribute`` the attribute's name."""
    for k, want in pattern.items():
        want = None if want == "" else want
        if k == "region":
            got = getattr(q, "region", None)
            got = got.name if got is not None else None
        elif k == "attribute":
            spec = getattr(q, "attribute", None)
            got = spec.name if spec is not None and not isinstance(spec, str) else spec
        else:
            got = getattr(q, k, None)
        if got != want:
            return False
    return True


class OverrideBackend(NativeSceneBackend):
    """The native scene backend, except for subqueries matching an override, which get its answer.

    Override entries: ``{"match": {...}, "value": v, "confidence": c, "error": "why"}``; for a
    detect override, ``value`` may be a list of scene objects (``{"box": [...], ...}``, pixels) —
    the confidence then applies to the whole detection answer."""

    name = "override-scene"

    def __init__(self, scene, overrides: list[dict[str, Any]], capabilities=None):
        kinds = {"detect"} | {o["match"]["kind"] for o in overrides}
        super().__init__(scene, capabilities or kinds)
        self.overrides = overrides

    def _one(self, image, q):
        for o in self.overrides:
            if subquery_matches(q, o["match"]):
                if o.get("error"):
                    return Answer.failed(o["error"])
                value = o.get("value")
                if q.kind == "detect" and isinstance(value, list):
                    from logicdsl.engine.scene_format import SceneObject, to_instance

                    value = [to_instance(SceneObject(label=q.object, **obj), self.scene.width, self.scene.height)
                             for obj in value]
                return Answer(value, confidence=o.get("confidence", 1.0))
        return super()._one(image, q)
