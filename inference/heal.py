"""Heal: classical inpainting of small damage (scratches, dust, spots) with no model at all.

OpenCV's ``cv2.inpaint`` fills each masked pixel from the known pixels around it (Telea's fast
marching method, or Navier–Stokes). It is run only on crops around the masked pixels, never on
the whole scan, so a 24-megapixel photo with a few scratches heals in a fraction of a second,
and the result is pasted back so that every unmasked pixel is exactly the input byte.
"""

from __future__ import annotations

import cv2
import numpy as np

METHODS = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}

# The mask is grouped on a grid of blocks: masked pixels in touching blocks form one group.
_BLOCK_PX = 32
# A group whose bounding box is mostly empty (a long diagonal scratch) is healed tile by tile
# instead, when the box is larger than this many blocks: inpaint pays per pixel of its crop.
_SPARSE_BOX_BLOCKS = 64
_SPARSE_FILL = 0.25
# Tiles are this many blocks square: the masked pixels in a tile's margin are filled again by
# its neighbours, so small tiles would inpaint the same scratch several times over.
_TILE_BLOCKS = 8
# cv2.inpaint's time: about 20 ns per pixel of its input plus some µs per masked pixel.
_MASKED_PX_COST = 300


def _check(image: np.ndarray, mask: np.ndarray, method: str, radius_px: float) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an H×W×3 uint8 array, got {got}.")
    if not isinstance(mask, np.ndarray) or mask.shape != image.shape[:2] or mask.dtype != np.uint8:
        got = f"{mask.dtype} array of shape {mask.shape}" if isinstance(mask, np.ndarray) else type(mask).__name__
        raise ValueError(f"mask must be an H×W uint8 array matching the image's {image.shape[0]}×{image.shape[1]}, got {got}.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(repr(m) for m in METHODS)}, got {method!r}.")
    if not (isinstance(radius_px, (int, float, np.integer, np.floating)) and 1 <= radius_px <= 64):
        raise ValueError(f"radius_px must be a number from 1 to 64, got {radius_px!r}.")


