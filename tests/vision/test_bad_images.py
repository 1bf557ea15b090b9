"""Bad inputs: every case is a clear one-line ImageError for that image, and a batch goes on."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from logicdsl.engine.image import ImageError, ImageRef


@pytest.fixture()
def rgb():
    return (np.random.default_rng(0).random((40, 60, 3)) * 255).astype(np.uint8)


@pytest.fixture()
def png(tmp_path, rgb):
    p = tmp_path / "ok.png"
    Image.fromarray(rgb).save(p)
    return p


def _error(path) -> str:
    with pytest.raises(ImageError) as ei:
        ImageRef.of(path).load()
    msg = str(ei.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_truncated(tmp_path, png):
    p = tmp_path / "trunc.png"
    data = png.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    assert "truncated" in _error(p)


def test_corrupt_and_not_an_image(tmp_path):
    p = tmp_path / "corrupt.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    assert "not an image" in _error(p) or "corrupt" in _error(p)
    t = tmp_path / "notes.png"
    t.write_text("hello")
    assert "not an image file" in _error(t)


def test_zero_size_file(tmp_path):
    p = tmp_path / "zero.png"
    p.write_bytes(b"")
    assert "empty file" in _error(p)


def test_missing_directory_and_unreadable(tmp_path, png):
    assert "no such file" in _error(tmp_path / "missing.png")
    assert "directory" in _error(tmp_path)
    if os.geteuid() == 0:
        pytest.skip("running as root: file permissions do not stop reading")
    os.chmod(png, 0)
    try:
        assert "cannot read" in _error(png)
    finally:
        os.chmod(png, 0o644)


def test_decompression_bomb(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("L", (3000, 3000)).save(p)
    ref = ImageRef.of(p, max_pixels=1_000_000)
    with pytest.raises(ImageError, match="decompression bomb"):
        ref.load()
    with pytest.raises(ImageError, match="over the limit"):
        ImageRef.of(p, max_pixels=1_000_000).size()


def test_sixteen_bit(tmp_path):
    p = tmp_path / "g16.png"
    arr = np.linspace(0, 65535, 40 * 60).reshape(40, 60).astype(np.uint16)
    Image.fromarray(arr).save(p)
    out = ImageRef.of(p).load()
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert out.max() == 255 and out.min() == 0
    a16 = ImageRef.of(np.stack([arr] * 3, axis=-1)).load()  # a 16-bit array in library use
    assert a16.dtype == np.uint8 and a16.max() == 255


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "LA", "CMYK", "1"])
def test_modes_become_rgb(tmp_path, rgb, mode):
    p = tmp_path / f"m{mode}.png"
    im = Image.fromarray(rgb).convert(mode)
    if mode == "CMYK":
        p = p.with_suffix(".jpg")
    im.save(p)
    out = ImageRef.of(p).load()
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8


def test_exif_rotation_is_applied(tmp_path, rgb):
    p = tmp_path / "rot.jpg"
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    im.save(p, exif=exif)
    ref = ImageRef.of(p)
    assert ref.size() == (40, 60)
    assert ref.load().shape == (60, 40, 3)


def test_a_batch_goes_on(tmp_path, png):
    """The check command reports each bad image and checks the rest."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"junk")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    r = subprocess.run([sys.executable, "-m", "logicdsl", "check", str(bad), str(empty), str(png),
                        str(root / "examples" / "pushpins" / "pushpins.logic"), "--backend", "vision",
                        "--format", "jsonl", "--no-progress"], capture_output=True, text=True, timeout=120)
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert len(rows) == 3, (r.stdout, r.stderr)
    by = {Path(x["image"]).name: x for x in rows}
    assert by["bad.png"]["status"] == "error" and "not an image" in by["bad.png"]["error"]
    assert by["empty.png"]["status"] == "error" and "empty file" in by["empty.png"]["error"]
    assert by["ok.png"]["status"] in ("normal", "anomaly", "undecided")
