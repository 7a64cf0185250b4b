"""Growing and shrinking masks by an exact disc."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.mask_ops import disc_kernel, grow_mask, shrink_mask


def disc(shape: tuple[int, int], centre: tuple[int, int], radius_px: float) -> np.ndarray:
    """H×W uint8 0/255: pixels whose centre is within ``radius_px`` of ``centre`` (row, col)."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    inside = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius_px**2
    return np.where(inside, 255, 0).astype(np.uint8)


# 24 and 25 straddle the switch from a disc kernel to a distance transform; 40 is well past it.
@pytest.mark.parametrize("radius_px", [1, 2, 3.5, 5, 24, 25, 40])
def test_a_dot_grown_by_r_becomes_a_disc_of_radius_r(radius_px):
    mask = np.zeros((101, 121), np.uint8)
    mask[50, 60] = 255
    np.testing.assert_array_equal(grow_mask(mask, radius_px), disc(mask.shape, (50, 60), radius_px))


@pytest.mark.parametrize("radius_px", [3, 10, 30])
def test_shrink_undoes_grow_on_a_big_square(radius_px):
    mask = np.zeros((200, 220), np.uint8)
    mask[60:140, 70:160] = 255
    np.testing.assert_array_equal(shrink_mask(grow_mask(mask, radius_px), radius_px), mask)


@pytest.mark.parametrize("radius_px", [2, 24, 25, 40])
def test_bounding_box_crop_matches_whole_image_morphology(radius_px):
    rng = np.random.default_rng(int(radius_px))
    mask = np.zeros((300, 400), np.uint8)
    mask[40:260, 30:350][rng.random((220, 320)) < 0.01] = 9  # nonzero counts as masked
    mask[100:180, 120:260] = 255
    mask[0:50, 0:60] = 255  # touching the frame edge
    binary = np.where(mask != 0, 255, 0).astype(np.uint8)
    kernel = disc_kernel(radius_px)
    np.testing.assert_array_equal(grow_mask(mask, radius_px), cv2.dilate(binary, kernel))
    np.testing.assert_array_equal(shrink_mask(mask, radius_px), cv2.erode(binary, kernel))


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
