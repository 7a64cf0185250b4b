"""Growing and shrinking masks by an exact Euclidean radius, fast on full-size scans.

Masks are H×W uint8 where nonzero means "masked". Both operations return a binary 0/255 mask
of the same shape. Growing by ``radius_px`` adds every pixel whose centre lies within
``radius_px`` of a masked pixel's centre (dilation by the disc x² + y² ≤ r²); shrinking keeps
only the pixels whose whole disc is masked (erosion by the same disc). Pixels beyond the image
border count as masked for shrinking, so a mask touching the frame is not eaten from the edge.

Only the bounding box of the masked pixels plus a margin of ``radius_px`` is processed, so a
few strokes on a 24-megapixel scan cost milliseconds.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Above this radius a disc kernel costs O(r²) per pixel in cv2.dilate/erode; a precise
# Euclidean distance transform costs the same at any radius, so it wins for big radii.
_KERNEL_RADIUS_LIMIT_PX = 24


def disc_kernel(radius_px: float) -> np.ndarray:
    """The (2⌊r⌋+1)×(2⌊r⌋+1) uint8 structuring element of 1s where x² + y² ≤ r²."""
    reach = int(math.floor(radius_px))
    yy, xx = np.mgrid[-reach : reach + 1, -reach : reach + 1]
    return (xx * xx + yy * yy <= radius_px * radius_px).astype(np.uint8)


def _check(mask: np.ndarray, radius_px: float) -> None:
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.uint8:
        got = f"{mask.dtype} array of shape {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"mask must be an H×W uint8 array, got {got}.")
    if not (isinstance(radius_px, (int, float, np.integer, np.floating)) and math.isfinite(radius_px) and radius_px >= 0):
        raise ValueError(f"radius_px must be a finite number ≥ 0, got {radius_px!r}.")


def _binary(mask: np.ndarray) -> np.ndarray:
    return np.where(mask != 0, np.uint8(255), np.uint8(0))


def _box(mask: np.ndarray, margin_px: int) -> tuple[slice, slice] | None:
    """Rows/cols of the nonzero pixels' bounding box widened by ``margin_px``, or None if empty."""
    x, y, w, h = cv2.boundingRect(mask)  # treats nonzero pixels as the point set
    if w == 0 or h == 0:
        return None
    rows, cols = mask.shape
    return (
        slice(max(0, y - margin_px), min(rows, y + h + margin_px)),
        slice(max(0, x - margin_px), min(cols, x + w + margin_px)),
    )


def _crop_for(mask: np.ndarray, radius_px: float):
    """Shared start of grow and shrink: (output, reach in whole px, box or None, crop)."""
    _check(mask, radius_px)
    reach = int(math.floor(radius_px))
    box = _box(mask, reach)
    return np.zeros_like(mask), reach, box, (mask[box] if box is not None else None)


def grow_mask(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Dilate H×W uint8 ``mask`` by a disc of ``radius_px`` → new H×W uint8 mask (0/255).

    ``radius_px`` may be fractional; 0 just binarises. Raises ``ValueError`` for a bad mask or radius.
    """
    out, reach, box, crop = _crop_for(mask, radius_px)
    if box is None:
        return out
    if reach == 0:
        out[box] = _binary(crop)
    elif reach <= _KERNEL_RADIUS_LIMIT_PX:
        # cv2.dilate ignores pixels outside the crop; the margin holds everything it can reach.
        out[box] = cv2.dilate(_binary(crop), disc_kernel(radius_px))
    else:
        # Distance (in px, exact Euclidean) from every pixel to the nearest masked one.
        distance = cv2.distanceTransform(np.where(crop != 0, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        out[box] = np.where(distance <= radius_px + 1e-4, np.uint8(255), np.uint8(0))
    return out


def shrink_mask(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Erode H×W uint8 ``mask`` by a disc of ``radius_px`` → new H×W uint8 mask (0/255).

    A pixel survives only if every pixel within ``radius_px`` of it is masked or lies beyond
    the image border. Raises ``ValueError`` for a bad mask or radius.
    """
    # The margin brings the unmasked pixels around the box into the crop; where the crop
    # meets the image edge, cv2.erode's default border counts as masked, as promised above.
    out, reach, box, crop = _crop_for(mask, radius_px)
    if box is None:
        return out
    if reach == 0:
        out[box] = _binary(crop)
    elif reach <= _KERNEL_RADIUS_LIMIT_PX:
        out[box] = cv2.erode(_binary(crop), disc_kernel(radius_px))
    else:
        # Survivors have no unmasked pixel within radius_px. Padding with "masked" keeps the
        # frame edge from counting as unmasked; inside the image the margin's zeros are nearer
        # than any unmasked pixel beyond the crop, so the crop gives the full-image answer.
        padded = cv2.copyMakeBorder(_binary(crop), reach, reach, reach, reach, cv2.BORDER_CONSTANT, value=255)
        distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        kept = np.where(distance > radius_px + 1e-4, np.uint8(255), np.uint8(0))
        out[box] = kept[reach : reach + crop.shape[0], reach : reach + crop.shape[1]]
    return out
