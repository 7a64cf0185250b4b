"""Finding faces automatically with a small face detector the user has: YuNet (MIT) through onnxruntime.

The detector proposes boxes; the user keeps, moves or deletes them like boxes drawn by hand. A file
is accepted when it is an ONNX graph with YuNet's outputs (``cls``/``obj``/``bbox``/``kps`` at strides
8, 16 and 32, as in ``face_detection_yunet_2023mar.onnx``); ONNX is data, not code, so opening one
runs nothing of the file's author. Without onnxruntime or a detector, the face box tool remains.

How a picture is searched: scaled so its long side is at most ``FIND_SIDE_PX`` (a face of 12 px
there is still found; on a 6000 px scan that is a 56 px face), turned into BGR 0–255 floats as
YuNet was trained, padded right and bottom to a multiple of 32 (or letterboxed into the file's
fixed input size), run once, decoded on each stride's grid (score = √(class × objectness), centre
and log-size offsets in stride units), merged by non-maximum suppression, and scaled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from inference.core.errors import ModelError

STRIDES = (8, 16, 32)
OUTPUTS = tuple(f"{head}_{stride}" for head in ("cls", "obj", "bbox", "kps") for stride in STRIDES)
FIND_SIDE_PX = 1280
SCORE_THRESHOLD = 0.6  # a little below OpenCV's 0.9: faded faces score lower, and proposals are edited
NMS_IOU = 0.3
MAX_FACES = 64
FACE_MARGIN = 0.2  # proposals reach this share of the face's size past YuNet's tight box, each side


@dataclass(frozen=True)
class FoundFace:
    box: tuple[int, int, int, int]  # x, y, width, height in the picture's pixels (YuNet's tight box)
    score: float


def onnxruntime_missing() -> str:
    """Why Find faces cannot run here ("" when it can)."""
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return "Find faces needs onnxruntime (pip install onnxruntime); draw face boxes with the face box tool (F)."
    return ""


class FaceFinder:
    """An opened detector: ``find(image)`` → the faces in it, best first."""

    def __init__(self, session, path: Path):
        self.session, self.path = session, path
        self.input = session.get_inputs()[0]
        shape = self.input.shape
        self.fixed_size = (shape[3], shape[2]) if all(isinstance(v, int) for v in shape[2:4]) else None

    def find(self, image: np.ndarray, threshold: float = SCORE_THRESHOLD) -> list[FoundFace]:
        height, width = image.shape[:2]
        rgb = _rgb(image)
        side = self.fixed_size or (FIND_SIDE_PX, FIND_SIDE_PX)
        scale = min(1.0, side[0] / width, side[1] / height)
        small_w, small_h = max(1, round(width * scale)), max(1, round(height * scale))
        if scale < 1.0:
            rgb = np.asarray(Image.fromarray(rgb).resize((small_w, small_h), Image.BILINEAR))
        pad_w, pad_h = self.fixed_size or (-(-small_w // 32) * 32, -(-small_h // 32) * 32)
        blob = np.zeros((1, 3, pad_h, pad_w), np.float32)
        blob[0, :, :small_h, :small_w] = rgb[:, :, ::-1].transpose(2, 0, 1)  # BGR, 0–255
        try:
            arrays = self.session.run(list(OUTPUTS), {self.input.name: blob})
        except Exception as exc:  # onnxruntime raises its own types for a graph that cannot run
            raise ModelError(f"{self.path.name} could not search the picture ({type(exc).__name__}: {exc}).") from exc
        boxes, scores = decode(dict(zip(OUTPUTS, arrays)), pad_w, pad_h, threshold)
        boxes = np.clip(boxes, 0, [small_w, small_h, small_w, small_h])  # before merging: edge faces too
        keep = nms(boxes, scores, NMS_IOU)[:MAX_FACES]
        found = []
        for index in keep:
            x0, y0, x1, y1 = (boxes[index] / scale).tolist()
            x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                found.append(FoundFace((round(x0), round(y0), round(x1 - x0), round(y1 - y0)),
                                       float(scores[index])))
        return found


def load_face_finder(path) -> FaceFinder:
    """Open ``path`` as a YuNet face detector, or raise ModelError saying why it is not one."""
    path = Path(path)
    missing = onnxruntime_missing()
    if missing:
        raise ModelError(missing)
    if not path.is_file():
        raise ModelError(f"{path} does not exist: choose the face detector again in Models → Restoration.")
    if path.suffix.lower() != ".onnx":
        raise ModelError(f"{path.name} is not an ONNX file: Find faces needs a YuNet face detector (.onnx), "
                         "such as face_detection_yunet_2023mar.onnx.")
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # a truncated or foreign file: onnxruntime's own exception types
        raise ModelError(f"{path.name} is not a readable ONNX model ({_first_line(exc)}); it may be truncated: "
                         "download it again.") from exc
    names = {output.name for output in session.get_outputs()}
    inputs = session.get_inputs()
    if not set(OUTPUTS) <= names or len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ModelError(f"{path.name} is an ONNX model but not a YuNet face detector (it has outputs "
                         f"{', '.join(sorted(names)[:6])}): Find faces needs YuNet, e.g. "
                         "face_detection_yunet_2023mar.onnx.")
    return FaceFinder(session, path)


def decode(outputs: dict[str, np.ndarray], pad_w: int, pad_h: int, threshold: float):
    """YuNet's outputs on a ``pad_w``×``pad_h`` input → (boxes N×4 as x0, y0, x1, y1; scores N),
    only those scoring at least ``threshold``."""
    all_boxes, all_scores = [], []
    for stride in STRIDES:
        cols, rows = pad_w // stride, pad_h // stride
        cls = np.clip(outputs[f"cls_{stride}"].reshape(-1), 0, 1)
        obj = np.clip(outputs[f"obj_{stride}"].reshape(-1), 0, 1)
        bbox = outputs[f"bbox_{stride}"].reshape(-1, 4)
        if cls.size != rows * cols or bbox.shape[0] != rows * cols:
            raise ModelError(f"the face detector gave {cls.size} scores at stride {stride} for a {pad_w}×{pad_h} "
                             f"input ({rows * cols} expected): it is not a YuNet detector Kiln can read.")
        scores = np.sqrt(cls * obj)
        hits = np.flatnonzero(scores >= threshold)
        row, col = np.divmod(hits, cols)
        offsets = bbox[hits].astype(np.float64)
        cx, cy = (col + offsets[:, 0]) * stride, (row + offsets[:, 1]) * stride
        w, h = np.exp(np.minimum(offsets[:, 2], 10)) * stride, np.exp(np.minimum(offsets[:, 3], 10)) * stride
        all_boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
        all_scores.append(scores[hits])
    return np.concatenate(all_boxes).reshape(-1, 4), np.concatenate(all_scores)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first (ties: first)."""
    order = list(np.argsort(-scores, kind="stable"))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order:
        best, order = order[0], np.array(order[1:], dtype=int)
        keep.append(int(best))
        if not order.size:
            break
        x0 = np.maximum(boxes[best, 0], boxes[order, 0])
        y0 = np.maximum(boxes[best, 1], boxes[order, 1])
        x1 = np.minimum(boxes[best, 2], boxes[order, 2])
        y1 = np.minimum(boxes[best, 3], boxes[order, 3])
        overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = areas[best] + areas[order] - overlap
        order = list(order[overlap <= iou * np.maximum(union, 1e-9)])
    return keep


def face_boxes_to_propose(found: list[FoundFace], width: int, height: int, existing=(),
                          min_side: int = 16) -> list[tuple[int, int, int, int]]:
    """Boxes for ``found`` faces, grown by ``FACE_MARGIN`` (hair, chin and a feather's room), kept
    inside the picture; a face already covered by one of the ``existing`` boxes (its centre inside
    it) and one smaller than ``min_side`` are left out."""
    proposed = []
    for face in found:
        x, y, w, h = face.box
        cx, cy = x + w / 2, y + h / 2
        if any(ex <= cx < ex + ew and ey <= cy < ey + eh for ex, ey, ew, eh in (*existing, *proposed)):
            continue
        grow_w, grow_h = w * FACE_MARGIN, h * FACE_MARGIN
        x0, y0 = max(0, round(x - grow_w)), max(0, round(y - grow_h))
        x1, y1 = min(width, round(x + w + grow_w)), min(height, round(y + h + grow_h))
        if min(x1 - x0, y1 - y0) >= min_side:
            proposed.append((x0, y0, x1 - x0, y1 - y0))
    return proposed


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8, copy=False))


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
