"""`logicdsl synth` and `logicdsl eval` end to end on a tiny generated set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from logicdsl.cli import main

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "pushpins" / "pushpins.logic"
LOCO_SAMPLE = ROOT.parent / "shared" / "data" / "mvtec_loco_sample" / "juice_bottle"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny") / "pushpins"
    assert main(["synth", "pushpins", "--out", str(out), "-n", "8", "--seed", "4", "--format", "jpg",
                 "--jobs", "1", "--no-progress"]) == 0
    return out


def test_eval_scene_backend_is_perfect(tiny, tmp_path, capsys):
    report = tmp_path / "rep"
    assert main(["eval", str(tiny), str(RULES), "--backend", "scene", "--report", str(report), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "LAC accuracy" in out and "1.000" in out
    m = json.loads((report / "metrics.json").read_text())
    assert m["n"] == 8 and m["lac_accuracy"] == 1.0 and m["exact_set_accuracy"] == 1.0 and m["errors"] == 0
    assert m["product"] == "pushpins" and m["backend"] == "scene"
    assert (report / "confusion.png").stat().st_size > 0
    assert "Confusion matrix" in (report / "index.html").read_text()
    assert len((report / "records.jsonl").read_text().splitlines()) == 8


@pytest.mark.parametrize("backend, jobs", [("scene", "1"), ("vision", "2")])
def test_eval_report_draws_the_misclassified_images(tiny, tmp_path, backend, jobs):
    """A set whose labels say two normal units are anomalous: both are misclassified, and the report
    draws each of them (its detections and evidence) into overlays/ and shows it on the page."""
    import shutil

    from PIL import Image

    ds = tmp_path / "ds"
    shutil.copytree(tiny, ds)
    rows = [json.loads(line) for line in (ds / "labels.jsonl").read_text().splitlines()]
    normal = [r for r in rows if r["label"] == "normal"][:2]
    for r in normal:
        r.update(label="no_crowded_compartment", violations=["no_crowded_compartment"], defect_types=["additional_pin"])
    (ds / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = tmp_path / "rep"
    assert main(["eval", str(ds), str(RULES), "--backend", backend, "--jobs", jobs, "--report", str(report),
                 "--no-progress"]) == 0
    wrong = [json.loads(line) for line in (report / "records.jsonl").read_text().splitlines()]
    wrong = [r for r in wrong if not r["correct"]]
    assert sorted(Path(r["image"]).name for r in wrong) == sorted(r["image"] for r in normal)
    pictures = sorted((report / "overlays").glob("*.overlay.png"))
    assert len(pictures) == 2
    page = (report / "index.html").read_text()
    for pic in pictures:
        assert f'src="overlays/{pic.name}"' in page
        with Image.open(pic) as im:
            assert im.size[0] > 100 and im.size[1] > 100


def test_eval_json_jobs_and_errors_are_counted(tiny, tmp_path, capsys):
    # a copy of the set with one scene removed: that image is an error or undecided, never a crash
    import shutil

    ds = tmp_path / "ds"
    shutil.copytree(tiny, ds)
    (ds / "0003.json").unlink()
    assert main(["eval", str(ds), str(RULES), "--backend", "scene", "--json", "--jobs", "2", "--no-progress"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 8 and m["jobs"] == 2
    assert m["lac_accuracy"] == pytest.approx(7 / 8)
    assert m["errors"] + m["undecided"] == 1


@pytest.mark.parametrize("argv,needle", [
    (["eval", "/nonexistent/ds", str(RULES), "--backend", "scene"], "no such dataset"),
    (["eval", str(RULES), "/tmp"], "the dataset goes first"),
    (["eval", "/tmp", str(RULES), "--jobs", "0"], "--jobs"),
    (["synth", "teapot", "--out", "/tmp/x"], "unknown product"),
    (["synth", "pushpins", "--out", "/tmp/x", "-n", "0"], "-n must be"),
    (["synth", "pushpins", "--out", "/tmp/x", "--anomaly-rate", "2"], "--anomaly-rate"),
])
def test_bad_input_exits_2_with_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("logicdsl: error:") and needle in err and "\n" not in err


@pytest.mark.skipif(not LOCO_SAMPLE.is_dir(), reason=f"the MVTec LOCO sample is not at {LOCO_SAMPLE}")
def test_eval_reads_a_loco_folder(capsys):
    rules = ROOT / "examples" / "juice_bottle" / "juice_bottle.logic"
    # the scene backend has no scenes for real photographs: every image is counted, none crashes the run
    assert main(["eval", str(LOCO_SAMPLE), str(rules), "--backend", "scene", "--json", "--no-progress"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["n"] == 15 and m["dataset_kind"] == "loco" and m["skipped"] == 0
    assert m["per_class"]["fill_level"]["support"] == 3
