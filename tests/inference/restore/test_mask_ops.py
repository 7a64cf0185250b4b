"""Growing and shrinking masks by an exact disc."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from inference.restore.mask_ops import dilate, disc_kernel, erode, grow_mask, shrink_mask


def disc(shape: tuple[int, int], centre: tuple[int, int], radius_px: float) -> np.ndarray:
    """H×W uint8 0/255: pixels whose centre is within ``radius_px`` of ``centre`` (row, col)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    inside = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius_px**2
    return np.where(inside, 255, 0).astype(np.uint8)


# 64 and 65 straddle the switch from a disc kernel to a distance transform; 80 is well past it.
@pytest.mark.parametrize("radius_px", [1, 2, 3.5, 5, 64, 65, 80])
def test_a_dot_grown_by_r_becomes_a_disc_of_radius_r(radius_px):
    mask = np.zeros((181, 201), np.uint8)
    mask[90, 100] = 255
    np.testing.assert_array_equal(grow_mask(mask, radius_px), disc(mask.shape, (90, 100), radius_px))


@pytest.mark.parametrize("radius_px", [3, 10, 30])
def test_shrink_undoes_grow_on_a_big_square(radius_px):
    mask = np.zeros((200, 220), np.uint8)
    mask[60:140, 70:160] = 255
    np.testing.assert_array_equal(shrink_mask(grow_mask(mask, radius_px), radius_px), mask)


@pytest.mark.parametrize("radius_px", [2, 24, 70])
def test_bounding_box_crop_matches_whole_image_morphology(radius_px):
    rng = np.random.default_rng(int(radius_px))
    mask = np.zeros((300, 400), np.uint8)
    mask[40:260, 30:350][rng.random((220, 320)) < 0.01] = 9  # nonzero counts as masked
    mask[100:180, 120:260] = 255
    mask[0:50, 0:60] = 255  # touching the frame edge
    # References on the whole image: scipy's morphology by the disc for small radii, exact
    # Euclidean distances for large ones; beyond the frame counts as masked for shrinking.
    if radius_px < 30:
        grown = ndimage.binary_dilation(mask != 0, disc_kernel(radius_px))
        shrunk = ndimage.binary_erosion(mask != 0, disc_kernel(radius_px), border_value=1)
    else:
        grown = ndimage.distance_transform_edt(mask == 0) <= radius_px
        shrunk = ndimage.distance_transform_edt(mask != 0) > radius_px
    np.testing.assert_array_equal(grow_mask(mask, radius_px), np.where(grown, 255, 0).astype(np.uint8))
    np.testing.assert_array_equal(shrink_mask(mask, radius_px), np.where(shrunk, 255, 0).astype(np.uint8))


def test_flat_morphology_matches_scipy_on_gray_images_with_any_kernel_shape():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (37, 51), dtype=np.uint8)
    ring = disc_kernel(4) - np.pad(disc_kernel(3), 1)  # two runs of columns in most rows
    for kernel in (disc_kernel(1), disc_kernel(3), ring, np.ones((3, 5), np.uint8)):
        footprint = kernel != 0
        np.testing.assert_array_equal(dilate(image, kernel), ndimage.grey_dilation(image, footprint=footprint, mode="constant", cval=0))
        np.testing.assert_array_equal(erode(image, kernel), ndimage.grey_erosion(image, footprint=footprint, mode="constant", cval=255))
        np.testing.assert_array_equal(erode(image, kernel, border=0), ndimage.grey_erosion(image, footprint=footprint, mode="constant", cval=0))
    binary = image > 128
    assert dilate(binary, ring).dtype == bool
    np.testing.assert_array_equal(dilate(binary, ring), ndimage.binary_dilation(binary, ring != 0))


def test_shrinking_does_not_eat_from_the_frame_edge():
    full = np.full((50, 60), 255, np.uint8)
    np.testing.assert_array_equal(shrink_mask(full, 5), full)
    np.testing.assert_array_equal(shrink_mask(full, 30), full)


def test_small_things_vanish_and_empty_stays_empty():
    mask = np.zeros((40, 40), np.uint8)
    mask[10:13, 10:13] = 255
    assert not shrink_mask(mask, 2).any()
    empty = np.zeros((40, 40), np.uint8)
    assert not grow_mask(empty, 5).any() and not shrink_mask(empty, 5).any()


def test_zero_radius_binarises_and_inputs_are_untouched():
    mask = np.array([[0, 1, 128], [255, 0, 3]], np.uint8)
    before = mask.copy()
    expected = np.array([[0, 255, 255], [255, 0, 255]], np.uint8)
    np.testing.assert_array_equal(grow_mask(mask, 0), expected)
    np.testing.assert_array_equal(shrink_mask(mask, 0), expected)
    np.testing.assert_array_equal(mask, before)


@pytest.mark.parametrize(
    "mask, radius_px, message",
    [
        (np.zeros((4, 4), bool), 1, "H×W uint8"),
        (np.zeros((4, 4, 3), np.uint8), 1, "H×W uint8"),
        (np.zeros((4, 4), np.uint8), -1, "≥ 0"),
        (np.zeros((4, 4), np.uint8), float("nan"), "≥ 0"),
    ],
)
def test_bad_arguments_are_explained(mask, radius_px, message):
    with pytest.raises(ValueError, match=message):
        grow_mask(mask, radius_px)
    with pytest.raises(ValueError, match=message):
        shrink_mask(mask, radius_px)
