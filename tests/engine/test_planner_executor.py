"""Planner lowering and executor behaviour: waves, short-circuit, requires, the answer cache,
backend failures, and the undecided reasons and evidence that reach the verdict."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

import logicdsl
from logicdsl.engine.planner import plan
from logicdsl.engine.scene import SceneBackend
from logicdsl.engine.scene_format import Scene
from logicdsl.engine.subquery import Count, Detect, SUBQUERY_KINDS
from logicdsl.engine.verdict import Verdict

from .backends import NativeSceneBackend, Recording

ROOT = Path(__file__).resolve().parents[2]
IMAGE = np.zeros((6, 6, 3), dtype=np.uint8)
EXAMPLES = {p.stem: p for p in sorted((ROOT / "examples").glob("*/*.logic"))}


def normal_scene(stem: str) -> Scene:
    for p in sorted((ROOT / "tests" / "cases" / "engine").glob("*_normal.toml")):
        case = tomllib.loads(p.read_text(encoding="utf-8"))
        if case.get("rules_file", "").endswith(f"{stem}.logic"):
            return Scene.model_validate(case["scene"])
    raise LookupError(stem)


def scene(*objects, width=100, height=100) -> Scene:
    return Scene.model_validate({"width": width, "height": height,
                                 "objects": [{"label": l, "box": b, **kw} for l, b, *rest in objects
                                             for kw in [rest[0] if rest else {}]]})


def statuses(v: Verdict) -> dict[str, str]:
    out = {n: "pass" for n in v.passed}
    for group, st in ((v.violations, "fail"), (v.undecided, "undecided"), (v.skipped, "skipped")):
        out.update({o.rule: st for o in group})
    return out


# ------------------------------------------------------------------------------ planner
@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_native_and_lowered_plans_agree_on_normal_units(stem):
    rules = logicdsl.load(EXAMPLES[stem])
    sc = normal_scene(stem)
    lowered = logicdsl.Engine(rules, backend=SceneBackend(sc)).check(IMAGE)
    native = logicdsl.Engine(rules, backend=NativeSceneBackend(sc)).check(IMAGE)
    assert lowered.status == "normal", lowered.model_dump_json(indent=1)
    assert statuses(native) == statuses(lowered)


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_detect_only_plan_asks_one_detect_per_object(stem):
    rules = logicdsl.load(EXAMPLES[stem])
    p = plan(rules.graph, {"detect"})
    leaves = p.leaves()
    assert all(isinstance(q, Detect) for q in leaves)
    assert sorted(q.object for q in leaves) == sorted(rules.program.objects)
    rec = Recording(SceneBackend(normal_scene(stem)))
    v = logicdsl.Engine(rules, backend=rec).check(IMAGE)
    assert v.status == "normal"
    asked = rec.asked
    assert all(isinstance(q, Detect) for q in asked)
    assert len(asked) == len(set(asked)) == len(rules.program.objects) == v.subqueries_asked


def test_native_plan_keeps_high_level_subqueries():
    rules = logicdsl.load(EXAMPLES["juice_bottle"])
    kinds = {q.kind for q in plan(rules.graph, SUBQUERY_KINDS).leaves()}
    assert {"count", "relation", "attribute", "measure", "exists"} <= kinds
    assert {q.kind for q in plan(rules.graph, {"detect"}).leaves()} == {"detect"}


def test_pushpins_fifteen_cells_one_detection():
    rules = logicdsl.load(EXAMPLES["pushpins"])
    rec = Recording(SceneBackend(normal_scene("pushpins")))
    logicdsl.Engine(rules, backend=rec).check(IMAGE)
    assert [q.object for q in rec.asked].count("pin") == 1


def test_plan_without_detect_needs_every_kind():
    rules = logicdsl.loads('product p\nobject a "a"\nrule r: count(a) == 1 and exists(a)')
    with pytest.raises(ValueError):
        plan(rules.graph, {"count"})
    assert {q.kind for q in plan(rules.graph, {"count", "exists"}).leaves()} == {"count", "exists"}


# ------------------------------------------------------------------------------ executor
REQ = '''product p
object a "a"
object b "b"
object c "c"
rule r1: count(a) == 1
rule r2 requires r1: count(b) == 1
rule r3: count(a) == 1 and count(c) == 1
rule r4: count(a) == 0 or count(c) == 2
'''


def test_required_rule_failing_means_dependent_subqueries_are_never_asked():
    rules = logicdsl.loads(REQ)
    rec = Recording(NativeSceneBackend(scene()))  # no `a`: r1 fails
    v = logicdsl.Engine(rules, backend=rec).check(IMAGE)
    assert statuses(v) == {"r1": "fail", "r2": "skipped", "r3": "fail", "r4": "pass"}
    assert v.skipped[0].skipped_because == ["r1"]
    objects = [q.object for q in rec.asked]
    assert "b" not in objects  # r2 skipped
    assert "c" not in objects  # `false and X` and `true or X` never ask X
    assert rec.asked == [Count("a", "a")] and v.waves == 1


def test_waves_follow_requires_and_short_circuit():
    rules = logicdsl.loads(REQ)
    rec = Recording(NativeSceneBackend(scene(("a", [0, 0, 1, 1]), ("b", [0, 0, 1, 1]))))
    v = logicdsl.Engine(rules, backend=rec).check(IMAGE)
    assert statuses(v) == {"r1": "pass", "r2": "pass", "r3": "fail", "r4": "fail"}
    first, *rest = rec.batches
    assert first == [Count("a", "a")]  # only the first pending operand of each rule
    later = {q.object for b in rest for q in b}
    assert later == {"b", "c"} and len(rec.asked) == len(set(rec.asked)) == 3
    assert v.waves == len(rec.batches) == 2 and v.subqueries_asked == 3


def test_answer_cache_second_check_asks_nothing():
    rules = logicdsl.load(EXAMPLES["juice_bottle"])
    rec = Recording(SceneBackend(normal_scene("juice_bottle")))
    engine = logicdsl.Engine(rules, backend=rec)
    v1 = engine.check(IMAGE)
    n = len(rec.asked)
    v2 = engine.check(IMAGE.copy())  # same pixels, another array: same content hash
    assert n > 0 and len(rec.asked) == n
    assert v2.subqueries_asked == 0 and v2.waves == 0
    assert statuses(v1) == statuses(v2)
    assert engine.cache.hits >= n


def test_failed_answers_are_not_cached():
    class Flaky(NativeSceneBackend):
        calls = 0

        def answer(self, image, subqueries):
            Flaky.calls += 1
            if Flaky.calls == 1:
                from logicdsl.engine.subquery import Answer
                return [Answer.failed("timeout") for _ in subqueries]
            return super().answer(image, subqueries)

    rules = logicdsl.loads('product p\nobject a "a"\nrule r: count(a) == 0')
    engine = logicdsl.Engine(rules, backend=Flaky(scene()))
    assert engine.check(IMAGE).status == "undecided"
    assert engine.check(IMAGE).status == "normal"


def test_backend_exception_and_wrong_answer_count_become_undecided():
    class Broken(NativeSceneBackend):
        def answer(self, image, subqueries):
            raise RuntimeError("cuda out of memory\nlong trace")

    class Short(NativeSceneBackend):
        def answer(self, image, subqueries):
            return []

    rules = logicdsl.loads('product p\nobject a "a"\nrule r: count(a) == 0')
    v = logicdsl.Engine(rules, backend=Broken(scene())).check(IMAGE)
    assert v.status == "undecided" and "RuntimeError: cuda out of memory" in v.undecided[0].evidence.reason
    v = logicdsl.Engine(rules, backend=Short(scene())).check(IMAGE)
    assert v.status == "undecided" and "returned 0 answers for 1" in v.undecided[0].evidence.reason


# ------------------------------------------------------------------------------ evidence
def test_undecided_reasons_reach_the_verdict():
    rules = logicdsl.loads('''product j
object juice "juice"
object icon "icon"
object cable "k"
attribute kind of juice: {orange, cherry}
attribute color of cable: {red, blue}
let ratio = count(juice) / count(icon)
rule kind: juice.kind == orange
rule r: ratio > 1
rule m: match cable.color { red => true  blue => false }
''')
    v = logicdsl.Engine(rules, backend=SceneBackend(scene(
        ("juice", [0, 0, 1, 1], {"attributes": {"kind": "orange"}}), ("juice", [5, 5, 6, 6]),
        ("cable", [0, 0, 1, 1]), ("cable", [0, 0, 1, 1])))).check(IMAGE)
    reasons = {o.rule: o.evidence.reason for o in v.undecided}
    assert reasons["kind"] == "expected exactly one `juice`, found 2"
    assert "division by zero" in reasons["r"]
    assert "match" in reasons["m"] and "expected exactly one `cable`, found 2" in reasons["m"]
    single = [c for c in v.undecided[0].evidence.checks if c["result"] == "undecided"]
    assert single and single[0]["reason"] == "expected exactly one `juice`, found 2"


def test_failed_rule_evidence_has_checks_lets_and_subqueries():
    rules = logicdsl.loads('product p\nobject a "a"\nlet n = count(a)\nrule two: n == 2')
    v = logicdsl.Engine(rules, backend=SceneBackend(scene(("a", [0, 0, 10, 10])))).check(IMAGE)
    ev = v.violations[0].evidence
    assert ev.values == {"n": 1}
    assert ev.checks[0]["result"] == "fail" and ev.checks[0]["operands"][0]["value"] == 1
    assert ev.subqueries[0].kind == "detect" and len(ev.subqueries[0].answer["instances"]) == 1


def test_low_confidence_reason():
    from .backends import OverrideBackend

    rules = logicdsl.loads('product p\nobject a "a"\nrule r: count(a) == 0')
    backend = OverrideBackend(scene(), [{"match": {"kind": "count"}, "value": 0, "confidence": 0.2}])
    v = logicdsl.Engine(rules, backend=backend, min_confidence=0.6).check(IMAGE)
    assert v.undecided[0].evidence.reason == "confidence 0.20 is below the floor 0.60"


# ------------------------------------------------------------------------------ verdict JSON
def test_verdict_json_round_trips(tmp_path):
    rules = logicdsl.load(EXAMPLES["juice_bottle"])
    sc = normal_scene("juice_bottle")
    objs = [o for o in sc.objects if o.label != "icon"]
    broken = Scene(width=sc.width, height=sc.height, objects=objs + [objs[0]])
    verdicts = [
        logicdsl.Engine(rules, backend=SceneBackend(sc)).check(IMAGE),
        logicdsl.Engine(rules, backend=SceneBackend(broken)).check(IMAGE),
        logicdsl.Engine(rules, backend=SceneBackend(sc)).check(tmp_path / "missing.png"),
    ]
    assert [v.status for v in verdicts] == ["normal", "anomaly", "error"]
    for v in verdicts:
        text = v.model_dump_json()
        again = Verdict.model_validate_json(text)
        assert again == v and again.schema_version == "1.0"
    err = verdicts[2]
    assert err.status == "error" and err.label is None and "no such file" in err.error


def test_scene_answers_are_not_cached_by_pixels(tmp_path):
    """Two images with the same pixels but different sidecar scenes must not share answers."""
    from PIL import Image

    rules = logicdsl.loads('product p\nobject a "a"\nrule r: count(a) == 1')
    for name, n in (("one", 1), ("two", 2)):
        Image.new("RGB", (20, 20)).save(tmp_path / f"{name}.png")
        objs = ",".join('{"label": "a", "box": [1, 1, 5, 5]}' for _ in range(n))
        (tmp_path / f"{name}.json").write_text(f'{{"width": 20, "height": 20, "objects": [{objs}]}}')
    engine = logicdsl.Engine(rules, backend=SceneBackend())
    assert engine.check(tmp_path / "one.png").status == "normal"
    assert engine.check(tmp_path / "two.png").status == "anomaly"
