"""Pixel rules of the paint layer: painting colour over it, erasing it, filling a region and
compositing it over the photo. numpy (and OpenCV for the fill) only: no Qt.

The paint layer is H×W×4 uint8 RGBA with *straight* (not premultiplied) alpha: a pixel
(r, g, b, a) shows colour (r, g, b) at a/255 opacity over the photo. Alpha levels are 0..255
integers, so a stroke at opacity o paints alpha ``opacity_level(o)`` where the brush covers fully.
"""

from __future__ import annotations

import numpy as np

from inference.restore.compositing import composite

# Fill tolerance: a neighbour joins the filled region when each of its R, G, B values lies
# within this many levels of the clicked pixel's (OpenCV's fixed-range flood fill). Enough to
# swallow JPEG noise and soft paint edges, small enough to stop at a drawn outline.
FILL_TOLERANCE = 24


def opacity_level(opacity: float) -> int:
    """Opacity 0..1 (clamped) as the alpha level 0..255 a fully covered pixel receives."""
    return int(round(min(max(float(opacity), 0.0), 1.0) * 255))


def scaled_coverage(coverage: np.ndarray, level: int) -> np.ndarray:
    """Brush coverage (h×w uint8, 255 = fully inside the dab) scaled to ``level`` (0..255):
    exactly ``level`` where the coverage is 255, rounded in between."""
    return ((coverage.astype(np.uint32) * level + 127) // 255).astype(np.uint8)


def paint_over(before: np.ndarray, color: tuple[int, int, int], alpha: np.ndarray) -> np.ndarray:
    """``color`` (RGB 0..255) at per-pixel ``alpha`` (h×w uint8) laid over ``before`` (h×w×4
    straight RGBA) with the "over" rule; returns a new h×w×4 uint8 array.

    Exact in the cases that matter: where ``alpha`` is 0 the pixel is ``before`` byte for byte,
    and over a transparent pixel the result is exactly (color, alpha).
    """
    a = alpha.astype(np.float32)[..., None] / 255.0
    b = before[..., 3:].astype(np.float32) / 255.0
    out_a = a + b * (1.0 - a)
    weighted = np.asarray(color, np.float32) * a + before[..., :3].astype(np.float32) * b * (1.0 - a)
    out_rgb = weighted / np.maximum(out_a, 1e-6)
    out = np.concatenate([np.rint(out_rgb), np.rint(out_a * 255.0)], axis=2).astype(np.uint8)
    return np.where(alpha[..., None] > 0, out, before)


def erase_paint(before: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Lower the paint's alpha by ``alpha`` (h×w uint8; 255 removes the paint, 0 leaves it):
    new alpha = old alpha × (255 - alpha) / 255, rounded; colours stay. Returns a new array."""
    out = before.copy()
    kept = before[..., 3].astype(np.uint32) * (255 - alpha.astype(np.uint32))
    out[..., 3] = ((kept + 127) // 255).astype(np.uint8)
    return out


def alpha_bounds(paint: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) in px of the pixels with alpha above 0, or None when there are none."""
    alpha = paint[..., 3]
    rows = np.flatnonzero(alpha.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(alpha[rows[0] : rows[-1] + 1].any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def composite_paint(image: np.ndarray, paint: np.ndarray) -> np.ndarray:
    """The picture as shown: ``paint`` (H×W×4 straight RGBA) over ``image`` (H×W×3 uint8).

    Per pixel and channel: (image × (255 - a) + paint × a + 127) // 255, so alpha 0 leaves the
    photo byte for byte and alpha 255 gives the paint colour. Only the paint's bounding box is
    computed. Returns a new H×W×3 uint8 array.
    """
    out = np.array(image, copy=True, order="C")
    box = alpha_bounds(paint)
    if box is None:
        return out
    x, y, w, h = box
    region = out[y : y + h, x : x + w]
    patch = paint[y : y + h, x : x + w]
    region[...] = composite(region, patch[..., :3], patch[..., 3])
    return out


def flood_region(picture: np.ndarray, x_px: int, y_px: int, tolerance: int = FILL_TOLERANCE) -> np.ndarray:
    """The 4-connected region of ``picture`` (H×W×3 uint8) around pixel (x_px, y_px) whose
    colours lie within ``tolerance`` levels per channel of that pixel's colour, as an H×W bool
    array (all False when the point lies outside the picture)."""
    from scipy import ndimage  # loaded on the first fill: the window must not wait for it at start-up

    height, width = picture.shape[:2]
    out = np.zeros((height, width), bool)
    if not (0 <= x_px < width and 0 <= y_px < height):
        return out
    seed = picture[y_px, x_px].tolist()
    reach = 256  # px around the seed: most fills are small, so a window is searched first
    while True:
        rows = slice(max(0, y_px - reach), min(height, y_px + reach + 1))
        cols = slice(max(0, x_px - reach), min(width, x_px + reach + 1))
        # 1. Pixels whose colour is within range of the seed's, channel by channel (bytes, no overflow).
        window = picture[rows, cols]
        similar = np.ones(window.shape[:2], bool)
        for channel, level in zip(np.moveaxis(window, 2, 0), seed):
            similar &= channel >= max(0, level - tolerance)
            similar &= channel <= min(255, level + tolerance)
        # 2. The 4-connected piece of them that holds the seed.
        labels, _count = ndimage.label(similar)
        region = labels == labels[y_px - rows.start, x_px - cols.start]
        # 3. Done unless it reaches a window side inside the picture: then it may go on beyond.
        if not (
            (rows.start > 0 and region[0].any())
            or (rows.stop < height and region[-1].any())
            or (cols.start > 0 and region[:, 0].any())
            or (cols.stop < width and region[:, -1].any())
        ):
            out[rows, cols] = region
            return out
        reach *= 2
