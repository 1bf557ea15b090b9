"""Station profile validation: every error is one line naming the file and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from logicdsl.engine.backend import BackendError
from logicdsl.engine.vision_profile import default_profile_path, load_profile, parse_profile

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PROFILES = sorted(EXAMPLES.glob("*/*.vision.toml"))


def test_every_example_profile_loads():
    assert len(PROFILES) >= 6
    for p in PROFILES:
        prof = load_profile(p)
        assert prof.objects, p


def test_default_profile_path_finds_the_product_profile(tmp_path):
    assert default_profile_path(EXAMPLES / "pushpins" / "pushpins.logic") == EXAMPLES / "pushpins" / "pushpins.vision.toml"
    rules = tmp_path / "line7.logic"
    rules.write_text('product pushpins "x"\n')
    assert default_profile_path(rules) is None
    (tmp_path / "pushpins.vision.toml").write_text('[objects.pin]\nbrightness = [0, 10]\n')
    assert default_profile_path(rules) == tmp_path / "pushpins.vision.toml"


def _err(text: str) -> str:
    with pytest.raises(BackendError) as ei:
        parse_profile(text, "station.vision.toml")
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith("station.vision.toml: ")
    return msg


@pytest.mark.parametrize("text, where, what", [
    ('[objects.pin]\ncolour = [{space = "hsv", low = [0, 0], high = [1, 2, 3]}]\n',
     "objects.pin.colour.0", "needs 3 numbers"),
    ('[objects.pin]\ncolour = [{space = "hsv", low = [0, 0, 0], high = [200, 2, 3]}]\n',
     "objects.pin.colour.0", "outside 0..180"),
    ('[objects.pin]\nbrightness = [10, 5]\n', "objects.pin.brightness", "low <= high"),
    ('[objects.pin]\nbrightness = [0, 50]\nmorphology = ["wobble 3"]\n', "objects.pin.morphology", "unknown morphology"),
    ('[objects.pin]\nbrightness = [0, 50]\nmorphology = ["open"]\n', "objects.pin.morphology", "needs a size"),
    ('[objects.pin]\nbrightness = [0, 50]\ncolor = []\n', "objects.pin.color", "Extra inputs"),
    ('[objects.pin]\nmorphology = []\n', "objects.pin", "at least one pixel source"),
    ('[objects.pin]\nbrightness = [0, 50]\nwithin = "tray"\n', "objects.pin.within", "unknown object `tray`"),
    ('[objects.a]\nbrightness = [0, 50]\nwithin = "b"\n[objects.b]\nbrightness = [0, 50]\nwithin = "a"\n',
     "objects.", "cycle"),
    ('[objects.pin]\nbrightness = [0, 50]\nsearch = [0.5, 0, 0.2, 1]\n', "objects.pin.search", "x0 < x1"),
    ('[objects.pin]\nbrightness = [0, 50]\n[objects.pin.attributes.c]\nmeasure = "colour_class"\nclasses = {}\n',
     "objects.pin.attributes.c", "at least one class"),
    ('[objects.pin]\nbrightness = [0, 50]\n[objects.pin.attributes.c]\nmeasure = "telepathy"\n',
     "objects.pin.attributes.c", ""),
    ('[station]\nlong_side = 10\n[objects.pin]\nbrightness = [0, 50]\n', "station.long_side", "greater than or equal"),
    ('[objects.pin]\nbrightness = [0, 50]\nsplit = { max_parts = 4 }\n', "objects.pin.split", "at least one of"),
    ('[objects.pin]\nlines = [{ size = 9 }, { size = 1 }]\n', "objects.pin.lines.1.size", "greater than or equal"),
    ('[objects.pin]\nlines = 5\n', "objects.pin.lines", "a list of them"),
    ('[objects.pin]\nbrightness = [0, 50]\nsplit = { concavity = 0 }\n', "objects.pin.split.concavity", "greater than"),
])
def test_invalid_values_name_the_key_path(text, where, what):
    msg = _err(text)
    assert where in msg, msg
    assert what in msg, msg


def test_bad_toml_and_missing_file(tmp_path):
    assert "not valid TOML" in _err("[objects.pin\n")
    with pytest.raises(BackendError, match="no such vision profile"):
        load_profile(tmp_path / "nope.vision.toml")
    with pytest.raises(BackendError, match="is a directory"):
        load_profile(tmp_path)
    bad = tmp_path / "bad.vision.toml"
    bad.write_text('[objects.pin]\nbrightness = [9, 1]\n')
    with pytest.raises(BackendError, match=r"bad\.vision\.toml: objects\.pin\.brightness"):
        load_profile(bad)
