"""Brush dabs as numpy coverage patches. numpy only: no Qt, so it is testable on its own.

Coordinates are image pixels as floats: pixel (row i, column j) covers [j, j+1) × [i, i+1), so
its centre is (j + 0.5, i + 0.5). A dab centred at (x, y) with radius r covers the pixels whose
centres lie within r of (x, y).
"""

from __future__ import annotations

import math

import numpy as np

# Dabs closer than this add nothing visible but cost Python time per dab (1 px brushes).
MIN_SPACING_PX = 0.25


def dab_spacing_px(radius_px: float) -> float:
    """Distance between successive dab centres along a stroke: a quarter of the radius, so the
    scallops on a hard edge stay below 1/128 of the radius (invisible), never below 0.25 px."""
    return max(radius_px / 4.0, MIN_SPACING_PX)


def dab_centers(x0_px: float, y0_px: float, x1_px: float, y1_px: float, spacing_px: float) -> np.ndarray:
    """Centres of the dabs along the segment (x0, y0) → (x1, y1), as an N×2 float64 array (x, y).

    The start point is left out (the previous segment, or the press, already stamped it) and the
    end point is always included; the gaps are equal and at most ``spacing_px``. A zero-length
    segment gives the single end point.
    """
    length_px = math.hypot(x1_px - x0_px, y1_px - y0_px)
    count = max(1, math.ceil(length_px / spacing_px))
    t = np.arange(1, count + 1, dtype=np.float64) / count
    return np.stack([x0_px + (x1_px - x0_px) * t, y0_px + (y1_px - y0_px) * t], axis=1)


def _profile(distance_px: np.ndarray, radius_px: float, hardness: float) -> np.ndarray:
    """Coverage 0..1 (float32) at ``distance_px`` from a dab centre.

    hardness 1 is an exact disc (1 inside the radius, 0 outside, no antialiasing, so a hard mask
    is exactly 0/255); below 1 the outer (1 - hardness) of the radius falls off smoothly.
    """
    if hardness >= 1.0:
        return (distance_px <= radius_px).astype(np.float32)
    inner_px = radius_px * hardness
    t = np.clip((radius_px - distance_px) / (radius_px - inner_px), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep: no visible ring at inner_px


def pixel_span(center_px: float, radius_px: float) -> tuple[int, int]:
    """First and one-past-last pixel index whose centre lies within ``radius_px`` of ``center_px``
    along one axis (may be empty, may fall outside the image: the caller clips)."""
    first = math.ceil(center_px - radius_px - 0.5)
    last = math.floor(center_px + radius_px - 0.5)
    return first, max(first, last + 1)


def segment_coverage(
    points_px: np.ndarray, radius_px: float, hardness: float
) -> tuple[int, int, np.ndarray] | None:
    """Coverage of dabs centred at ``points_px`` (N×2 float, x then y), combined with max() so
    overlapping dabs never build up beyond one dab's value.

    Returns (left_px, top_px, coverage) with coverage an h×w uint8 patch (0..255) whose top-left
    pixel is (left_px, top_px) in image pixels, or None when the dabs cover no pixel centre.
    The patch may extend outside the image; the caller clips it.
    """
    if radius_px <= 0:
        raise ValueError(f"the brush radius must be above 0 px, got {radius_px}.")
    hardness = min(max(float(hardness), 0.0), 1.0)
    spans_x = [pixel_span(x, radius_px) for x in points_px[:, 0]]
    spans_y = [pixel_span(y, radius_px) for y in points_px[:, 1]]
    left, right = min(s[0] for s in spans_x), max(s[1] for s in spans_x)
    top, bottom = min(s[0] for s in spans_y), max(s[1] for s in spans_y)
    if right <= left or bottom <= top:
        return None
    coverage = np.zeros((bottom - top, right - left), np.float32)
    for (x, y), (x0, x1), (y0, y1) in zip(points_px, spans_x, spans_y):
        if x1 <= x0 or y1 <= y0:
            continue
        # Offsets in float64 (exact for any image size), the 2-D work in float32 (2× faster).
        dx = (np.arange(x0, x1, dtype=np.float64) + 0.5 - x).astype(np.float32)
        dy = (np.arange(y0, y1, dtype=np.float64) + 0.5 - y).astype(np.float32)
        distance = np.sqrt(dy[:, None] ** 2 + dx[None, :] ** 2)
        patch = coverage[y0 - top : y1 - top, x0 - left : x1 - left]
        np.maximum(patch, _profile(distance, radius_px, hardness), out=patch)
    return left, top, np.rint(coverage * 255.0).astype(np.uint8)
