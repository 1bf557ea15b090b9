"""Datasets to evaluate on: the project's own format and the MVTec LOCO AD layout.

The project's format (written by ``logicdsl synth``; see ``docs/datasets.md``) is a folder with images,
their scene JSON files and ``labels.jsonl``, one row per image::

    {"image": "0000.png", "scene": "0000.json", "label": "fill_level",
     "violations": ["fill_level"], "defect_types": ["wrong_fill_level_too_much"]}

A LOCO category folder (``train/good``, ``test/good``, ``test/logical_anomalies``,
``test/structural_anomalies``, ``ground_truth/logical_anomalies/NNN/*.png``, ``defects_config.json``)
is read directly: each logical anomaly's defect types come from the pixel values of its ground-truth
masks (through ``defects_config.json``) and map to rules through a LOCO map (``loco.toml``).
Structural anomalies are out of scope for logical anomaly classification: they are listed as skipped,
with the reason, and never labelled.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

LABELS_FILE = "labels.jsonl"
META_FILE = "dataset.json"
LOCO_MAP_FILE = "loco.toml"
NORMAL = "normal"


class DatasetError(Exception):
    """A dataset that cannot be read; the message is one line."""


class LabelRow(BaseModel):
    """One row of ``labels.jsonl``. Paths are relative to the dataset folder."""

    model_config = ConfigDict(extra="ignore")
    image: str = Field(min_length=1)
    scene: str | None = None
    label: str = Field(min_length=1, description="`normal` or the first violated rule in rule-file order")
    violations: list[str] = Field(default_factory=list, description="every violated rule, in rule-file order")
    defect_types: list[str] = Field(default_factory=list, description="LOCO-style defect types; empty when normal")


class LocoMap(BaseModel):
    """``loco.toml``: each LOCO logical defect type → the rules it violates (first = expected label)."""

    model_config = ConfigDict(extra="ignore")
    product: str | None = None
    defects: dict[str, list[str]] = Field(default_factory=dict)
    structural: list[str] = Field(default_factory=list)


@dataclass
class Item:
    """One labelled image to check."""

    image: Path
    label: str
    violations: list[str] = field(default_factory=list)
    defect_types: list[str] = field(default_factory=list)
    scene: Path | None = None

    @property
    def is_normal(self) -> bool:
        return not self.violations


@dataclass
class Skipped:
    image: str
    reason: str


@dataclass
class Dataset:
    root: Path
    kind: str  # "logicdsl" or "loco"
    items: list[Item]
    skipped: list[Skipped] = field(default_factory=list)
    product: str | None = None


# -- labels ------------------------------------------------------------------------------------
def order_violations(rules: Iterable[str], order: Sequence[str] | None) -> list[str]:
    """Deduplicate and sort rule names into rule-file order (unknown names keep their order, last)."""
    seen: list[str] = []
    for r in rules:
        if r not in seen:
            seen.append(r)
    if not order:
        return seen
    pos = {r: i for i, r in enumerate(order)}
    return sorted(seen, key=lambda r: (pos.get(r, len(pos)), seen.index(r)))


def label_of(violations: Sequence[str]) -> str:
    return violations[0] if violations else NORMAL


def read_labels(path: str | Path) -> list[LabelRow]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such labels file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None
    rows: list[LabelRow] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(LabelRow.model_validate(json.loads(line)))
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path}:{n}: not valid JSON ({e.msg})") from None
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(p) for p in err["loc"]) or "(row)"
            raise DatasetError(f"{path}:{n}: invalid row at `{loc}`: {err['msg']}") from None
    return rows


def write_labels(path: str | Path, rows: Iterable[LabelRow | dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            if isinstance(row, dict):
                row = LabelRow.model_validate(row)
            f.write(row.model_dump_json() + "\n")


def write_meta(root: str | Path, product: str | None, **extra) -> None:
    meta = {"format": "logicdsl-dataset", "version": 1, "product": product, **extra}
    Path(root, META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load_labelled(root: str | Path) -> Dataset:
    """A dataset in the project's format; rows whose image is missing are skipped with the reason."""
    root = Path(root)
    rows = read_labels(root / LABELS_FILE)
    product = None
    meta = root / META_FILE
    if meta.exists():
        try:
            product = json.loads(meta.read_text(encoding="utf-8")).get("product")
        except (json.JSONDecodeError, OSError, AttributeError):
            product = None
    items: list[Item] = []
    skipped: list[Skipped] = []
    for row in rows:
        image = root / row.image
        if not image.is_file():
            skipped.append(Skipped(row.image, "image file not found"))
            continue
        items.append(Item(image=image, label=row.label, violations=list(row.violations),
                          defect_types=list(row.defect_types), scene=root / row.scene if row.scene else None))
    return Dataset(root, "logicdsl", items, skipped, product)


# -- LOCO ----------------------------------------------------------------------------------------
def load_loco_map(path: str | Path) -> LocoMap:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such LOCO map") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({e})") from None
    except tomllib.TOMLDecodeError as e:
        raise DatasetError(f"{path}: not valid TOML ({e})") from None
    structural = data.get("structural", {})
    if isinstance(structural, dict):
        data["structural"] = structural.get("types", [])
    try:
        return LocoMap.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise DatasetError(f"{path}: invalid LOCO map at `{loc}`: {err['msg']}") from None


