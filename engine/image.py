"""Images as the engine sees them: a path or pixels, decoded lazily and safely, with a content hash.

Decoding guards against what a production line (or a hostile user) can feed in: missing and
unreadable files, directories, truncated or corrupt data, decompression bombs, 16-bit,
grayscale, palette and RGBA images, and EXIF rotation. Every failure is an :class:`ImageError`
with a one-line reason.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from logicdsl.record import field, record

if TYPE_CHECKING:  # numpy is imported where pixels are touched: `check` with a scene needs none
    import numpy as np

#: images with more pixels than this are refused (decompression bombs); ~ 8000 x 8000
DEFAULT_MAX_PIXELS = 64_000_000
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


class ImageError(Exception):
    """An image that cannot be used; the message is one line, fit for a user."""


@record(frozen=False, eq=False)
class ImageRef:
    """One input image. ``path`` may be None when pixels are given directly (library use)."""

    path: Path | None = None
    pixels: np.ndarray | None = None  # H x W x 3, uint8, RGB
    max_pixels: int = DEFAULT_MAX_PIXELS
    _hash: str | None = field(default=None, repr=False)
    _size: tuple[int, int] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, image: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> "ImageRef":
        """Accept a path, a str, an RGB numpy array, a PIL image or an ImageRef."""
        if isinstance(image, ImageRef):
            return image
        if isinstance(image, (str, os.PathLike)):
            return cls(path=Path(image), max_pixels=max_pixels)
        if type(image).__module__ == "numpy" and hasattr(image, "shape"):
            return cls(pixels=_normalise_array(image), max_pixels=max_pixels)
        try:  # a PIL image
            from PIL import Image

            if isinstance(image, Image.Image):
                return cls(pixels=_to_rgb_array(image), max_pixels=max_pixels)
        except ImportError:  # pragma: no cover
            pass
        raise ImageError(f"cannot use a {type(image).__name__} as an image")

    @property
    def name(self) -> str:
        return str(self.path) if self.path is not None else "<array>"

    def content_hash(self) -> str:
        """A hash of the file bytes (or pixels): the answer cache key, stable across paths."""
        if self._hash is None:
            h = hashlib.blake2b(digest_size=16)
            if self.path is not None and self.pixels is None:
                h.update(self._read_bytes())
            else:
                import numpy as np

                px = self.load()
                h.update(str(px.shape).encode())
                h.update(np.ascontiguousarray(px).tobytes())
            self._hash = h.hexdigest()
        return self._hash

    def _read_bytes(self) -> bytes:
        assert self.path is not None
        p = self.path
        if not p.exists():
            raise ImageError(f"{p}: no such file")
        if p.is_dir():
            raise ImageError(f"{p}: is a directory, not an image")
        try:
            data = p.read_bytes()
        except OSError as e:
            raise ImageError(f"{p}: cannot read ({e.strerror or e})") from None
        if not data:
            raise ImageError(f"{p}: empty file")
        return data

    def size(self) -> tuple[int, int]:
        """(width, height) without decoding the pixels where the header allows."""
        if self._size is None:
            if self.pixels is not None:
                h, w = self.pixels.shape[:2]
                self._size = (w, h)
            else:
                im = self._open()
                w, h = im.size
                if _exif_transposed(im):
                    w, h = h, w
                self._size = (w, h)
        return self._size

    def _open(self):
        import io

        from PIL import Image, UnidentifiedImageError

        data = self._read_bytes()
        Image.MAX_IMAGE_PIXELS = None  # we check ourselves, with our own message
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageError(f"{self.path}: not an image file (unrecognised format)") from None
        except Exception as e:  # noqa: BLE001 - PIL raises many kinds
            raise ImageError(f"{self.path}: cannot open ({_reason(e)})") from None
        w, h = im.size
        if w <= 0 or h <= 0:
            raise ImageError(f"{self.path}: image has zero size")
        if w * h > self.max_pixels:
            raise ImageError(
                f"{self.path}: {w}x{h} = {w * h:,} pixels is over the limit of {self.max_pixels:,}"
                " (possible decompression bomb)"
            )
        return im

    def load(self) -> np.ndarray:
        """Decode to an H x W x 3 uint8 RGB array (EXIF orientation applied)."""
        if self.pixels is None:
            from PIL import ImageOps

            im = self._open()
            try:
                im = ImageOps.exif_transpose(im) or im
                self.pixels = _to_rgb_array(im)
            except ImageError:
                raise
            except Exception as e:  # noqa: BLE001 - truncated/corrupt data surfaces here
                raise ImageError(f"{self.path}: corrupt or truncated image data ({_reason(e)})") from None
            h, w = self.pixels.shape[:2]
            self._size = (w, h)
        return self.pixels

    def pil(self):
        from PIL import Image

        return Image.fromarray(self.load())


def _exif_transposed(im) -> bool:
    # PIL's PNG getexif() decodes the whole image to look past IDAT; PNG orientation tags are
    # read from the chunks before the pixels (where writers put them), so PNGs are not decoded here
    if im.format == "PNG" and "exif" not in im.info:
        return False
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001
        return False
    return orientation in (5, 6, 7, 8)


def _reason(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _to_rgb_array(im) -> np.ndarray:
    """Any PIL mode to 8-bit RGB: 16-bit and float images are rescaled, alpha is dropped."""
    import numpy as np

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if im.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = ((arr - lo) * scale).clip(0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([arr] * 3, axis=-1))
    if im.mode != "RGB":
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            im = im.convert("RGBA").convert("RGB")
        else:
            im = im.convert("RGB")
    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError("unsupported pixel layout")
    return np.ascontiguousarray(arr)


def _normalise_array(arr: np.ndarray) -> np.ndarray:
    import numpy as np

    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(f"an image array must be H x W x 3 (got shape {arr.shape})")
    arr = arr[..., :3]
    if arr.dtype == np.uint16:
        arr = (arr / 257).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def find_images(paths: list[Path]) -> list[Path]:
    """Expand folders (recursively, sorted) into image files; files are kept as given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()))
        else:
            out.append(p)
    return out
