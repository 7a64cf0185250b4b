"""Inpainting window by window inside one job: only what is masked is regenerated, at full size.

A 24 MP scan with a scratch is not shrunk to 512 px and back: ``inference.restore.regions`` plans one
window per group of masked regions, each window is generated at the model's pixel budget, and the
result is pasted back into a copy of the photo through the feathered mask. Every pixel whose
feathered weight is 0 stays the input byte for byte, and the work per window does not depend on
the photo's size (the only whole-photo passes are the output copy and a grayscale check).

No torch here: the engine passes a ``generate`` callable that runs one pipeline call.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from inference.core.api import GenerationRequest
from inference.restore.compositing import composite_into, feather_mask, feather_reach_px
from inference.core.errors import KilnError
from inference.restore.regions import Window
from inference.restore.tone_match import is_grayscale, match_tone, to_gray

RING_MIN_PX = 8  # tone reference ring: at least this wide, and as wide as the feather reaches
_SEED_STRIDE = 0x9E3779B97F4A7C15  # odd 64-bit constant (golden ratio): windows get unrelated seeds

Box = tuple[int, int, int, int]
# generate(image, mask, seed, box) → h×w×3 uint8 at the image's size: one pipeline call on an
# RGB image and an "L" mask already at the generation size; ``box`` is where its previews go.
# It raises the engine's own exception on cancel, which passes through this module untouched.
GenerateFn = Callable[[Image.Image, Image.Image, int, Box | None], np.ndarray]


def window_seed(seed: int, index: int) -> int:
    """The generator seed of window ``index`` (0-based) of a job with ``seed``: 0 ≤ result < 2**64.

    Window 0 uses ``seed`` itself, so a one-window job makes exactly what a plain diffusers call
    with that seed makes; later windows get well-spread seeds, the same on every run.
    """
    return (seed + index * _SEED_STRIDE) % 2**64


def tone_ring_px(feather_px: int) -> int:
    """Width in px of the ring outside the mask where tone drift is measured: as far as the
    feather reaches (the pixels the blend mixes), and at least RING_MIN_PX."""
    return max(RING_MIN_PX, feather_reach_px(feather_px))


def inpaint_in_windows(
    request: GenerationRequest,
    windows: list[Window],
    generate: GenerateFn,
    check_cancel: Callable[[], None],
    fill: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Regenerate ``request.mask`` of ``request.image`` window by window; H×W×3 uint8, new array.

    Windows run in order on the photo as repaired so far, so a later window sees its repaired
    neighbours as context. Each window only composites the mask group it owns; heal windows are
    filled with ``inference.restore.heal`` and do not call ``generate``. ``check_cancel``
    is called before each window and raises to stop (nothing is returned then). ``fill(crop,
    mask)`` → crop is the learned pre-fill of ``request.prefill == "fill"`` (given by the engine).
    """
    photo, mask = request.image, request.mask
    height, width = mask.shape
    healed = [w for w in windows if w.heal]
    if healed:  # generated windows leave the healed specks alone (their boxes may hold some)
        mask = mask.copy()
        for x0, y0, x1, y1 in (w.owned for w in healed):
            mask[y0:y1, x0:x1] = 0
        mask_for_heal = request.mask
    working = np.array(photo)  # the one full-size copy: it becomes the job's output
    keep_gray = not request.colorize and is_grayscale(photo)
    ring_px = tone_ring_px(request.mask_feather_px)

    generated_index = 0
    for window in windows:
        check_cancel()
        x, y, w, h = window.box
        # 1. Crop the photo (as repaired so far) and the mask group this window owns
        original = working[y : y + h, x : x + w].copy()
        if window.heal:  # specks: filled classically, exact outside the mask (no feather needed)
            working[y : y + h, x : x + w] = _heal(original, window.owned_mask(mask_for_heal))
            continue
        owned = window.owned_mask(mask)
        index, generated_index = generated_index, generated_index + 1
        # 2. Optional classical pre-fill, so the model starts from surroundings, not from damage
        start = _heal(original, owned) if request.prefill == "heal" else original
        if request.prefill == "fill" and fill is not None:
            start = fill(original, owned)
        # 3. To the generation size (up for small windows, down for large ones)
        image, mask_image = Image.fromarray(start), Image.fromarray(owned)
        if image.size != window.gen_size:
            image = image.resize(window.gen_size, Image.LANCZOS)
        mask_image = mask_image.resize(window.gen_size, Image.BILINEAR)
        # 4. Generate; previews are drawn over the window's box (None: it is the whole photo)
        box = None if window.box == (0, 0, width, height) else window.box
        generated = generate(image, mask_image, window_seed(request.seed, index), box)
        # 5. Back to photo pixels; grayscale stays grayscale; undo the model's colour drift
        if generated.shape[:2] != (h, w):
            generated = np.array(Image.fromarray(generated).resize((w, h), Image.LANCZOS))
        if keep_gray:
            generated = to_gray(generated)
        generated = match_tone(generated, original, owned, ring_px)
        # 6. Paste back through the feathered mask, computed on the window only: the window
        #    keeps at least the feather's reach around its group, so this equals a full-photo
        #    feather there and is exactly 0 at the window's edges.
        composite_into(working, generated, feather_mask(owned, request.mask_feather_px), window.box)
    return working


def _heal(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Classical fill of ``mask`` (h×w uint8) in ``image`` (h×w×3 uint8), imported on first use
    (OpenCV's inpainting lives in ``inference.restore.heal``)."""
    try:
        from inference.restore.heal import heal
    except ImportError as exc:
        raise KilnError("the 'heal' pre-fill is not available in this installation: use prefill 'none'.") from exc
    return heal(image, mask)