def find_loco_map(rules_path: str | Path | None) -> Path | None:
    """The LOCO map beside a rule file (``loco.toml``), if there is one."""
    if rules_path is None:
        return None
    cand = Path(rules_path).with_name(LOCO_MAP_FILE)
    return cand if cand.is_file() else None


def is_loco(root: str | Path) -> bool:
    root = Path(root)
    return (root / "test").is_dir() and ((root / "defects_config.json").is_file() or (root / "ground_truth").is_dir())


def read_defects_config(root: Path) -> dict[int, str]:
    path = root / "defects_config.json"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {int(e["pixel_value"]): str(e["defect_name"]) for e in entries}
    except FileNotFoundError:
        raise DatasetError(f"{path}: missing (needed to read defect types from masks)") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise DatasetError(f"{path}: not a LOCO defects config ({e})") from None


def mask_defect_types(mask_dir: Path, pixel_to_defect: dict[int, str]) -> tuple[list[str], list[int]]:
    """Defect types found in a ground-truth folder's masks, and any pixel values the config lacks."""
    import numpy as np
    from PIL import Image

    found: list[str] = []
    unknown: list[int] = []
    for mask in sorted(mask_dir.glob("*.png")):
        with Image.open(mask) as im:
            values = np.unique(np.asarray(im.convert("L") if im.mode not in ("L", "P", "I;16") else im))
        for v in values.tolist():
            if v == 0:
                continue
            name = pixel_to_defect.get(int(v))
            if name is None:
                if v not in unknown:
                    unknown.append(int(v))
            elif name not in found:
                found.append(name)
    return found, unknown


def load_loco(root: str | Path, loco_map: LocoMap, rule_order: Sequence[str] | None = None, *,
              include_train: bool = False) -> Dataset:
    """A LOCO category folder as labelled items: good images are normal, logical anomalies are labelled
    through their masks and the map; structural anomalies (and unmappable defects) are skipped."""
    root = Path(root)
    if not is_loco(root):
        raise DatasetError(f"{root}: not a MVTec LOCO category folder (no test/ with ground_truth/)")
    pixel_to_defect = read_defects_config(root)
    items: list[Item] = []
    skipped: list[Skipped] = []

    def images(folder: Path) -> list[Path]:
        return sorted(p for p in folder.glob("*.png")) if folder.is_dir() else []

    good = images(root / "test" / "good")
    if include_train:
        good = images(root / "train" / "good") + good
    for p in good:
        items.append(Item(image=p, label=NORMAL))
    for p in images(root / "test" / "logical_anomalies"):
        rel = str(p.relative_to(root))
        mask_dir = root / "ground_truth" / "logical_anomalies" / p.stem
        if not mask_dir.is_dir():
            skipped.append(Skipped(rel, f"no ground-truth masks in {mask_dir.relative_to(root)}"))
            continue
        types, unknown = mask_defect_types(mask_dir, pixel_to_defect)
        if unknown:
            skipped.append(Skipped(rel, f"mask pixel value(s) {unknown} are not in defects_config.json"))
            continue
        if not types:
            skipped.append(Skipped(rel, "its masks name no defect (all pixels 0)"))
            continue
        structural = [t for t in types if t in loco_map.structural]
        unmapped = [t for t in types if t not in loco_map.defects and t not in loco_map.structural]
        if structural:
            skipped.append(Skipped(rel, f"structural defect type(s) {', '.join(structural)}: out of scope for LAC"))
            continue
        if unmapped:
            skipped.append(Skipped(rel, f"defect type(s) {', '.join(unmapped)} not in the LOCO map"))
            continue
        rules = [r for t in types for r in loco_map.defects[t]]
        violations = order_violations(rules, rule_order)
        items.append(Item(image=p, label=label_of(violations), violations=violations, defect_types=sorted(types)))
    for p in images(root / "test" / "structural_anomalies"):
        skipped.append(Skipped(str(p.relative_to(root)), "structural anomaly: out of scope for LAC"))
    return Dataset(root, "loco", items, skipped, loco_map.product or root.name)


def load_dataset(path: str | Path, *, loco_map: LocoMap | None = None, rule_order: Sequence[str] | None = None,
                 include_train: bool = False) -> Dataset:
    """Either format, by what the folder holds: ``labels.jsonl`` (the project's) or a LOCO layout."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such dataset folder")
    if path.is_file() and path.name == LABELS_FILE:
        path = path.parent
    if not path.is_dir():
        raise DatasetError(f"{path}: a dataset is a folder (with {LABELS_FILE}, or a LOCO category)")
    if (path / LABELS_FILE).is_file():
        return load_labelled(path)
    if is_loco(path):
        if loco_map is None:
            raise DatasetError(f"{path}: a LOCO folder needs a LOCO map (loco.toml beside the rules, or --map FILE)")
        return load_loco(path, loco_map, rule_order, include_train=include_train)
    raise DatasetError(f"{path}: neither a dataset ({LABELS_FILE}) nor a MVTec LOCO category folder")
