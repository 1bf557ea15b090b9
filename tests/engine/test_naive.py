"""The naive-plan baseline: one question per atomic predicate, no sharing, no lowering."""

from pathlib import Path

import logicdsl
from logicdsl.naive import naive_question_count, naive_questions_per_rule

ROOT = Path(__file__).resolve().parents[2]


def count(text: str) -> dict[str, int]:
    return naive_questions_per_rule(logicdsl.loads(text).program)


DECLS = 'product p\nobject a "a"\nobject b "b"\nattribute c of a: {x, y}\nregion left = box(0, 0, 0.5, 1)\n' \
        'grid g = 2 x 3 in box(0, 0, 1, 1)\n'


def test_atomic_predicates():
    got = count(DECLS + "let n = count(a)\n"
                "rule r1: count(a) == 1 and exists(b in left)\n"           # 2
                "rule r2: a.c == x and width(a) > 0.1 and above(a, b)\n"    # 3
                "rule r3: n + n > 1\n"                                      # a let is re-asked at each use: 2
                "rule r4: all k in g: count(a in k) == 1\n"                 # unrolled: 6
                "rule r5: all p in a: p.width > 0.1 and p.c == y\n"         # list + 2
                "rule r6: sum(p.area for p in a where p.c == x) > distance(a, b)\n"  # list + area + where + distance
                "rule r7: match a.c { x => count(b) == 1  _ => abs(height(b)) < 1 }\n"  # 1 + 1 + 1
                "rule r8 requires r1: count(x1 in a where x1.c == y) == 0\n")   # 1 + 1
    assert got == {"r1": 2, "r2": 3, "r3": 2, "r4": 6, "r5": 3, "r6": 4, "r7": 3, "r8": 2}


def test_examples():
    got = {p.stem: naive_question_count(logicdsl.load(p).program) for p in sorted((ROOT / "examples").glob("*/*.logic"))}
    assert got["pushpins"] == 1 + 15 + 15 + 1
    assert all(v > 0 for v in got.values()) and len(got) == 5
