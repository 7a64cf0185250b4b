"""What a restoration changed, for archives: a map of the pixels that differ from the scan."""

from __future__ import annotations

import numpy as np


def changed_pixels_map(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """H×W uint8: 255 where ``after`` differs from ``before`` in any channel, else 0.

    before, after: H×W×3 uint8 of the same size. Raises ValueError when the sizes differ.
    """
    if before.shape != after.shape:
        raise ValueError(f"cannot compare a {before.shape} image with a {after.shape} one.")
    return np.where(np.any(before != after, axis=2), 255, 0).astype(np.uint8)


def changed_fraction(before: np.ndarray, after: np.ndarray) -> float:
    """Share of pixels (0–1) that differ."""
    return float(np.any(before != after, axis=2).mean())
