"""Making generated pixels sit in the photo: tone matching to the surroundings, and grayscale.

Diffusion models drift in colour and contrast (the VAE round trip, the model's own taste), so a
patch pasted back as generated shows as a tinted or flat blotch. Every function here takes and
returns uint8 RGB arrays of one crop (never a whole 24 MP photo, except ``is_grayscale``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

MIN_RING_PIXELS = 16  # fewer reference pixels than this: statistics too noisy, leave as generated
GAIN_RANGE = (0.5, 2.0)  # contrast correction is clamped: a ring of flat sky must not blow up noise
FLAT_STD = 1.0  # a channel this flat (in 0..255 levels) in the generated ring gets a shift only


def is_grayscale(rgb: np.ndarray) -> bool:
    """Whether H×W×3 uint8 ``rgb`` has R == G == B at every pixel (a scan of a black-and-white
    print saved as RGB). One pass over the image, stopping at the first coloured row block."""
    step = max(1, (1 << 22) // max(1, rgb.shape[1] * 3))  # about 4 MB per block: early exit on colour
    for top in range(0, rgb.shape[0], step):
        block = rgb[top : top + step]
        if not (np.array_equal(block[..., 0], block[..., 1]) and np.array_equal(block[..., 1], block[..., 2])):
            return False
    return True


def luminance(rgb: np.ndarray) -> np.ndarray:
    """H×W uint8 luminance of H×W×3 uint8 ``rgb`` (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, as
    PIL's "L" mode, which is how a grayscale photo is usually made from colour)."""
    return np.asarray(Image.fromarray(np.ascontiguousarray(rgb)).convert("L"))


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 → H×W×3 uint8 with R == G == B = ``luminance``."""
    return np.repeat(luminance(rgb)[..., None], 3, axis=2)


def ring_around(mask: np.ndarray, ring_px: int) -> np.ndarray:
    """H×W bool: pixels outside ``mask`` (H×W uint8, > 0 = masked) within ``ring_px`` of it."""
    inside = mask > 0
    size = 2 * max(1, ring_px) + 1
    return ndimage.maximum_filter(inside, size=size, mode="constant") & ~inside


def match_tone(generated: np.ndarray, original: np.ndarray, mask: np.ndarray, ring_px: int) -> np.ndarray:
    """``generated`` (H×W×3 uint8) with its colour and contrast drift undone, per channel.

    The drift is measured where the answer is known: in a ring up to ``ring_px`` outside ``mask``
    (H×W uint8), the generation should reproduce ``original`` (H×W×3 uint8). Comparing the two
    there — not the generated inside against the ring — keeps new content (a face on a wall)
    from being forced to the wall's colours. The per-channel map gen → (gen − μ_gen)·gain + μ_orig,
    gain = σ_orig / σ_gen clamped to ``GAIN_RANGE``, is applied to the whole crop: the feathered
    blend past the mask edge then joins two images that agree, leaving no seam at the mask edge.
    Returns a new H×W×3 uint8 array (``generated`` unchanged if the ring has too few pixels).
    """
    ring = ring_around(mask, ring_px)
    if int(ring.sum()) < MIN_RING_PIXELS:
        return generated.copy()
    gen_ring = generated[ring].astype(np.float64)  # N×3
    orig_ring = original[ring].astype(np.float64)
    mean_gen, mean_orig = gen_ring.mean(axis=0), orig_ring.mean(axis=0)
    std_gen, std_orig = gen_ring.std(axis=0), orig_ring.std(axis=0)
    gain = np.where(std_gen > FLAT_STD, std_orig / np.maximum(std_gen, FLAT_STD), 1.0).clip(*GAIN_RANGE)
    # float32 over the crop: the whole map is one fused multiply-add per pixel
    out = (generated.astype(np.float32) - mean_gen.astype(np.float32)) * gain.astype(np.float32)
    out += mean_orig.astype(np.float32)
    return np.rint(out).clip(0, 255).astype(np.uint8)
