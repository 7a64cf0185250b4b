"""Outpainting's pixels: the layers of a canvas extended on any side, the new area ready for Generate.

Extending is one undoable edit of every layer (``Document.resize_layers``):
  image: the old picture at its new offset, byte for byte; the new strips pre-filled with the
         picture mirrored outward, blurring with distance (``prefill``), so the model starts
         from the right colours rather than a flat fill (which it would keep) or noise.
  mask:  255 in the new strips, ramping from 255 down to 0 over ``SEAM_PX`` inside the old
         picture along each extended side, so the generated strip blends into it; the old
         mask is kept (the larger value wins).
  paint: the old paint at its new offset; the new strips transparent.
With a mask and a picture, the mode becomes Inpaint: Generate fills the new area.
"""

from __future__ import annotations

import numpy as np

SEAM_PX = 32  # how far inside the old picture the mask fades out: a few tens of px hide the seam
QUICK_FRACTION = 0.25  # the quick actions extend one side by a quarter of the picture
SIDES = ("left", "top", "right", "bottom")


def seam_mask(height_px: int, width_px: int, left: int, top: int, right: int, bottom: int,
              seam_px: int = SEAM_PX) -> np.ndarray:
    """The H×W uint8 mask of a canvas extended by (left, top, right, bottom) px to
    ``height_px`` × ``width_px``: 255 in the new strips; inside the old picture, at distance t
    px (pixel centre) from an extended side, round(255 × (1 - t / seam_px)), 0 from ``seam_px``
    on (the larger value where two sides' ramps meet)."""

    def axis_ramp(size_px: int, before_px: int, after_px: int) -> np.ndarray:
        centre = np.arange(size_px, dtype=np.float64) + 0.5
        ramp = np.zeros(size_px)
        inner = (centre > before_px) & (centre < size_px - after_px)
        ramp[~inner] = 1.0
        if before_px:
            ramp = np.maximum(ramp, np.clip(1.0 - (centre - before_px) / seam_px, 0.0, 1.0) * inner)
        if after_px:
            ramp = np.maximum(ramp, np.clip(1.0 - (size_px - after_px - centre) / seam_px, 0.0, 1.0) * inner)
        return ramp

    rows, cols = axis_ramp(height_px, top, bottom), axis_ramp(width_px, left, right)
    return np.rint(np.maximum.outer(rows, cols) * 255.0).astype(np.uint8)


def prefill(image: np.ndarray, left: int, top: int, right: int, bottom: int) -> np.ndarray:
    """``image`` (H×W×3 uint8) extended by the given px per side, the old pixels unchanged at
    offset (left, top). The new strips hold the picture mirrored outward: sharp next to the
    old edge, so edges and colours carry on across the seam, and blurring into soft colour
    further out, where mirrored detail would only mislead the model. A new array."""
    mirrored = np.pad(image, ((top, bottom), (left, right), (0, 0)), mode="symmetric")  # edge pixel repeated
    widest_px = max(left, top, right, bottom)
    blurred = _blur(mirrored, sigma_px=max(4.0, widest_px / 4))
    # Weight of the blurred copy: 0 at the old picture's edge, 1 from half the widest strip on.
    height, width = image.shape[:2]
    rows, cols = np.arange(mirrored.shape[0]), np.arange(mirrored.shape[1])
    out_y = np.maximum(np.maximum(top - rows, rows - (top + height - 1)), 0)
    out_x = np.maximum(np.maximum(left - cols, cols - (left + width - 1)), 0)
    weight = np.clip(np.maximum.outer(out_y, out_x) / max(1.0, widest_px / 2), 0.0, 1.0)[..., None]
    out = np.rint(mirrored * (1.0 - weight) + blurred * weight).astype(np.uint8)
    out[top : top + height, left : left + width] = image
    return out


def _blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian blur of ``image`` (H×W×3 uint8) → H×W×3 uint8. Large blurs run on a shrunken copy
    (sigma 4 px there), which looks the same and costs a fraction on big pictures."""
    from PIL import Image
    from scipy import ndimage  # loaded when first needed: the window must not wait for it at start-up

    def gaussian(rgb: np.ndarray, sigma: float) -> np.ndarray:
        blurred = ndimage.gaussian_filter(rgb.astype(np.float32), (sigma, sigma, 0), mode="mirror", truncate=3.0)
        return np.clip(np.rint(blurred), 0, 255).astype(np.uint8)

    scale = min(1.0, 4.0 / sigma_px)
    if scale == 1.0:
        return gaussian(image, sigma_px)
    height, width = image.shape[:2]
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = np.asarray(Image.fromarray(image).resize(small_size, Image.BOX))  # area average
    return np.asarray(Image.fromarray(gaussian(small, 4.0)).resize((width, height), Image.BILINEAR))


def extend_layers(image: np.ndarray, mask: np.ndarray, paint: np.ndarray, left: int, top: int, right: int,
                  bottom: int, seam_px: int = SEAM_PX) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three layers of the extended canvas (see the module docstring): image H'×W'×3,
    mask H'×W', paint H'×W'×4, all uint8 and new; H' = H + top + bottom, W' = W + left + right."""
    height, width = mask.shape
    new_h, new_w = height + top + bottom, width + left + right
    new_mask = seam_mask(new_h, new_w, left, top, right, bottom, seam_px)
    old = (slice(top, top + height), slice(left, left + width))
    np.maximum(new_mask[old], mask, out=new_mask[old])
    new_paint = np.zeros((new_h, new_w, 4), np.uint8)
    new_paint[old] = paint
    return prefill(image, left, top, right, bottom), new_mask, new_paint
