"""Using logicdsl as a library: load rules, check images, read the verdicts.

Run from the repository root:  python examples/library_api.py
"""

from pathlib import Path

import logicdsl
from logicdsl.engine.scene import SceneBackend

HERE = Path(__file__).parent


def main() -> int:
    rules = logicdsl.load(HERE / "juice_bottle" / "juice_bottle.logic")
    print(f"{rules.product}: {len(rules.names)} rules, {len(rules.graph.leaves())} distinct subqueries")

    # The scene backend reads each image's sidecar JSON (img.png -> img.json); swap in
    # backend="vision" (a station profile) or VLMBackend(...) without touching the rest.
    engine = logicdsl.Engine(rules, backend=SceneBackend())
    images = sorted((HERE / "juice_bottle" / "images").glob("*.png"))
    for verdict in engine.check_many(images):
        broken = ", ".join(verdict.violated_rules) or "-"
        print(f"{Path(verdict.image).name}: {verdict.status:9} label={verdict.label:22} violated={broken}")
        for v in verdict.violations:
            for check in v.evidence.checks[:1]:
                print(f"    {v.rule}: `{check['expr']}` is {check['result']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
