"""Running an image model over a big picture tile by tile, in bounded memory, without seams.

The picture is cut into a grid of core tiles. Each tile is run with ``pad`` pixels of real
surroundings on every side (so the model sees context across the seam), the padding is cut away
again, and the tile's result is written into the output with a ``blend``-pixel linear cross-fade
over the results already there (above and to the left). A model that only looks ``pad`` pixels
around a pixel therefore gives exactly the untiled result; any model gives no visible seam.

Memory: the output (uint8, the result itself) plus one tile's tensors; no full-size float copy is
made. ``on_tile(index, total, box, rgb)`` reports each finished tile (box in input pixels: the area
``rgb``, the tile's result, covers — its core and the seam bands it wrote), ``check_cancel()`` is called before each tile and raises to stop.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Box = tuple[int, int, int, int]


def tile_grid(width: int, height: int, tile: int) -> list[Box]:
    """Core tiles (x, y, w, h) covering the picture, row by row; edge tiles may be smaller."""
    return [(x, y, min(tile, width - x), min(tile, height - y))
            for y in range(0, height, tile) for x in range(0, width, tile)]


def run_tiled(model: Callable, image: np.ndarray, scale: int, tile: int = 256, pad: int = 24, blend: int = 16,
              on_tile: Callable | None = None, check_cancel: Callable[[], None] | None = None,
              dtype=None, device: str = "cpu") -> np.ndarray:
    """``model`` (NCHW float 0..1 tensor → NCHW at ``scale``×) over ``image`` (H×W×3 uint8)."""
    import torch

    height, width = image.shape[:2]
    out = np.empty((height * scale, width * scale, 3), np.uint8)
    blend = min(blend, 2 * pad)  # the cross-fade must lie inside what both tiles computed with context
    half = blend // 2
    tiles = tile_grid(width, height, tile)
    for index, (x, y, w, h) in enumerate(tiles):
        if check_cancel is not None:
            check_cancel()
        # 1. The core tile plus its context, clamped to the picture
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(width, x + w + pad), min(height, y + h + pad)
        crop = torch.from_numpy(np.array(image[y0:y1, x0:x1])).to(device)
        crop = crop.permute(2, 0, 1).unsqueeze(0).to(dtype or torch.float32) / 255.0
        with torch.inference_mode():
            result = model(crop)
        result = (result.clamp(0, 1) * 255.0).round().to(torch.uint8)[0].permute(1, 2, 0).cpu().numpy()
        # 2. What this tile writes: its core, reaching ``half`` px past each seam it shares
        wx0, wy0 = (x - half if x > 0 else 0), (y - half if y > 0 else 0)
        wx1, wy1 = min(width, x + w + half), min(height, y + h + half)
        piece = result[(wy0 - y0) * scale:(wy1 - y0) * scale, (wx0 - x0) * scale:(wx1 - x0) * scale]
        # 3. Cross-fade over what the tiles above and to the left already wrote (only those bands)
        target = out[wy0 * scale:wy1 * scale, wx0 * scale:wx1 * scale]
        _write_blended(target, piece, blend * scale if x > 0 else 0, blend * scale if y > 0 else 0)
        if on_tile is not None:  # the piece covers its core and the seam bands: say exactly where
            on_tile(index, len(tiles), (wx0, wy0, wx1 - wx0, wy1 - wy0), piece)
    return out


def _write_blended(target: np.ndarray, piece: np.ndarray, ramp_x: int, ramp_y: int) -> None:
    """Write ``piece`` over ``target`` (same shape), fading in over the first ``ramp_x`` columns
    and ``ramp_y`` rows (the bands earlier tiles wrote); elsewhere a plain copy."""
    ramp_x, ramp_y = min(ramp_x, piece.shape[1]), min(ramp_y, piece.shape[0])
    old_top = target[:ramp_y].astype(np.float32) if ramp_y else None
    old_left = target[ramp_y:, :ramp_x].astype(np.float32) if ramp_x else None
    target[...] = piece
    wx = _fade(piece.shape[1], ramp_x)
    if ramp_y:
        weight = (_fade(piece.shape[0], ramp_y)[:ramp_y, None] * wx[None, :])[..., None]
        mixed = old_top * (1 - weight) + piece[:ramp_y].astype(np.float32) * weight
        target[:ramp_y] = np.round(mixed).astype(np.uint8)
    if ramp_x:
        weight = wx[None, :ramp_x, None]
        mixed = old_left * (1 - weight) + piece[ramp_y:, :ramp_x].astype(np.float32) * weight
        target[ramp_y:, :ramp_x] = np.round(mixed).astype(np.uint8)


def _fade(length: int, ramp: int) -> np.ndarray:
    """Weights along one side of a tile: 0→1 over the first ``ramp`` px, then 1."""
    weight = np.ones(length, np.float32)
    if ramp > 0:
        ramp = min(ramp, length)
        weight[:ramp] = (np.arange(ramp, dtype=np.float32) + 0.5) / ramp
    return weight
