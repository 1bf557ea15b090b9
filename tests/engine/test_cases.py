"""Data-driven engine cases: ``tests/cases/engine/*.toml`` — rule text + scene → expected verdict.

Case format (TOML, one case per file)::

    description = "what the case shows"
    rules = '''product p ... rule r: count(pin) == 1'''    # or rules_file = "examples/x/x.logic" (repo root)
    min_confidence = 0.5                                  # optional (default 0)
    image = "memory"                                      # optional: memory | missing | corrupt
    backends = ["scene", "native"]                        # optional (default both; see below)

    [scene]                                               # the project's scene format, pixels;
    width = 100                                           # width/height default to 100
    height = 100
    objects = [ {label = "pin", box = [10, 10, 20, 20], attributes = {color = "red"}}, ]

    [[answers]]                                           # optional: injected backend answers
    match = {kind = "count", object = "pin"}              # fields of the subquery (region/attribute by name)
    value = "three"                                       # the raw value (garbage allowed)
    confidence = 0.3                                      # optional
    error = "why"                                         # optional: a failed answer instead

    [expect]
    status = "anomaly"                                    # normal | anomaly | undecided | error
    label = "r"                                           # optional for error
    violated = ["r"]                                      # failed rules, file order
    undecided = []
    skipped = []
    passed = ["..."]                                      # optional
    reasons = {r = "substring of evidence.reason"}        # optional, for undecided rules
    error = "substring of verdict.error"                  # optional

Each case without injected answers runs with the detect-only ``SceneBackend`` (everything lowered
by the planner) and with a backend answering every subquery kind natively, and is also checked
against the reference interpreter. Cases with ``[[answers]]`` run with an override backend: the
native scene backend declaring only detect plus the overridden kinds.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

import logicdsl
from logicdsl.engine.scene import SceneBackend
from logicdsl.engine.scene_format import Scene
from logicdsl.engine.verdict import Verdict

from .backends import NativeSceneBackend, OverrideBackend
from .reference import reference_verdict

ROOT = Path(__file__).resolve().parents[2]
CASES = sorted((ROOT / "tests" / "cases" / "engine").glob("*.toml"))
IMAGE = np.zeros((8, 8, 3), dtype=np.uint8)


def load_case(path: Path) -> dict:
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    if "rules_file" in case:
        case["rules_obj"] = logicdsl.load(ROOT / case["rules_file"])
    else:
        case["rules_obj"] = logicdsl.loads(case["rules"], path.name)
    scene = dict(case.get("scene", {}))
    scene.setdefault("width", 100)
    scene.setdefault("height", 100)
    case["scene_obj"] = Scene.model_validate(scene)
    return case


def image_for(case: dict, tmp_path: Path):
    kind = case.get("image", "memory")
    if kind == "memory":
        return IMAGE
    if kind == "missing":
        return tmp_path / "no_such_image.png"
    if kind == "corrupt":
        p = tmp_path / "corrupt.png"
        p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
        return p
    raise ValueError(kind)


def backends_for(case: dict):
    scene = case["scene_obj"]
    if case.get("answers"):
        return {"override": OverrideBackend(scene, case["answers"])}
    wanted = case.get("backends", ["scene", "native"])
    table = {"scene": lambda: SceneBackend(scene), "native": lambda: NativeSceneBackend(scene)}
    return {name: table[name]() for name in wanted}


def assert_verdict(v: Verdict, exp: dict, where: str) -> None:
    got = {
        "status": v.status,
        "label": v.label,
        "violated": v.violated_rules,
        "undecided": [o.rule for o in v.undecided],
        "skipped": [o.rule for o in v.skipped],
    }
    want = {k: exp[k] for k in ("status", "label", "violated", "undecided", "skipped") if k in exp}
    assert {k: got[k] for k in want} == want, f"{where}: verdict differs\n{v.model_dump_json(indent=1)}"
    if "passed" in exp:
        assert v.passed == exp["passed"], where
    for rule, text in exp.get("reasons", {}).items():
        outcome = next(o for o in v.undecided if o.rule == rule)
        assert outcome.evidence is not None and text in (outcome.evidence.reason or ""), \
            f"{where}: reason of `{rule}` is {outcome.evidence and outcome.evidence.reason!r}, wanted {text!r}"
    if "error" in exp:
        assert v.error is not None and exp["error"] in v.error, f"{where}: error is {v.error!r}"


def test_there_are_enough_cases():
    assert len(CASES) >= 60


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path: Path, tmp_path: Path):
    case = load_case(path)
    exp = case["expect"]
    rules = case["rules_obj"]
    for name, backend in backends_for(case).items():
        engine = logicdsl.Engine(rules, backend=backend, min_confidence=case.get("min_confidence", 0.0))
        v = engine.check(image_for(case, tmp_path))
        assert_verdict(v, exp, f"{path.name} [{name} backend]")
        if v.status != "error":
            all_rules = v.violated_rules + [o.rule for o in v.undecided] + [o.rule for o in v.skipped] + v.passed
            assert sorted(all_rules) == sorted(rules.names)
            text = v.model_dump_json()
            assert Verdict.model_validate_json(text).model_dump_json() == text
    if not case.get("answers") and case.get("image", "memory") == "memory":
        ref = reference_verdict(rules.program, case["scene_obj"], case.get("min_confidence", 0.0))
        by_status = {s: [n for n, x in ref["rules"].items() if x == s] for s in ("fail", "undecided", "skipped")}
        got = {"status": ref["status"], "label": ref["label"], "violated": by_status["fail"],
               "undecided": by_status["undecided"], "skipped": by_status["skipped"]}
        want = {k: exp[k] for k in got if k in exp}
        assert {k: got[k] for k in want} == want, f"{path.name}: the reference interpreter disagrees: {ref}"
