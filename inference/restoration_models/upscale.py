"""Enlarging a photo with a super-resolution model: tiled, bounded in memory, grayscale kept gray.

``upscale_image`` runs the model at its native scale tile by tile (``inference.restoration_models.
tiling``); another whole factor is the model's result resampled with Lanczos per tile (context
included, so the seams still blend). The size is checked before any work starts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from inference.core.errors import InvalidRequest
from inference.restoration_models.model_file import RestorationModel, require_kind

FACTORS = (2, 3, 4)
MAX_OUTPUT_MEGAPIXELS = 200  # 600 MB of 8-bit RGB: what a desktop can hold, edit and save
DEFAULT_TILE = 512  # input px; with 24 px of context each side, 20% more work than untiled
CPU_TILE = 256  # on a CPU a full-size model takes minutes per 512-px tile: smaller ones keep progress moving


def tile_for(device: str) -> int:
    """The core tile side for ``device``: smaller on a CPU, so progress and ETA move (41% more work
    than untiled instead of 20%, for a tile every few seconds to minutes instead of four times that)."""
    return min(DEFAULT_TILE, CPU_TILE) if device == "cpu" else DEFAULT_TILE


def check_upscale_size(width: int, height: int, factor: int) -> None:
    """Refuse a factor Kiln does not offer or a result too large, before any work (InvalidRequest)."""
    if factor not in FACTORS:
        raise InvalidRequest(f"upscale by ×{factor} is not offered: choose ×2, ×3 or ×4.")
    megapixels = width * factor * height * factor / 1e6
    if megapixels > MAX_OUTPUT_MEGAPIXELS:
        raise InvalidRequest(
            f"×{factor} of {width}×{height} is {megapixels:.0f} megapixels; Kiln enlarges up to "
            f"{MAX_OUTPUT_MEGAPIXELS} megapixels. Choose a smaller factor.")


def upscale_image(model: RestorationModel, image: np.ndarray, factor: int, tile: int = DEFAULT_TILE,
                  on_tile: Callable | None = None, check_cancel: Callable[[], None] | None = None,
                  device: str = "cpu", dtype=None) -> np.ndarray:
    """``image`` (H×W×3 uint8) enlarged ``factor``× → (H·f)×(W·f)×3 uint8, a new array."""
    from inference.restoration_models.tiling import run_tiled
    from inference.restore.tone_match import is_grayscale

    require_kind(model, "upscale", "Upscale")
    height, width = image.shape[:2]
    check_upscale_size(width, height, factor)
    run = model.descriptor
    if factor != model.scale:
        run = _resampled(model.descriptor, factor)
    pad = 24 if min(width, height) > 48 else 8
    result = run_tiled(run, image, factor, tile=tile, pad=pad, on_tile=on_tile, check_cancel=check_cancel,
                       dtype=dtype, device=device)
    if is_grayscale(image):  # a gray photo stays gray: no colour noise from the model
        result[..., 1] = result[..., 0]
        result[..., 2] = result[..., 0]
    return result


def _resampled(descriptor, factor: int):
    """The model followed by high-quality resampling to ``factor``× of its input."""
    import torch

    def run(batch):
        out = descriptor(batch)
        height, width = batch.shape[-2] * factor, batch.shape[-1] * factor
        return torch.nn.functional.interpolate(out.float(), size=(height, width), mode="bicubic",
                                               antialias=True, align_corners=False).to(out.dtype)

    return run
