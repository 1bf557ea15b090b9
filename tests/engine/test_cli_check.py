"""`logicdsl check`: exit codes (in-process and as a subprocess), batches that hit broken inputs,
JSON/JSONL output, and the cost of starting it (no torch, a startup budget)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from logicdsl.cli import main
from logicdsl.engine.verdict import Verdict

RULES = '''product p
object a "a thing"
object b "b thing"
rule no_a [quantity] "there is no a": count(a) == 0
rule one_b requires no_a: count(b) <= 1
rule b_wide: all x in b: x.width > 0.1
'''


def write_image(path: Path, objects: list[dict] | None, colour=(0, 0, 0), scene_text: str | None = None) -> Path:
    Image.new("RGB", (40, 30), colour).save(path)
    if scene_text is not None:
        path.with_suffix(".json").write_text(scene_text)
    elif objects is not None:
        path.with_suffix(".json").write_text(json.dumps({"width": 40, "height": 30, "objects": objects}))
    return path


@pytest.fixture
def station(tmp_path):
    rules = tmp_path / "p.logic"
    rules.write_text(RULES)
    imgs = {
        "normal": write_image(tmp_path / "normal.png", [{"label": "b", "box": [0, 0, 20, 10]}], (1, 0, 0)),
        "anomaly": write_image(tmp_path / "anomaly.png", [{"label": "a", "box": [0, 0, 5, 5]}], (2, 0, 0)),
        # an unreadable scene file: every rule is undecided with the scene's problem as the reason
        "undecided": write_image(tmp_path / "undecided.png", [{"label": "b", "box": [0, 0, 20, 10]}], (3, 0, 0),
                                 scene_text='{"width": 40, "height": 30, "objects": [}'),
    }
    return tmp_path, rules, imgs


def run_cli(*args: str) -> int:
    return main(["check", *map(str, args), "--backend", "scene", "--no-progress"])


def test_exit_codes_in_process(station, capsys):
    tmp, rules, imgs = station
    assert run_cli(imgs["normal"], rules) == 0
    assert run_cli(imgs["anomaly"], rules) == 1
    assert run_cli(imgs["undecided"], rules) == 3
    assert run_cli(imgs["normal"], imgs["anomaly"], rules) == 1
    assert run_cli(tmp / "missing.png", rules) == 2  # only an input error
    bad_rules = tmp / "bad.logic"
    bad_rules.write_text("product p\nrule r: count(nothing) == 1\n")
    assert run_cli(imgs["normal"], bad_rules) == 2
    assert "unknown object `nothing`" in capsys.readouterr().err
    assert run_cli(imgs["normal"], tmp / "nope.logic") == 2
    assert main(["check", str(imgs["normal"])]) == 2  # no rule file


def test_exit_codes_subprocess(station):
    tmp, rules, imgs = station
    for name, code in (("normal", 0), ("anomaly", 1), ("undecided", 3)):
        r = subprocess.run([sys.executable, "-m", "logicdsl", "check", str(imgs[name]), str(rules), "--backend", "scene"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == code, r.stderr
    r = subprocess.run([sys.executable, "-m", "logicdsl", "check", str(tmp / "missing.png"), str(rules),
                        "--backend", "scene"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2


def test_batch_with_broken_image_and_bad_scene_continues(station, capsys):
    tmp, rules, imgs = station
    (tmp / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code = main(["check", str(tmp), str(rules), "--backend", "scene", "--format", "jsonl", "--no-progress"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    by_name = {Path(v["image"]).name: Verdict.model_validate(v) for v in lines}
    assert set(by_name) == {"normal.png", "anomaly.png", "undecided.png", "broken.png"}
    assert by_name["broken.png"].status == "error" and "broken.png" in by_name["broken.png"].error
    # a scene file that cannot be read leaves every rule undecided, with the scene's problem as the reason
    bad = by_name["undecided.png"]
    assert bad.status == "undecided" and "not valid JSON" in bad.undecided[0].evidence.reason
    assert by_name["normal.png"].status == "normal" and by_name["anomaly.png"].label == "no_a"
    assert code == 1


def test_json_output_parses(station, capsys):
    tmp, rules, imgs = station
    assert main(["check", str(imgs["anomaly"]), str(rules), "--backend", "scene", "--format", "json"]) == 1
    one = json.loads(capsys.readouterr().out)
    v = Verdict.model_validate(one)
    assert v.schema_version == "1.0" and v.label == "no_a" and v.skipped[0].skipped_because == ["no_a"]
    assert main(["check", str(imgs["normal"]), str(imgs["anomaly"]), str(rules), "--backend", "scene",
                 "--format", "json", "--no-progress"]) == 1
    many = json.loads(capsys.readouterr().out)
    assert [Verdict.model_validate(x).status for x in many] == ["normal", "anomaly"]


def test_text_output_names_the_rule(station, capsys):
    tmp, rules, imgs = station
    run_cli(imgs["anomaly"], rules)
    out = capsys.readouterr().out
    assert "ANOMALY" in out and "no_a" in out


# ------------------------------------------------------------------------------ startup
#: The target: `logicdsl check` of one image with the scene backend in <= 0.5 s wall time, measured
#: as the best of three runs. CI margin, documented: on a quiet workstation a bare `python -c pass`
#: in this environment takes ~0.04 s; on a slower or loaded machine (shared CI runners, 2 vCPUs under
#: load: 0.08-0.2 s) every Python start is slower by the same factor, so the budget grows with it,
#: 0.5 s x (bare start / 0.04 s), and never shrinks below 0.5 s. In other words: `check` may cost at
#: most 12.5 bare interpreter starts. LOGICDSL_STARTUP_BUDGET_S pins the budget instead.
TARGET_S = 0.5
QUIET_PYTHON_S = 0.04


def _best_wall(cmd: list[str], runs: int = 3, env: dict | None = None) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
        best = min(best, time.perf_counter() - t0)
        assert r.returncode in (0, 1, 3), r.stderr
    return best


def test_check_starts_fast_and_never_imports_torch(station):
    tmp, rules, imgs = station
    probe = (
        "import sys, json\n"
        "from logicdsl.cli import main\n"
        f"rc = main(['check', {str(imgs['normal'])!r}, {str(rules)!r}, '--backend', 'scene'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'cv2', 'tokenizers'))\n"
        "print(json.dumps({'rc': rc, 'heavy': heavy}))\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0
    assert not [m for m in result["heavy"] if m.split(".")[0] in ("torch", "transformers")], result["heavy"]

    cmd = [sys.executable, "-m", "logicdsl", "check", str(imgs["normal"]), str(rules), "--backend", "scene"]
    imports = subprocess.run([sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True,
                             timeout=120).stderr
    assert "torch" not in imports and "transformers" not in imports


def test_check_starts_within_half_a_second(station):
    tmp, rules, imgs = station
    cmd = [sys.executable, "-m", "logicdsl", "check", str(imgs["normal"]), str(rules), "--backend", "scene"]
    # as installed: bytecode cached (pip compiles it; PYTHONDONTWRITEBYTECODE would recompile every module
    # at every start) and, after the first run, the rule file in the rule cache
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(cmd, capture_output=True, timeout=120, env=env)
    wall = _best_wall(cmd, env=env)
    bare = _best_wall([sys.executable, "-c", "pass"])
    budget = float(os.environ.get("LOGICDSL_STARTUP_BUDGET_S", TARGET_S * max(1.0, bare / QUIET_PYTHON_S)))
    print(f"logicdsl check startup: {wall:.3f} s (bare python {bare:.3f} s, budget {budget:.2f} s)")
    assert wall <= budget


def test_missing_image_reported_once(station, capsys):
    tmp, rules, imgs = station
    assert main(["check", str(tmp / "missing.png"), str(rules), "--backend", "scene", "--format", "jsonl"]) == 2
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1
