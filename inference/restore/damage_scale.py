"""Damage detection at a scale relative to the picture, and its mask brought back to the scan.

Damage on a print scales with the scanning resolution: a dust speck 2 px across on a 1-MP scan
is 10 px across on a 24-MP scan of the same print. The detector is made for marks a few pixels
wide, so a large scan is first reduced to about ``WORKING_AREA_PX`` pixels (an area average,
which keeps a thin mark as a fainter one), searched there, and the proposal is then redrawn at
full resolution: inside the working-scale mask, a scan pixel is damage where it differs from
the picture around the marks (interpolated from the working scale) by at least
``_VISIBLE_GRAY``, so the mask follows the mark's own outline, not the working scale's coarse
pixels; then it is grown by half a working pixel to cover the mark's soft edge.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage

from inference.restore.mask_ops import dilate, disc_kernel, grow_mask

WORKING_AREA_PX = 1_000_000  # the detector's thresholds and sizes are made for scans of about this area
_REDUCE_ABOVE = 1.25  # scans up to 1.25² × that area are searched as they are: a resampling would only blur them
_VISIBLE_GRAY = 10  # gray levels: a full-resolution pixel this far from the picture around it is part of the mark
_FILL_SIGMAS_PX = (2.0, 8.0)  # at the working scale: the picture around a mark, then around a wide spot


def working_scale(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """H×W uint8 luminance → (h×w uint8 working image, linear reduction factor ≥ 1).

    The factor is √(H·W / WORKING_AREA_PX) when that exceeds ``_REDUCE_ABOVE``, else 1 and the
    image itself is returned.
    """
    h, w = gray.shape
    factor = math.sqrt(h * w / WORKING_AREA_PX)
    if factor <= _REDUCE_ABOVE:
        return gray, 1.0
    size = (max(1, round(w / factor)), max(1, round(h / factor)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.BOX)), factor


def picture_without_marks(work: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """h×w uint8 working image and h×w bool ``candidates`` (anything that might be a mark) →
    h×w float32: the picture around the marks, a Gaussian average of the other pixels
    normalised by their weight, wider where a spot leaves no pixel near."""
    known = (~dilate(candidates, disc_kernel(1))).astype(np.float32)
    values = work.astype(np.float32) * known
    out = np.zeros(work.shape, np.float32)
    todo = np.ones(work.shape, bool)
    for sigma_px in _FILL_SIGMAS_PX:
        weight = ndimage.gaussian_filter(known, sigma_px, truncate=3.0)
        total = ndimage.gaussian_filter(values, sigma_px, truncate=3.0)
        ok = todo & (weight > 0.05)
        out[ok] = total[ok] / weight[ok]
        todo &= ~ok
    out[todo] = work[todo]  # nothing known within reach: no mark can be told from the picture there
    return out


def to_full_resolution(gray: np.ndarray, work_mask: np.ndarray, background: np.ndarray, cover_px: float) -> np.ndarray:
    """Redraw a working-scale mask at full resolution → H×W uint8 0/255.

    ``gray`` H×W uint8 luminance of the scan; ``work_mask`` h×w uint8 0/1 found on its working
    image; ``background`` h×w float32 from ``picture_without_marks``. Kept: the scan pixels inside
    ``work_mask`` that differ from the interpolated background by at least ``_VISIBLE_GRAY``,
    grown by ``cover_px`` to cover the marks' soft edges. A larger
    ``work_mask`` never gives a smaller result.
    """
    h, w = gray.shape
    wh, ww = work_mask.shape
    region = work_mask * np.uint8(255)
    inside = np.flatnonzero(np.asarray(Image.fromarray(region).resize((w, h), Image.NEAREST)))
    rows, cols = np.divmod(inside, w)
    # Pixel centres of the scan in working-image coordinates, for a bilinear look-up.
    at = [(rows + 0.5) * (wh / h) - 0.5, (cols + 0.5) * (ww / w) - 0.5]
    around = ndimage.map_coordinates(background, at, order=1, mode="nearest")
    differs = np.abs(gray.ravel()[inside].astype(np.float32) - around) >= _VISIBLE_GRAY
    out = np.zeros((h, w), np.uint8)
    out.ravel()[inside[differs]] = 255
    return grow_mask(out, cover_px)
