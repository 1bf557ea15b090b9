"""Perception subqueries: the leaves of a query graph, and the answers backends give.

A subquery is a small, verifiable question about one image. Subqueries are frozen and hashable,
so structurally identical questions are one node in the graph and one entry in the answer cache.
Geometry is in image fractions: x divided by the image width, y by the height; lengths
(rotated-box sides, distances) are divided by the image's longer side; areas by width * height.
"""

from __future__ import annotations

from typing import Any, Literal, Union

from logicdsl.record import field, record

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in image fractions


@record
class Region:
    """Where a subquery looks.

    kind:
      - ``box``: a fixed box in image fractions (``region left = box(0, 0, 0.5, 1)``, a grid cell);
      - ``object``: inside the box of each instance of ``object`` (``icon in fruit_label``);
      - ``object_box``: ``box`` taken relative to the box of the single instance of ``object``
        (``region neck = box(0.3, 0, 0.7, 0.25) of bottle``).
    ``name`` is the rule author's name for it (``left``, ``cell[1][3]``), used in questions and evidence.
    """

    kind: Literal["box", "object", "object_box"]
    name: str
    box: Box | None = None
    object: str | None = None
    object_description: str | None = None

    def describe(self) -> str:
        if self.kind == "object":
            return f"inside {self.object_description or self.object}"
        if self.kind == "object_box":
            return f"in the `{self.name}` area of {self.object_description or self.object}"
        return f"in the `{self.name}` area of the image"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@record
class AttributeSpec:
    """An attribute a backend is asked to report: its name, value kind and closed set (for enums)."""

    name: str
    kind: Literal["enum", "number", "bool"]
    values: tuple[str, ...] = ()
    description: str = ""
    low: float | None = None
    high: float | None = None


@record
class Detect:
    """Find every instance of ``object``: boxes, and the listed attributes of each."""

    object: str
    description: str
    attributes: tuple[AttributeSpec, ...] = ()
    kind: Literal["detect"] = "detect"

    def question(self) -> str:
        return f"Locate every instance of {self.description} in the image."


@record
class AttrFilter:
    """``where p.color == red``: the static attribute filter a count can carry natively."""

    attribute: AttributeSpec
    op: Literal["==", "!="]
    value: str | float | bool


@record
class Count:
    object: str
    description: str
    region: Region | None = None
    where: AttrFilter | None = None
    kind: Literal["count"] = "count"

    def question(self) -> str:
        what = self.description
        if self.where is not None:
            neg = "not " if self.where.op == "!=" else ""
            what = f"{what} whose {self.where.attribute.name} is {neg}{self.where.value}"
        where = f" {self.region.describe()}" if self.region else ""
        return f"How many instances of {what} are there{where}?"


@record
class Exists:
    object: str
    description: str
    region: Region | None = None
    kind: Literal["exists"] = "exists"

    def question(self) -> str:
        where = f" {self.region.describe()}" if self.region else " in the image"
        return f"Is there {self.description}{where}?"


@record
class Attribute:
    """An attribute of the single instance of ``object``."""

    object: str
    description: str
    attribute: AttributeSpec
    kind: Literal["attribute"] = "attribute"

    def question(self) -> str:
        spec = self.attribute
        about = f" ({spec.description})" if spec.description else ""
        if spec.kind == "enum":
            return f"What is the {spec.name} of {self.description}{about}? Answer with one of: {', '.join(spec.values)}."
        if spec.kind == "bool":
            return f"Is {self.description} {spec.name}{about}? Answer yes or no."
        return f"What is the {spec.name} of {self.description}{about}? Answer with a number."


RelationName = Literal["left_of", "above", "inside", "overlaps", "centred"]


@record
class Relation:
    """A spatial relation between the single instances of two objects."""

    relation: RelationName
    a: str
    a_description: str
    b: str
    b_description: str
    tolerance: float | None = None
    kind: Literal["relation"] = "relation"

    def question(self) -> str:
        phrase = {
            "left_of": "to the left of",
            "above": "above",
            "inside": "inside",
            "overlaps": "overlapping",
            "centred": "centred on",
        }[self.relation]
        return f"Is {self.a_description} {phrase} {self.b_description}?"


MeasureName = Literal[
    "left", "right", "top", "bottom", "width", "height", "center_x", "center_y", "area", "length"
]


@record
class Measure:
    """A geometric quantity of the single instance of ``object``, in image fractions."""

    quantity: MeasureName
    object: str
    description: str
    kind: Literal["measure"] = "measure"

    def question(self) -> str:
        return f"What is the {self.quantity} of {self.description}, as a fraction of the image?"


Subquery = Union[Detect, Count, Exists, Attribute, Relation, Measure]
SUBQUERY_KINDS = ("detect", "count", "exists", "attribute", "relation", "measure")


def subquery_to_dict(q: Subquery) -> dict[str, Any]:
    """A JSON-ready description of a subquery, for evidence and graph dumps."""

    def conv(v: Any) -> Any:
        if isinstance(v, (Region, AttributeSpec, AttrFilter)):
            return {k: conv(x) for k, x in v.__dict__.items() if x not in (None, (), "")}
        if isinstance(v, tuple):
            return [conv(x) for x in v]
        return v

    out = {k: conv(v) for k, v in q.__dict__.items() if v not in (None, (), "") and k != "description"
           and not k.endswith("_description")}
    out["question"] = q.question()
    return out


@record
class Instance:
    """One detected instance. Geometry in image fractions (see the module docstring)."""

    box: Box
    score: float = 1.0
    area: float | None = None  # mask area when known, else None (box area is used)
    length: float | None = None  # long side of the rotated box
    width_r: float | None = None  # short side of the rotated box
    angle: float | None = None  # rotated-box angle in degrees
    attributes: tuple[tuple[str, Any], ...] = ()
    attribute_scores: tuple[tuple[str, float], ...] = ()

    def attribute(self, name: str) -> Any:
        for k, v in self.attributes:
            if k == name:
                return v
        return None

    def attribute_score(self, name: str) -> float | None:
        for k, v in self.attribute_scores:
            if k == name:
                return v
        return None

    @property
    def center(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"box": [round(v, 5) for v in self.box], "score": round(self.score, 4)}
        if self.area is not None:
            d["area"] = round(self.area, 6)
        if self.length is not None:
            d["length"] = round(self.length, 5)
        if self.attributes:
            d["attributes"] = dict(self.attributes)
        return d


@record(frozen=False)
class Answer:
    """A backend's answer to one subquery.

    ``value`` is an int (count), bool (exists, relation), str/float/bool (attribute), float (measure)
    or a list of :class:`Instance` (detect). ``value is None`` means no usable answer; ``error``
    then says why (the evaluator turns it into *undecided*). ``raw`` keeps a model's text.
    """

    value: Any
    confidence: float | None = None
    error: str | None = None
    raw: str | None = None
    instances: list[Instance] = field(default_factory=list)

    @classmethod
    def failed(cls, reason: str, raw: str | None = None) -> "Answer":
        return cls(value=None, confidence=None, error=reason, raw=raw)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if isinstance(self.value, list):
            d["instances"] = [i.to_dict() for i in self.value]
        else:
            d["value"] = self.value
        if self.confidence is not None:
            d["confidence"] = round(self.confidence, 4)
        if self.instances and not isinstance(self.value, list):
            d["instances"] = [i.to_dict() for i in self.instances]
        if self.error:
            d["error"] = self.error
        if self.raw is not None:
            d["raw"] = self.raw
        return d
