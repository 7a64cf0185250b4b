"""Learned fill (LaMa): large holes filled from their surroundings, at full resolution.

The hole is filled window by window exactly like diffusion inpainting
(``inference.restore.inpaint_windows``): only the masked regions are worked on, each window at the
fill model's working size, pasted back through the feathered mask, so every pixel outside the
feathered mask stays the input byte for byte. Also the pre-fill under the mask for diffusion
inpainting (``prefill="fill"``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from inference.restoration_models.model_file import RestorationModel, require_kind

FILL_SIDE_PX = 1024  # the window budget: LaMa's global (Fourier) context works well up to about this
FEATHER_PX = 4


def count_fill_windows(mask: np.ndarray, feather_px: int = FEATHER_PX) -> int:
    """How many windows the model fills for ``mask`` (its progress total; tiny specks are healed)."""
    from inference.restore.regions import plan_windows

    return sum(not window.heal for window in plan_windows(mask, FILL_SIDE_PX, feather_px))


def fill_holes(model: RestorationModel, image: np.ndarray, mask: np.ndarray, feather_px: int = FEATHER_PX,
               check_cancel: Callable[[], None] | None = None,
               on_window: Callable[[int, int, tuple, np.ndarray], None] | None = None,
               device: str = "cpu") -> np.ndarray:
    """``image`` (H×W×3 uint8) with ``mask`` (H×W uint8, > 0 = fill) filled; a new array."""
    from inference.core.api import GenerationRequest, Mode
    from inference.restore.inpaint_windows import inpaint_in_windows
    from inference.restore.regions import plan_windows

    require_kind(model, "fill", "Fill")
    windows = plan_windows(mask, FILL_SIDE_PX, feather_px)
    if not windows:
        return image.copy()
    request = GenerationRequest(job_id=0, mode=Mode.INPAINT, prompt="", image=image, mask=mask,
                                mask_feather_px=feather_px)
    done, total = [0], sum(not window.heal for window in windows)

    def generate(window_image: Image.Image, window_mask: Image.Image, _seed, box):
        result = fill_window(model, np.asarray(window_image), np.asarray(window_mask), device)
        done[0] += 1
        if on_window is not None:
            on_window(done[0] - 1, total, box or (0, 0, image.shape[1], image.shape[0]), result)
        return result

    return inpaint_in_windows(request, windows, generate, check_cancel or (lambda: None))


def fill_window(model: RestorationModel, image: np.ndarray, mask: np.ndarray, device: str = "cpu") -> np.ndarray:
    """One LaMa call: ``image`` h×w×3 uint8, ``mask`` h×w uint8 → h×w×3 uint8."""
    import torch

    batch = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None].float().to(device) / 255.0
    holes = torch.from_numpy((mask > 127).astype(np.float32))[None, None].to(device)
    with torch.inference_mode():
        out = model.descriptor(batch, holes)
    return (out.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
