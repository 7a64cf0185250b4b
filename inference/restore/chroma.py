"""Colour from a model, detail and tone from the scan: the chroma of a (small) coloured version put
onto the scan's own full-resolution luminance.

The luminance is ITU-R 601's Y (0.299 R + 0.587 G + 0.114 B, as a grayscale photo is made), and
the chroma is YCbCr's Cb, Cr, which carry no luminance: R, G, B rebuilt from the scan's Y and the
model's Cb, Cr have the scan's Y exactly, before rounding to levels (±½ level after it). Where a
colour would leave the RGB cube at that luminance (a saturated red on a near-white wall), its
chroma is scaled down until it fits, never the luminance. Chroma is smooth, so the model's small
picture is enlarged for it without visible loss; the rebuild runs in row bands, so a 24 MP scan
costs a few float bands, not float copies of the whole picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


BAND_ROWS = 512
# YCbCr (JPEG, full range) → RGB: R = Y + 1.402 Cr, G = Y − 0.344136 Cb − 0.714136 Cr, B = Y + 1.772 Cb
_FROM_CHROMA = np.array([[0.0, 1.402], [-0.344136, -0.714136], [1.772, 0.0]], np.float32)


def chroma_planes(colour: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Cb and Cr (uint8, 128 = none) of ``colour`` (h×w×3 uint8), enlarged smoothly to ``size`` (w, h)."""
    _, cb, cr = Image.fromarray(np.ascontiguousarray(colour)).convert("YCbCr").split()
    return (np.asarray(cb.resize(size, Image.BICUBIC)), np.asarray(cr.resize(size, Image.BICUBIC)))


def transfer_chroma(luma: np.ndarray, colour: np.ndarray, saturation: float = 1.0) -> np.ndarray:
    """H×W×3 uint8 with luminance ``luma`` (H×W uint8, the scan's) and the colours of ``colour``
    (h×w×3 uint8, any size: the model's picture), their chroma scaled by ``saturation`` (0: gray,
    1: as generated, up to 2)."""
    height, width = luma.shape
    cb, cr = chroma_planes(colour, (width, height))
    out = np.empty((height, width, 3), np.uint8)
    gain = float(np.clip(saturation, 0.0, 2.0))
    for top in range(0, height, BAND_ROWS):
        rows = slice(top, min(height, top + BAND_ROWS))
        y = luma[rows].astype(np.float32)[..., None]
        chroma = np.stack([cb[rows], cr[rows]], axis=-1).astype(np.float32) - 128.0
        offsets = chroma @ _FROM_CHROMA.T * gain  # band×W×3: what the chroma adds to each channel
        # The largest share s ≤ 1 of the chroma that keeps every channel in 0..255 at this Y.
        room = np.where(offsets > 0, (255.0 - y) / np.maximum(offsets, 1e-6),
                        np.where(offsets < 0, -y / np.minimum(offsets, -1e-6), np.inf))
        share = np.clip(room.min(axis=-1, keepdims=True), 0.0, 1.0)
        out[rows] = np.rint(y + offsets * share).clip(0, 255).astype(np.uint8)
    return out
