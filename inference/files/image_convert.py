"""Any decoded Pillow image → the H×W×3 uint8 RGB Kiln edits, the way a person expects: 16-bit
scaled (not clipped), palettes and grayscale expanded, transparency flattened onto white, CMYK
converted through its colour profile. Pillow and numpy only.

Conversions run in bands of rows into one output array, so opening a picture costs the decoded
image plus its RGB array (about 7 bytes a pixel for RGBA), not a chain of whole-image copies.
"""

from __future__ import annotations

import io
from typing import Callable

import numpy as np
from PIL import Image

from inference.files.deep_image import BAND_ROWS, DEEP_GRAY_MODES, to_eight_bit

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def has_alpha(im: Image.Image) -> bool:
    """Whether ``im`` has an alpha channel or a transparent colour."""
    return im.mode in _ALPHA_MODES or (im.mode in ("P", "L", "RGB") and "transparency" in im.info)


def _cmyk_to_rgb(im: Image.Image, name: str, notes: list[str]) -> Image.Image:
    """CMYK through its embedded ICC profile to sRGB; a plain conversion (and a note) without one."""
    icc = im.info.get("icc_profile")
    if not icc:
        notes.append(f"'{name}' is a CMYK (print) file without a colour profile: its colours were converted approximately.")
        return im.convert("RGB")
    try:
        from PIL import ImageCms
    except ImportError:  # a Pillow built without LittleCMS
        reason: object = "this Pillow has no colour management"
    else:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(
                im, source, ImageCms.createProfile("sRGB"), renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
            )
        except Exception as exc:  # noqa: BLE001 — a hostile profile: LittleCMS and Pillow raise many kinds
            reason = exc
    notes.append(f"'{name}' has a CMYK colour profile Kiln cannot use ({reason}): its colours were converted approximately.")
    return im.convert("RGB")


def _by_bands(im: Image.Image, convert: Callable[[Image.Image], np.ndarray]) -> np.ndarray:
    """H×W×3 uint8 filled band by band with ``convert(band)`` of ``im``'s rows."""
    out = np.empty((im.height, im.width, 3), np.uint8)
    for top in range(0, im.height, BAND_ROWS):
        band = im.crop((0, top, im.width, min(top + BAND_ROWS, im.height)))
        out[top:top + band.height] = convert(band)
    return out


def _flattened_on_white(band: Image.Image) -> np.ndarray:
    """Straight alpha over white, rounded: (c·a + 255·(255 − a) + 127) // 255, which fits uint16."""
    rgba = np.asarray(band if band.mode == "RGBA" else band.convert("RGBA"))
    alpha = rgba[..., 3:].astype(np.uint16)
    mixed = rgba[..., :3] * alpha
    mixed += 255 * (255 - alpha) + 127
    mixed //= 255
    return mixed.astype(np.uint8)


def _gray_to_rgb(im: Image.Image) -> np.ndarray:
    """One-channel integer or float images (16- and 32-bit gray, floats) → gray RGB."""
    if im.mode in DEEP_GRAY_MODES:
        gray = to_eight_bit(np.asarray(im).astype(np.uint16))
        return np.repeat(gray[..., None], 3, axis=2)
    values = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(values.max()) if values.size else 0.0
    if im.mode == "F" and 0.0 < peak <= 1.0:
        top = 1.0  # floating-point files usually hold 0…1
    else:
        top = 255.0 if peak <= 255 else 65535.0 if peak <= 65535 else peak
    gray = np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def rgb_with_notes(im: Image.Image, name: str = "image") -> tuple[np.ndarray, list[str]]:
    """``im`` → (H×W×3 uint8 RGB, notes to show about the conversion, e.g. approximate CMYK)."""
    notes: list[str] = []
    if im.mode in DEEP_GRAY_MODES or im.mode in ("I", "F"):
        return _gray_to_rgb(im), notes
    if has_alpha(im):
        return _by_bands(im, _flattened_on_white), notes
    if im.mode == "CMYK":
        return np.array(_cmyk_to_rgb(im, name, notes)), notes
    return _by_bands(im, lambda band: np.asarray(band if band.mode == "RGB" else band.convert("RGB"))), notes


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """Any Pillow image → H×W×3 uint8 RGB. 16-bit channels are scaled to 8 bits, not clipped;
    transparency is flattened on white; CMYK goes through its ICC profile when it has one."""
    return rgb_with_notes(im)[0]
