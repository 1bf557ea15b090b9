"""The real MVTec LOCO juice bottle sample (../shared/data/mvtec_loco_sample): every image classified right."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT.parent / "shared" / "data" / "mvtec_loco_sample" / "juice_bottle"
if not SAMPLE.is_dir():
    pytest.skip(f"the real MVTec LOCO sample is not here ({SAMPLE}); CI has it", allow_module_level=True)

RULES = ROOT / "examples" / "juice_bottle" / "juice_bottle.logic"
PROFILE = ROOT / "examples" / "juice_bottle" / "mvtec_loco.vision.toml"

#: the expected label of each sample image (see the sample's README; first failed rule in file order)
EXPECTED = {
    "train/good/010.png": "normal", "train/good/011.png": "normal", "train/good/012.png": "normal",
    "test/good/000.png": "normal", "test/good/001.png": "normal", "test/good/002.png": "normal",
    "test/logical_anomalies/003.png": "fruit_label_present",
    "test/logical_anomalies/015.png": "juice_label_present",
    "test/logical_anomalies/026.png": "fill_level",
    "test/logical_anomalies/038.png": "icon_centred",
    "test/logical_anomalies/048.png": "icon_present",
    "test/logical_anomalies/053.png": "fruit_label_placed",
    "test/logical_anomalies/058.png": "juice_label_placed",
    "test/logical_anomalies/062.png": "labels_in_order",
    "test/logical_anomalies/075.png": "fruit_label_present",
    "test/logical_anomalies/090.png": "fill_level",
    "test/logical_anomalies/109.png": "fill_level",
    "test/logical_anomalies/125.png": "juice_matches_label",
}


@pytest.fixture(scope="module")
def engine():
    import logicdsl
    from logicdsl.engine.vision import VisionBackend

    return logicdsl.Engine(logicdsl.load(RULES), backend=VisionBackend(PROFILE))


@pytest.mark.parametrize("image, label", sorted(EXPECTED.items()))
def test_real_image_label(engine, image, label):
    v = engine.check(str(SAMPLE / image))
    assert v.status != "undecided", [u.rule for u in v.undecided]
    assert v.label == label, [r.rule for r in v.violations]
