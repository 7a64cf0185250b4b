"""Photo-like test pictures made on the fly (no image files in the repository)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw


def scan(seed: int, size=(160, 120), gray=True) -> np.ndarray:
    """A smooth photo-like picture with one bright scratch drawn across it."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    base = 90 + 60 * np.sin(xx / 17.0 + seed) * np.cos(yy / 23.0) + rng.normal(0, 2, (h, w))
    rgb = np.stack([base, base * (1.0 if gray else 0.9), base * (1.0 if gray else 0.75)], -1).clip(0, 255).astype(np.uint8)
    im = Image.fromarray(rgb)
    ImageDraw.Draw(im).line([(10, 15 + seed * 7), (w - 10, h - 20)], fill=(245, 245, 245), width=2)
    return np.array(im)
