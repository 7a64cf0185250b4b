"""YuNet-architecture face detectors whose answers are known, for tests.

``firing_face_finder`` zeroes the weights of the four heads and sets their biases, so the network
in YuNet's real architecture answers the same everywhere: at stride 32 every cell scores
``sigmoid(6)`` ≈ 0.998 with a box ``cells`` × 32 px (192) square centred on the cell's corner; strides 8
and 16 score ≈ 0. Non-maximum suppression then keeps a regular grid of boxes — a known answer for the
whole path (ONNX file → onnxruntime → decode → NMS → picture pixels).
"""

from __future__ import annotations

import math

import torch

from inference.restoration_models.yunet_architecture import STRIDES, YuNet, write_face_finder_onnx


def firing_face_finder(out, cells: float = 6.0):
    torch.manual_seed(0)
    module = YuNet()
    with torch.no_grad():
        for name, heads in module.heads.items():
            for stride, head in zip(STRIDES, heads):
                for conv in (head.conv1, head.conv2):
                    conv.weight.zero_()
                    conv.bias.zero_()
                bias = head.conv2.bias
                if name in ("cls", "obj"):
                    bias.fill_(6.0 if stride == 32 else -10.0)
                elif name == "bbox":
                    bias.copy_(torch.tensor([0.0, 0.0, math.log(cells), math.log(cells)]))
    return write_face_finder_onnx(out, module)