def _crops(mask: np.ndarray, margin_px: int) -> list[tuple[slice, slice, slice, slice]]:
    """Crops covering every masked pixel: (rows, cols) of the crop and (rows, cols) of its core.

    The core is the part whose results are pasted back; the crop adds ``margin_px`` of context.
    """
    h, w = mask.shape
    b = _BLOCK_PX
    # 1. Masked pixels per block (padded to whole blocks), and a summed-area table of them.
    padded = np.zeros((-(-h // b) * b, -(-w // b) * b), bool)
    padded[:h, :w] = mask != 0
    counts = padded.reshape(padded.shape[0] // b, b, padded.shape[1] // b, b).sum(axis=(1, 3))
    table = np.zeros((counts.shape[0] + 1, counts.shape[1] + 1), np.int64)
    table[1:, 1:] = counts.cumsum(0).cumsum(1)
    # 2. Touching occupied blocks (8-connected) form a group.
    count, labels, stats, _ = cv2.connectedComponentsWithStats((counts > 0).astype(np.uint8), connectivity=8)
    crops, cost = [], 0.0

    def add(r0: int, c0: int, r1: int, c1: int) -> None:  # block indices, end exclusive
        nonlocal cost
        core = (slice(r0 * b, min(h, r1 * b)), slice(c0 * b, min(w, c1 * b)))
        rows = slice(max(0, r0 * b - margin_px), min(h, r1 * b + margin_px))
        cols = slice(max(0, c0 * b - margin_px), min(w, c1 * b + margin_px))
        crops.append((rows, cols, *core))
        # Masked pixels in the margin are filled again here, so count the blocks it touches.
        br0, br1 = rows.start // b, -(-rows.stop // b)
        bc0, bc1 = cols.start // b, -(-cols.stop // b)
        masked = table[br1, bc1] - table[br0, bc1] - table[br1, bc0] + table[br0, bc0]
        cost += (rows.stop - rows.start) * (cols.stop - cols.start) + _MASKED_PX_COST * masked

    for label in range(1, count):
        x, y, bw, bh, blocks = stats[label]
        # 3. A compact group is one crop; a sparse, large one (a long diagonal) is cut into tiles,
        # each with the margin as context, so the crop area follows the scratch, not its box.
        if bw * bh > _SPARSE_BOX_BLOCKS and blocks < _SPARSE_FILL * bw * bh:
            t = _TILE_BLOCKS
            mine = labels[y : y + bh, x : x + bw] == label
            for r in range(0, bh, t):
                for c in range(0, bw, t):
                    if mine[r : r + t, c : c + t].any():
                        add(y + r, x + c, y + min(r + t, bh), x + min(c + t, bw))
        else:
            add(y, x, y + bh, x + bw)
    # 4. Where the crops overlap so much that redoing masked pixels costs more than one crop
    # around everything (damage all over a small photo), take that one crop instead.
    if len(crops) > 1:
        r0, c0 = min(c[0].start for c in crops), min(c[1].start for c in crops)
        r1, c1 = max(c[0].stop for c in crops), max(c[1].stop for c in crops)
        if (r1 - r0) * (c1 - c0) + _MASKED_PX_COST * int(table[-1, -1]) < cost:
            everything = (slice(r0, r1), slice(c0, c1))
            return [(*everything, *everything)]
    return crops


def heal(image: np.ndarray, mask: np.ndarray, method: str = "ns", radius_px: float = 5) -> np.ndarray:
    """Fill the masked pixels of ``image`` from their surroundings → new H×W×3 uint8 image.

    ``image`` is H×W×3 uint8 RGB; ``mask`` is H×W uint8, nonzero = heal. ``method`` is
    ``"ns"`` (Navier–Stokes; the default: 20% less error than a blur fill on the restoration
    bench, against 11% for Telea at the same speed) or ``"telea"`` (fast marching). ``radius_px`` (1–64)
    is the neighbourhood each filled pixel is estimated from. Guarantees: every pixel where
    ``mask == 0`` is bit-identical to ``image``; a crop whose unmasked pixels are gray (R==G==B)
    is healed gray. Inputs are not modified. Raises ``ValueError`` for bad arguments.

    Time grows with the masked pixels (roughly 5–15 µs each), hardly with the image size.
    Masked pixels spread thinly over a large frame (a long diagonal scratch) are healed per
    256-px tile with ``radius_px + 8`` px of context: exact enough for scratches and dust, but a
    blob wider than ~16 px lying on a tile edge may show a seam there.
    """
    # 1. Check inputs; nothing masked means nothing to do.
    _check(image, mask, method, radius_px)
    out = image.copy()
    binary = np.where(mask != 0, np.uint8(255), np.uint8(0))
    if not binary.any():
        return out
    flag = METHODS[method]
    # Both methods estimate a pixel from others within radius_px; the extra 8 px hold the rest
    # of a scratch's width, so tiles of one scratch fill its pixels as the whole image would.
    margin_px = int(np.ceil(radius_px)) + 8
    # 2. Inpaint each crop from the untouched input; paste back only masked pixels of its core.
    for rows, cols, core_rows, core_cols in _crops(binary, margin_px):
        crop_image, crop_mask = image[rows, cols], binary[rows, cols]
        known = crop_mask == 0
        gray = np.array_equal(crop_image[..., 0][known], crop_image[..., 1][known]) and np.array_equal(
            crop_image[..., 0][known], crop_image[..., 2][known]
        )
        if gray:  # one channel is 3× faster and keeps R==G==B exactly
            filled = cv2.inpaint(np.ascontiguousarray(crop_image[..., 0]), crop_mask, float(radius_px), flag)
            filled = np.repeat(filled[..., None], 3, axis=2)
        else:
            filled = cv2.inpaint(np.ascontiguousarray(crop_image), crop_mask, float(radius_px), flag)
        # 3. Core of this crop in crop coordinates; write only where the mask is set.
        r0, c0 = core_rows.start - rows.start, core_cols.start - cols.start
        r1, c1 = r0 + core_rows.stop - core_rows.start, c0 + core_cols.stop - core_cols.start
        core_mask = crop_mask[r0:r1, c0:c1] != 0
        out[core_rows, core_cols][core_mask] = filled[r0:r1, c0:c1][core_mask]
    return out
