"""Does a thin mark run along the picture's own structure? Then it is the picture, not damage.

A thin highlight on a rim, the outline of a badge or a band of a ring lie on an edge of the
picture, or among edges parallel to them; a scratch crosses the picture's structure, or lies
on plain ground. ``inference.restore.damage`` asks this of every pixel of a scratch-like component.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy import ndimage

from inference.restore.mask_ops import dilate, disc_kernel

_EDGE_ALIGNED = 0.64  # cos 2Δθ: the picture's structure within ±25° of the mark's direction …
_EDGE_GRAY_PER_PX = 3.0  # … with a gradient of at least this along its main axis, around the mark
_EDGE_REACH_PX = 6.0  # σ of the neighbourhood the picture's structure is taken from
_EDGE_SIDE_PX = 3  # a step across a mark is measured this far to each side of it
_EDGE_STEP = 0.5  # … and must reach this × the mark's own contrast
_EDGE_MARK_GRAY = 10  # residuals above this may be marks: left out of the picture's structure
_EDGE_GAP_PX = 3  # … with this much around them: a mark's own soft flanks are not the picture


def _doubled_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Structure tensors [[a, b], [b, c]] (arrays alike) → (cos 2θ, sin 2θ of the main axis, √ of
    its eigenvalue: the gradient along that axis, in gray levels per px)."""
    spread = np.maximum(np.hypot(a - c, 2 * b), 1e-6)
    return (a - c) / spread, 2 * b / spread, np.sqrt(np.maximum(0.5 * (a + c + spread), 0))


def edge_tests(gray: np.ndarray, residuals: list[np.ndarray], background: np.ndarray) -> list[Callable[[np.ndarray], np.ndarray]]:
    """One test per residual (H×W uint8 each) of flat pixel indices → bool: does the picture
    run along the mark there? A thin highlight on a rim, the outline of a badge or a band of a
    ring lie on an edge or among edges parallel to them; a scratch crosses the picture's
    structure, or lies on plain ground.

    Along means either of: the picture without thin marks (``background``, H×W uint8) steps
    across the mark, by ``_EDGE_STEP`` × its residual and at least
    ``_EDGE_GRAY_PER_PX`` × 2 × ``_EDGE_SIDE_PX`` gray levels (its gradient, σ 1.5 px, across the
    mark); or the structure around it, the tensor of the picture's gradient (σ 1 px) averaged
    over ``_EDGE_REACH_PX`` (Gaussian σ) leaving out every pixel of any possible mark and
    ``_EDGE_GAP_PX`` around it (so a mark does not find itself), runs parallel to the mark with
    a gradient of ``_EDGE_GRAY_PER_PX``. The mark's direction is its residual's tensor (σ 2 px).
    """
    maps: list[np.ndarray] = []  # made on first use: spots never ask, and some scans have no scratch

    def structure() -> list[np.ndarray]:
        if not maps:
            marks = np.logical_or.reduce([r > _EDGE_MARK_GRAY for r in residuals])
            weight = (dilate(marks, disc_kernel(_EDGE_GAP_PX)) == 0).astype(np.float32)
            smooth = ndimage.gaussian_filter(gray.astype(np.float32), 1.0, truncate=2.5)
            gx, gy = ndimage.sobel(smooth, axis=1) / 8.0, ndimage.sobel(smooth, axis=0) / 8.0
            total = ndimage.gaussian_filter(weight, _EDGE_REACH_PX, truncate=2.5) + 1e-3
            maps.extend(ndimage.gaussian_filter(p * weight, _EDGE_REACH_PX, truncate=2.5) / total for p in (gx * gx, gx * gy, gy * gy))
        return maps

    def test_for(residual: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        own: list[np.ndarray] = []

        def along_edge(pixels: np.ndarray) -> np.ndarray:
            if not own:
                r = residual.astype(np.float32)
                rx, ry = ndimage.sobel(r, axis=1), ndimage.sobel(r, axis=0)
                own.extend(ndimage.gaussian_filter(p, 2.0, truncate=2.5) for p in (rx * rx, rx * ry, ry * ry))
                smooth = ndimage.gaussian_filter(background.astype(np.float32), 1.5, truncate=2.5)
                own.extend((ndimage.sobel(smooth, axis=1) / 8.0, ndimage.sobel(smooth, axis=0) / 8.0))
            cos_mark, sin_mark, _ = _doubled_angle(*(m.ravel()[pixels] for m in own[:3]))
            cos_pic, sin_pic, strength = _doubled_angle(*(m.ravel()[pixels] for m in structure()))
            parallel = cos_mark * cos_pic + sin_mark * sin_pic >= _EDGE_ALIGNED  # cos 2Δθ
            # The mark's normal from its doubled angle: half the angle, on the upper half-plane.
            nx, ny = np.sqrt(np.maximum(0.5 * (1 + cos_mark), 0)), np.copysign(np.sqrt(np.maximum(0.5 * (1 - cos_mark), 0)), sin_mark)
            gx, gy = (g.ravel()[pixels] for g in own[3:])
            step = np.abs(gx * nx + gy * ny) * (2 * _EDGE_SIDE_PX)
            steps = step >= np.maximum(2 * _EDGE_SIDE_PX * _EDGE_GRAY_PER_PX, _EDGE_STEP * residual.ravel()[pixels])
            return steps | (parallel & (strength >= _EDGE_GRAY_PER_PX))

        return along_edge

    return [test_for(r) for r in residuals]
