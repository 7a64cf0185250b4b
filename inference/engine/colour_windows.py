"""Colourising a big scan window by window, the way inpainting works on one.

One pass at the model's pixel budget sees the whole photo and decides what is sky, skin and cloth;
on a scan many times that size its colour is too coarse for small things (the faces of a group
photo, a hand, a window frame). So a scan whose long side is over ``WINDOWS_FROM`` × the budget
side is coloured in two stages:

1. the whole photo at the budget (``colour_whole``), its chroma put onto the luminance of a working
   copy of the scan at ``WINDOWS_FROM`` × the budget;
2. that working copy regenerated window by window at the budget (overlapping tiles, cross-faded,
   ``inference.restoration_models.detail``) at ``WINDOW_STRENGTH_SHARE`` of the request's strength,
   so each window refines the colour of what it shows and keeps the whole pass's decisions.

The chroma of the result then goes onto the scan's own full-resolution luminance, as for a small
photo (``inference.restore.chroma``): every detail and tone stays the scan's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
from PIL import Image

from inference.restoration_models.detail import add_detail_in_tiles, plan_detail_tiles
from inference.restore.chroma import transfer_chroma
from inference.restore.tone_match import luminance

WINDOWS_FROM = 2.0
WINDOW_STRENGTH_SHARE = 0.6

Box = tuple[int, int, int, int]


def colour_work_size(request, budget: int) -> tuple[int, int] | None:
    """The working size (w, h) a colourise ``request`` is refined at window by window, or None
    when the picture is small enough for one pass."""
    if not request.colorize or request.luminance is None or request.image is None or request.detail:
        return None
    height, width = np.asarray(request.image).shape[:2]
    if max(width, height) <= WINDOWS_FROM * budget:
        return None
    scale = WINDOWS_FROM * budget / max(width, height)
    return max(8, round(width * scale)), max(8, round(height * scale))


def window_request(request):
    """The request each window runs: the same prompt and seed, at a share of the strength."""
    return dataclasses.replace(request, strength=max(0.05, request.strength * WINDOW_STRENGTH_SHARE))


def plan_colour_windows(work: tuple[int, int], budget: int) -> list[Box]:
    """Windows of the budget's side over the working picture, overlapping by a quarter of it (64 px
    at a 512-px budget, as Add detail's tiles)."""
    return plan_detail_tiles(work[0], work[1], budget, overlap=min(64, budget // 4))


def colorize_in_windows(request, work: tuple[int, int], windows: list[Box],
                        colour_whole: Callable[[np.ndarray], np.ndarray],
                        generate: Callable, check_cancel: Callable[[], None]) -> np.ndarray:
    """The scan (``request.image``) coloured: ``colour_whole(work_image)`` → the whole pass's
    colour (any size); ``generate(pil, seed, box)`` → one window regenerated (box in working px).
    Returns H×W×3 uint8 on the scan's own luminance (``request.luminance``)."""
    work_w, work_h = work
    scan = Image.fromarray(np.ascontiguousarray(np.asarray(request.image)[..., :3]))
    work_image = np.asarray(scan.resize((work_w, work_h), Image.LANCZOS))
    whole = colour_whole(work_image)
    check_cancel()
    start = transfer_chroma(luminance(work_image), whole)
    refined = add_detail_in_tiles(start, windows, generate, check_cancel, request.seed)
    return transfer_chroma(request.luminance, refined)


def to_picture_box(box: Box, work: tuple[int, int], size: tuple[int, int]) -> Box:
    """A window's box in working px → the same area in the scan's px (for previews drawn in place)."""
    sx, sy = size[0] / work[0], size[1] / work[1]
    x, y, w, h = box
    return round(x * sx), round(y * sy), round(w * sx), round(h * sy)
