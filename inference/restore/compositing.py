"""Putting generated pixels back into the user's photo without touching anything else."""

from __future__ import annotations

import math

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


def feather_reach_px(feather_px: int) -> int:
    """How far past the mask edge ``feather_mask`` can give a non-zero weight, in px (an upper
    bound: the grow step's half width plus three standard deviations of the blur, plus rounding).

    A crop that keeps this much room around its mask feathers exactly as the whole image would,
    which is what lets inpainting feather inside a window instead of over a 24 MP photo.
    """
    if feather_px <= 0:
        return 0
    return feather_px // 2 + math.ceil(0.75 * feather_px) + 3


def composite_into(target: np.ndarray, generated: np.ndarray, weights: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Blend ``generated`` (h×w×3 uint8) by ``weights`` (h×w uint8) into ``target`` (H×W×3 uint8,
    modified in place) at ``box`` = (x, y, w, h) in ``target`` pixels; nothing outside the box
    is read or written, and inside it weight 0 leaves ``target`` byte for byte."""
    x, y, w, h = box
    region = target[y : y + h, x : x + w]
    region[...] = composite(region, generated, weights)


def composite(original: np.ndarray, generated: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Blend ``generated`` over ``original`` (both H×W×3 uint8) by ``weights`` (H×W uint8).

    Exact at the ends: weight 0 gives the original byte for byte, weight 255 the generated one.
    """
    w = weights.astype(np.uint32)[..., None]
    mixed = (original.astype(np.uint32) * (255 - w) + generated.astype(np.uint32) * w + 127) // 255
    return mixed.astype(np.uint8)
