"""Heal: classical inpainting that touches only masked pixels and beats a blur fill."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.heal import _crops, heal


def photo(h: int = 240, w: int = 320, seed: int = 0) -> np.ndarray:
    """H×W×3 uint8 colour image: gradients, soft shading, bands and a disc with slightly soft
    edges for the scratches to cross, and mild grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 80 + 90 * xx / w + cv2.GaussianBlur(rng.normal(0, 20, (h, w)).astype(np.float32), (0, 0), 12)
    base += 40 * ((xx // 40) % 2)
    cv2.circle(base, (w // 3, h // 2), h // 5, 220.0, -1)
    base = cv2.GaussianBlur(base, (0, 0), 1.0) + rng.normal(0, 1.0, (h, w)).astype(np.float32)
    rgb = base[..., None] * np.array([1.0, 0.9, 0.75], np.float32)
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def blur_fill(image: np.ndarray, mask: np.ndarray, sigma_px: float = 3.0) -> np.ndarray:
    """Baseline: masked pixels ← Gaussian blur of the unmasked ones, normalised by blurred weights."""
    known = (mask == 0).astype(np.float32)
    weight = cv2.GaussianBlur(known, (0, 0), sigma_px)[..., None]
    total = cv2.GaussianBlur(image.astype(np.float32) * known[..., None], (0, 0), sigma_px)
    out = image.copy()
    out[mask != 0] = np.clip(total / np.maximum(weight, 1e-6) + 0.5, 0, 255).astype(np.uint8)[mask != 0]
    return out


def scratched(clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A bright scratch and a dark one with dust → (damaged copy, H×W uint8 mask covering them)."""
    damaged, mask = clean.copy(), np.zeros(clean.shape[:2], np.uint8)
    for (p0, p1, colour, width) in (((10, 30), (300, 200), (250, 250, 250), 3), ((40, 220), (280, 15), (10, 10, 10), 2)):
        cv2.line(damaged, p0, p1, colour, width)
        cv2.line(mask, p0, p1, 255, width + 2)  # the mask covers the scratch with a 1-px margin
    for centre in ((60, 60), (200, 120), (250, 40)):
        cv2.circle(damaged, centre, 2, (0, 0, 0), -1)
        cv2.circle(mask, centre, 3, 255, -1)
    return damaged, mask


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_unmasked_pixels_are_bit_identical_and_input_untouched(method):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (130, 170, 3), dtype=np.uint8)
    mask = np.zeros((130, 170), np.uint8)
    mask[rng.random((130, 170)) < 0.02] = 255
    mask[:4, :] = 7  # any nonzero value counts, and the frame edge is no problem
    mask[60:90, 150:] = 255
    before_image, before_mask = image.copy(), mask.copy()
    healed = heal(image, mask, method=method, radius_px=3)
    assert healed.shape == image.shape and healed.dtype == np.uint8
    np.testing.assert_array_equal(healed[mask == 0], image[mask == 0])
    np.testing.assert_array_equal(image, before_image)
    np.testing.assert_array_equal(mask, before_mask)


# Telea's edge over a blur fill is modest on thin scratches (about 10% here and in the bench);
# Navier–Stokes continues edges better.
@pytest.mark.parametrize("method, at_most", [("telea", 0.95), ("ns", 0.75)])
def test_heal_beats_a_blur_fill_on_scratches_across_edges(method, at_most):
    clean = photo()
    damaged, mask = scratched(clean)
    inside = mask != 0

    def error(result):
        return np.abs(result.astype(np.float32) - clean)[inside].mean()

    healed_error, blur_error = error(heal(damaged, mask, method=method)), error(blur_fill(damaged, mask))
    assert healed_error < at_most * blur_error, (healed_error, blur_error)
    assert healed_error < 4.0  # gray levels: the scratch is gone, not merely softened


def test_grayscale_stays_grayscale():
    gray = photo()[..., 1:2].repeat(3, axis=2)
    damaged, mask = scratched(gray)
    damaged[mask != 0] = (255, 0, 0)  # even coloured damage is healed gray
    healed = heal(damaged, mask)
    assert np.array_equal(healed[..., 0], healed[..., 1]) and np.array_equal(healed[..., 0], healed[..., 2])


def test_empty_mask_returns_an_equal_copy():
    image = photo(40, 50)
    healed = heal(image, np.zeros((40, 50), np.uint8))
    assert healed is not image
    np.testing.assert_array_equal(healed, image)


def test_long_diagonal_scratch_healed_in_pieces_matches_whole_image_inpaint():
    # A scratch across a large frame makes a sparse group: it is healed block by block.
    clean = cv2.resize(photo(500, 750, seed=2), (3000, 2000), interpolation=cv2.INTER_LINEAR)
    damaged, mask = clean.copy(), np.zeros(clean.shape[:2], np.uint8)
    cv2.line(damaged, (0, 20), (2999, 1980), (240, 240, 240), 2)
    cv2.line(mask, (0, 20), (2999, 1980), 255, 4)
    assert len(_crops(mask, 26)) > 1  # the tiled path is the one under test
    healed = heal(damaged, mask, method="telea")  # compared with whole-image Telea below
    whole = cv2.inpaint(damaged, mask, 5, cv2.INPAINT_TELEA)
    inside = mask != 0
    difference = np.abs(healed.astype(np.int16) - whole)[inside]
    assert (difference <= 2).mean() > 0.99
    assert np.abs(healed.astype(np.float32) - clean)[inside].mean() < 4.0


@pytest.mark.parametrize(
    "image, mask, kwargs, message",
    [
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), {}, "H×W×3 uint8"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9), np.uint8), {}, "matching the image's 8×8"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), bool), {}, "H×W uint8"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), {"method": "fast"}, "'telea', 'ns'"),
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8), {"radius_px": 0}, "from 1 to 64"),
    ],
)
def test_bad_arguments_are_explained(image, mask, kwargs, message):
    with pytest.raises(ValueError, match=message):
        heal(image, mask, **kwargs)
