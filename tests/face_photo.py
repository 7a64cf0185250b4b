"""A photo with a face drawn on it (no image files in the repository, no downloads)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def face_photo(size=(128, 96), face=(40, 20, 44, 52), gray: bool = False, seed: int = 0) -> np.ndarray:
    """H×W×3 uint8: a soft background with a face — an oval, eyes, brows, a nose and a mouth —
    inside ``face`` (x, y, w, h in px), slightly blurred and noisy like a scan."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([90 + 40 * np.sin(xx / 23.0), 110 + 30 * np.cos(yy / 19.0), 140 + 0 * xx], -1)
    picture = Image.fromarray(background.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    x, y, w, h = face
    draw.ellipse((x, y, x + w, y + h), fill=(224, 180, 150), outline=(150, 100, 80))
    eye_w, eye_h, eye_y = w * 0.16, h * 0.08, y + h * 0.38
    for cx in (x + w * 0.32, x + w * 0.68):
        draw.ellipse((cx - eye_w / 2, eye_y - eye_h / 2, cx + eye_w / 2, eye_y + eye_h / 2), fill=(250, 250, 250))
        draw.ellipse((cx - eye_h / 2, eye_y - eye_h / 2, cx + eye_h / 2, eye_y + eye_h / 2), fill=(60, 40, 30))
        draw.line((cx - eye_w * 0.6, eye_y - eye_h * 1.6, cx + eye_w * 0.6, eye_y - eye_h * 1.9), fill=(90, 60, 40),
                  width=max(1, round(h / 40)))
    draw.line((x + w / 2, y + h * 0.45, x + w * 0.46, y + h * 0.62, x + w * 0.54, y + h * 0.62), fill=(180, 120, 100),
              width=max(1, round(h / 50)))
    draw.arc((x + w * 0.32, y + h * 0.62, x + w * 0.68, y + h * 0.82), 20, 160, fill=(160, 60, 60),
             width=max(1, round(h / 30)))
    picture = picture.filter(ImageFilter.GaussianBlur(0.8))
    array = np.asarray(picture).astype(np.int16) + rng.normal(0, 3, (height, width, 1)).astype(np.int16)
    array = array.clip(0, 255).astype(np.uint8)
    if gray:
        array = np.repeat(np.asarray(Image.fromarray(array).convert("L"))[..., None], 3, axis=2)
    return np.ascontiguousarray(array)
