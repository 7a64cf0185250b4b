"""Reading photos and masks into arrays, and writing results safely. Pillow only.

Reading turns whatever a file holds into H×W×3 uint8 RGB the way a person expects: EXIF
orientation applied, 16-bit scaled (not clipped), palettes and grayscale expanded, transparency
flattened onto white. Writing goes through a temporary file and a rename, so a failed write
never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from inference.errors import ImageFileError


def open_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode ``path`` with EXIF orientation applied.

    Raises ``ImageFileError`` for a missing, empty, unreadable, truncated or non-image file.
    """
    path = Path(path)
    if not path.exists():
        raise ImageFileError(f"'{path}' does not exist.")
    if path.is_dir():
        raise ImageFileError(f"'{path}' is a folder, not an image file.")
    if path.stat().st_size == 0:
        raise ImageFileError(f"'{path}' is empty (0 bytes).")
    try:
        with Image.open(path) as im:
            im.load()
            return ImageOps.exif_transpose(im)
    except PermissionError:
        raise ImageFileError(f"'{path}' cannot be read: permission denied.") from None
    except UnidentifiedImageError:
        raise ImageFileError(f"'{path}' is not an image Kiln can read (PNG, JPEG, WebP, TIFF, BMP).") from None
    except Image.DecompressionBombError:
        raise ImageFileError(f"'{path}' is too large to open safely (over {Image.MAX_IMAGE_PIXELS:,} pixels).") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageFileError(f"'{path}' is damaged or truncated and cannot be read ({exc}).") from None


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """Any Pillow image → H×W×3 uint8 RGB. 16-bit channels are scaled to 8 bits, not clipped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or values.max() > 255 else 255.0
        gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        flat = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flat.alpha_composite(rgba)
        return np.array(flat.convert("RGB"))
    return np.array(im.convert("RGB"))


def load_rgb(path: str | os.PathLike) -> np.ndarray:
    """``path`` → H×W×3 uint8 RGB. Raises ``ImageFileError``."""
    return to_rgb_array(open_image(path))


def load_mask(path: str | os.PathLike) -> np.ndarray:
    """A mask file → H×W uint8, white (255) = regenerate. Raises ``ImageFileError``.

    A mask with transparency uses its alpha channel (painted = opaque); otherwise its
    brightness is used.
    """
    im = open_image(path)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        return np.array(im.convert("RGBA").getchannel("A"))
    if im.mode.startswith("I") or im.mode == "F":
        return to_rgb_array(im)[..., 0].copy()
    return np.array(im.convert("L"))


SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}


def save_image(path: str | os.PathLike, image: np.ndarray, parameters: str | None = None) -> Path:
    """Write H×W×3 uint8 ``image`` atomically, in the format its suffix names. PNG files carry
    ``parameters`` in the A1111-style text chunk. Raises ``ImageFileError`` (unknown suffix,
    full disk, read-only folder…) and leaves any existing file at ``path`` untouched then.
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageFileError(f"cannot save '{path.name}': use .png, .jpg, .webp, .tif or .bmp.")
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG" and parameters:
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_text("parameters", parameters)
    if not path.parent.is_dir():
        raise ImageFileError(f"cannot save '{path}': the folder '{path.parent}' does not exist.")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(image).save(fh, format=fmt, **options)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        raise ImageFileError(f"cannot save '{path}': {exc.strerror or exc}.") from None
    return path


def read_parameters(path: str | os.PathLike) -> str | None:
    """The ``parameters`` text of a PNG written by Kiln or another SD tool, if it has one."""
    try:
        with Image.open(path) as im:
            text = im.info.get("parameters")
    except (OSError, ValueError):
        return None
    return text if isinstance(text, str) and text.strip() else None
