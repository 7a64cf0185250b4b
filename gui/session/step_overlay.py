"""Step previews shaped for the canvas: for inpainting, only the masked area, in place."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect

from inference.core.api import GenerationRequest, Mode, StepPreview

MAX_OVERLAY_SIDE_PX = 768  # previews are approximations: more pixels only cost time per step


def mask_box(mask: np.ndarray, margin_px: int = 0) -> QRect:
    """Bounding box (image px) of the mask's nonzero pixels grown by ``margin_px``; empty if none."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return QRect()
    height, width = mask.shape
    x0, y0 = max(0, int(cols[0]) - margin_px), max(0, int(rows[0]) - margin_px)
    x1, y1 = min(width, int(cols[-1]) + 1 + margin_px), min(height, int(rows[-1]) + 1 + margin_px)
    return QRect(x0, y0, x1 - x0, y1 - y0)


def masked_preview(preview: np.ndarray, mask: np.ndarray, box: QRect, covers: QRect | None = None) -> np.ndarray:
    """The part of ``preview`` (h×w×3 uint8, any resolution) that falls in ``box``, as
    h'×w'×4 RGBA with the mask as alpha, at most ``MAX_OVERLAY_SIDE_PX`` on its long side.

    mask: H×W uint8 at the photo's size; box: a non-empty QRect inside the photo and inside
    ``covers``, the photo region the preview shows (None = the whole photo).
    """
    height, width = mask.shape
    covers = covers if covers is not None else QRect(0, 0, width, height)
    scale = min(1.0, MAX_OVERLAY_SIDE_PX / max(box.width(), box.height()))
    size = (max(1, round(box.width() * scale)), max(1, round(box.height() * scale)))
    sx, sy = preview.shape[1] / covers.width(), preview.shape[0] / covers.height()
    x0, y0 = box.left() - covers.left(), box.top() - covers.top()
    source = (x0 * sx, y0 * sy, (x0 + box.width()) * sx, (y0 + box.height()) * sy)
    rgb = Image.fromarray(preview).resize(size, Image.BILINEAR, box=source)
    crop = mask[box.top(): box.top() + box.height(), box.left(): box.left() + box.width()]
    alpha = Image.fromarray(np.ascontiguousarray(crop)).resize(size, Image.BILINEAR)
    rgb.putalpha(alpha)
    return np.asarray(rgb)


def step_overlay(request: GenerationRequest, preview: StepPreview) -> tuple[np.ndarray, QRect] | None:
    """What the canvas draws for ``preview`` of ``request``'s job, as ``CanvasView.show_preview``
    takes it: (pixels, target rect in image px; empty = the whole picture). Inpainting shows only
    the masked area inside the preview's box (h×w×4, the mask as alpha). None: nothing to draw
    (no preview at that step, or no mask inside its box)."""
    if preview.rgb is None:
        return None
    covers = QRect(*preview.box) if preview.box else QRect()
    if request.mode is not Mode.INPAINT:
        return preview.rgb, covers
    region = covers if preview.box else QRect(0, 0, request.width_px, request.height_px)
    crop = request.mask[region.top(): region.top() + region.height(), region.left(): region.left() + region.width()]
    box = mask_box(crop).translated(region.topLeft())
    if box.isEmpty():
        return None
    return masked_preview(preview.rgb, request.mask, box, region), box
