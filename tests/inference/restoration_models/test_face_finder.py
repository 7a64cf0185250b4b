"""Find faces: a YuNet detector (ONNX, onnxruntime) proposes face boxes in picture pixels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inference.core.errors import ModelError
from inference.restoration_models.face_finder import (
    FACE_MARGIN, MAX_FACES, FoundFace, decode, face_boxes_to_propose, load_face_finder, nms,
)
from inference.restoration_models.yunet_architecture import write_face_finder_onnx


def _outputs(pad_w, pad_h):
    out = {}
    for stride in (8, 16, 32):
        n = (pad_w // stride) * (pad_h // stride)
        out[f"cls_{stride}"] = np.zeros((1, n, 1), np.float32)
        out[f"obj_{stride}"] = np.zeros((1, n, 1), np.float32)
        out[f"bbox_{stride}"] = np.zeros((1, n, 4), np.float32)
        out[f"kps_{stride}"] = np.zeros((1, n, 10), np.float32)
    return out


def test_decode_puts_a_face_where_the_grid_cell_and_offsets_say():
    out = _outputs(640, 480)
    cols = 640 // 16
    index = 5 * cols + 7  # row 5, column 7 at stride 16
    out["cls_16"][0, index, 0], out["obj_16"][0, index, 0] = 0.9, 0.8
    out["bbox_16"][0, index] = [0.5, 0.5, math.log(2), math.log(3)]
    boxes, scores = decode(out, 640, 480, threshold=0.6)
    assert boxes.shape == (1, 4)
    np.testing.assert_allclose(boxes[0], [120 - 16, 88 - 24, 120 + 16, 88 + 24], atol=1e-4)
    assert scores[0] == pytest.approx(math.sqrt(0.9 * 0.8))
    assert decode(out, 640, 480, threshold=0.9)[0].shape == (0, 4)  # below the threshold: nothing


def test_decode_refuses_outputs_that_do_not_match_the_input_grid():
    with pytest.raises(ModelError, match="not a YuNet detector"):
        decode(_outputs(640, 480), 320, 480, threshold=0.5)


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_ones():
    boxes = np.array([[0, 0, 100, 100], [10, 10, 110, 110], [300, 300, 380, 380]], float)
    assert nms(boxes, np.array([0.7, 0.9, 0.8]), 0.3) == [1, 2]


def test_a_detector_file_finds_faces_in_picture_pixels(firing_finder):
    finder = load_face_finder(firing_finder)
    photo = np.full((1500, 2000, 3), 128, np.uint8)  # searched at 1280×960: scale 0.64
    found = finder.find(photo)
    assert 0 < len(found) <= MAX_FACES
    boxes = np.array([[x, y, x + w, y + h] for (x, y, w, h) in (f.box for f in found)], float)
    assert boxes[:, 0].min() >= 0 and boxes[:, 1].min() >= 0
    assert boxes[:, 2].max() <= 2000 and boxes[:, 3].max() <= 1500
    inside = [f for f in found if 0 < f.box[0] and f.box[0] + f.box[2] < 2000 and 0 < f.box[1]
              and f.box[1] + f.box[3] < 1500]
    assert inside and all(abs(f.box[2] - 192 / 0.64) <= 2 and abs(f.box[3] - 192 / 0.64) <= 2 for f in inside)
    for a in range(len(boxes)):  # what is left after suppression does not overlap much
        for b in range(a + 1, len(boxes)):
            x0, y0 = np.maximum(boxes[a, :2], boxes[b, :2])
            x1, y1 = np.minimum(boxes[a, 2:], boxes[b, 2:])
            overlap = max(0, x1 - x0) * max(0, y1 - y0)
            area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
            assert overlap <= 0.3 * (area(boxes[a]) + area(boxes[b]) - overlap) + 1e-6
    gray = finder.find(np.full((300, 400), 90, np.uint8))  # a grayscale scan searches the same way
    assert gray and all(f.box[0] + f.box[2] <= 400 and f.box[1] + f.box[3] <= 300 for f in gray)


def test_random_weights_in_the_real_architecture_open_and_run(tmp_path):
    finder = load_face_finder(write_face_finder_onnx(tmp_path / "yunet.onnx"))
    found = finder.find(np.random.default_rng(0).integers(0, 255, (333, 517, 3), dtype=np.uint8))
    assert all(0 <= f.box[0] and f.box[0] + f.box[2] <= 517 for f in found)


def test_files_that_are_not_yunet_detectors_are_refused_with_the_reason(tmp_path, firing_finder):
    import torch

    with pytest.raises(ModelError, match="not an ONNX file"):
        (tmp_path / "face.safetensors").write_bytes(b"x" * 100)
        load_face_finder(tmp_path / "face.safetensors")
    truncated = tmp_path / "cut.onnx"
    truncated.write_bytes(firing_finder.read_bytes()[:5000])
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_face_finder(truncated)
    other = tmp_path / "other.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 2, 3), (torch.zeros(1, 3, 32, 32),), str(other), dynamo=False,
                      input_names=["input"], output_names=["out"])
    with pytest.raises(ModelError, match="not a YuNet face detector"):
        load_face_finder(other)
    with pytest.raises(ModelError, match="does not exist"):
        load_face_finder(tmp_path / "gone.onnx")


def test_proposals_grow_past_the_tight_box_and_skip_faces_already_boxed():
    found = [FoundFace((100, 100, 50, 60), 0.9), FoundFace((400, 50, 40, 40), 0.8), FoundFace((5, 5, 40, 40), 0.7)]
    boxes = face_boxes_to_propose(found, 600, 400, existing=[(380, 30, 90, 90)])
    grow = 50 * FACE_MARGIN, 60 * FACE_MARGIN
    assert boxes[0] == (round(100 - grow[0]), round(100 - grow[1]), round(50 + 2 * grow[0]), round(60 + 2 * grow[1]))
    assert len(boxes) == 2  # the second face already has a box
    assert boxes[1][:2] == (0, 0)  # grown past the edge: clipped to the picture
