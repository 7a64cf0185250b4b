"""Putting generated pixels back into the user's photo without touching anything else."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter


def feather_mask(mask: np.ndarray, feather_px: int) -> np.ndarray:
    """H×W uint8 mask → H×W uint8 blend weights that fade out ``feather_px`` past the edge.

    Inside the mask the weight stays as painted (255 stays 255), so the generated pixels are
    used unchanged there; outward it falls to exactly 0 within about 1.1 × ``feather_px``.
    """
    if feather_px <= 0:
        return mask.copy()
    # Grow first so the fade happens outside the painted area, then soften the edge.
    grown = Image.fromarray(mask).filter(ImageFilter.MaxFilter(2 * (feather_px // 2) + 1))
    soft = np.asarray(grown.filter(ImageFilter.GaussianBlur(feather_px / 4)))
    return np.maximum(soft, mask)


def composite(original: np.ndarray, generated: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Blend ``generated`` over ``original`` (both H×W×3 uint8) by ``weights`` (H×W uint8).

    Exact at the ends: weight 0 gives the original byte for byte, weight 255 the generated one.
    """
    w = weights.astype(np.uint32)[..., None]
    mixed = (original.astype(np.uint32) * (255 - w) + generated.astype(np.uint32) * w + 127) // 255
    return mixed.astype(np.uint8)
