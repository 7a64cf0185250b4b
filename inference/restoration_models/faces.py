"""Restoring faces with a face model (GFPGAN, RestoreFormer) without losing the person.

Each face box is cropped square with some surroundings, resized to the model's input (512 px),
restored, resized back and blended in through a mask of the box feathered *inward*, scaled by
``fidelity``: 0 keeps the original face exactly, 1 takes the model's face. The box the user drew is
the limit: every pixel outside the boxes stays the input byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image

from inference.core.errors import InvalidRequest
from inference.restoration_models.model_file import RestorationModel, require_kind
from inference.restore.compositing import composite_into, feather_mask, feather_reach_px

Box = tuple[int, int, int, int]  # x, y, width, height in photo pixels
MIN_FACE_PX = 16


def check_face_boxes(boxes, width: int, height: int) -> list[Box]:
    """Boxes clipped to the picture; one wholly outside it, or too small to be a face, is refused."""
    clipped = []
    for number, (x, y, w, h) in enumerate(boxes, start=1):
        x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            raise InvalidRequest(f"face box {number} ({x}, {y}, {w}×{h}) is outside the {width}×{height} "
                                 "picture: move it onto a face.")
        if min(x1 - x0, y1 - y0) < MIN_FACE_PX:
            raise InvalidRequest(f"face box {number} is {x1 - x0}×{y1 - y0} px: a face needs at least "
                                 f"{MIN_FACE_PX}×{MIN_FACE_PX} px to be restored.")
        clipped.append((x0, y0, x1 - x0, y1 - y0))
    return clipped


def face_feather_px(box: Box) -> int:
    return max(2, min(box[2], box[3]) // 8)


def face_crop(box: Box, width: int, height: int) -> Box:
    """The square crop around ``box`` holding the box and its feather, kept inside the picture."""
    x, y, w, h = box
    reach = feather_reach_px(face_feather_px(box))
    side = min(max(w, h) + 2 * reach, width, height)
    side = max(side, min(w + 2 * reach, width), min(h + 2 * reach, height))
    cx, cy = x + w / 2, y + h / 2
    x0 = int(round(min(max(0, cx - side / 2), width - min(side, width))))
    y0 = int(round(min(max(0, cy - side / 2), height - min(side, height))))
    return x0, y0, min(side, width - x0), min(side, height - y0)


def restore_faces(model: RestorationModel | None, image: np.ndarray, boxes, fidelity: float,
                  check_cancel: Callable[[], None] | None = None,
                  on_face: Callable[[int, int, Box, np.ndarray], None] | None = None,
                  device: str = "cpu") -> np.ndarray:
    """``image`` (H×W×3 uint8) with each face box restored; a new array. ``on_face(index, total,
    crop_box, rgb)`` reports each pasted face."""
    from inference.restore.tone_match import is_grayscale, to_gray

    if model is not None:
        require_kind(model, "face", "Restore faces")
    if not 0.0 <= fidelity <= 1.0:
        raise InvalidRequest(f"fidelity must be between 0 and 1, got {fidelity}.")
    height, width = image.shape[:2]
    boxes = check_face_boxes(boxes, width, height)
    working = image.copy()
    if fidelity == 0.0 or not boxes:
        return working
    gray = is_grayscale(image)
    for index, box in enumerate(boxes):
        if check_cancel is not None:
            check_cancel()
        crop_box = face_crop(box, width, height)
        cx, cy, cw, ch = crop_box
        original = working[cy:cy + ch, cx:cx + cw]
        restored = _run_face_model(model, original, device)
        if gray:
            restored = to_gray(restored)
        # The user's box, inside the crop, feathered inward (the soft edge ends at the box); × fidelity
        weights = _inward_weights(box, crop_box) * fidelity
        composite_into(working, restored, np.round(weights).astype(np.uint8), crop_box)
        if on_face is not None:
            on_face(index, len(boxes), crop_box, working[cy:cy + ch, cx:cx + cw])
    return working


def _inward_weights(box: Box, crop_box: Box) -> np.ndarray:
    """crop-sized float weights 0..255: 255 well inside ``box``, fading to 0 at its edge, 0 outside."""
    cx, cy, cw, ch = crop_box
    bx, by, bw, bh = box
    feather = face_feather_px(box)
    inset = min(feather_reach_px(feather), bw // 2 - 1, bh // 2 - 1)
    core = np.zeros((ch, cw), np.uint8)
    core[by - cy + inset:by - cy + bh - inset, bx - cx + inset:bx - cx + bw - inset] = 255
    weights = feather_mask(core, feather).astype(np.float32)
    limit = np.zeros((ch, cw), np.float32)
    limit[by - cy:by - cy + bh, bx - cx:bx - cx + bw] = 1.0
    return weights * limit  # a small box's fade is cut at its edge rather than spill past it


def face_pass_mask(boxes, shape: tuple[int, int], feather_px: int = 8) -> np.ndarray:
    """H×W uint8 mask of what the diffusion face pass inpaints: each face box inset by the reach of
    the inpainting feather (``feather_px``), so the feathered edge ends near the box, not past it."""
    mask = np.zeros(shape, np.uint8)
    reach = feather_reach_px(feather_px)
    for x, y, w, h in boxes:
        inset = min(reach, w // 4, h // 4)
        mask[y + inset:y + h - inset, x + inset:x + w - inset] = 255
    return mask


def _run_face_model(model: RestorationModel, crop: np.ndarray, device: str) -> np.ndarray:
    import torch

    side = max(512, model.descriptor.size_requirements.minimum or 0)
    resized = np.array(Image.fromarray(crop).resize((side, side), Image.LANCZOS))
    batch = torch.from_numpy(np.ascontiguousarray(resized)).permute(2, 0, 1)[None].float().to(device) / 255.0
    with torch.inference_mode():
        out = model.descriptor(batch)
    out = (out.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).cpu().numpy()
    return np.asarray(Image.fromarray(out).resize((crop.shape[1], crop.shape[0]), Image.LANCZOS))
