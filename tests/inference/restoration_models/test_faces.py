"""restore_faces: only the boxed faces change (the soft edge lies inside the box), Fidelity 0 is the
original exactly, a box off the picture is refused, and a gray photo stays gray."""

from __future__ import annotations

import numpy as np
import pytest

from face_photo import face_photo
from inference.core.errors import InvalidRequest
from inference.restoration_models.faces import restore_faces

BOX = (40, 20, 44, 52)


@pytest.fixture(scope="module")
def gfpgan(face_model):
    from inference.restoration_models.model_file import load_restoration_model

    return load_restoration_model(face_model, device="cpu")


def _outside(shape, box, margin):
    """H×W bool: True beyond ``margin`` px of ``box``."""
    x, y, w, h = box
    outside = np.ones(shape[:2], bool)
    outside[max(0, y - margin):y + h + margin, max(0, x - margin):x + w + margin] = False
    return outside


def test_only_the_boxed_face_changes(gfpgan):
    photo = face_photo((128, 96), BOX)
    restored = restore_faces(gfpgan, photo, [BOX], 0.5)
    assert restored.shape == photo.shape and restored.dtype == np.uint8
    outside = _outside(photo.shape, BOX, 0)  # the box drawn is the limit: nothing past its edge changes
    assert np.array_equal(restored[outside], photo[outside])  # byte for byte
    x, y, w, h = BOX
    assert (restored[y:y + h, x:x + w] != photo[y:y + h, x:x + w]).any()  # the model's face, half of it
    assert np.array_equal(photo, face_photo((128, 96), BOX))  # the input is not written to


def test_fidelity_zero_is_the_original_exactly(gfpgan):
    photo = face_photo((128, 96), BOX)
    assert np.array_equal(restore_faces(gfpgan, photo, [BOX], 0.0), photo)


def test_a_box_outside_the_picture_is_refused_with_a_message(gfpgan):
    photo = face_photo((128, 96), BOX)
    with pytest.raises(InvalidRequest, match="outside the 128×96 picture"):
        restore_faces(gfpgan, photo, [BOX, (200, 150, 40, 40)], 0.5)
    with pytest.raises(InvalidRequest, match="at least 16×16"):
        restore_faces(gfpgan, photo, [(10, 10, 8, 30)], 0.5)
    with pytest.raises(InvalidRequest, match="fidelity"):
        restore_faces(gfpgan, photo, [BOX], 1.5)


def test_a_gray_photo_stays_gray(gfpgan):
    photo = face_photo((128, 96), BOX, gray=True)
    restored = restore_faces(gfpgan, photo, [BOX], 1.0)
    assert (restored != photo).any()
    assert np.array_equal(restored[..., 0], restored[..., 1]) and np.array_equal(restored[..., 1], restored[..., 2])
