"""YuNet, the small face detector (MIT, libfacedetection), as a torch module — to write random-weight
ONNX files in its real architecture, so Find faces can be tried and tested without a download.

Kiln never runs a detector through torch: it reads the ONNX file with onnxruntime
(``face_finder.py``). This module only builds the network — yunet_n's shape: a backbone of
depthwise-separable blocks with outputs at strides 8, 16 and 32, a tiny top-down FPN, and per
stride a shared conv and four heads (class, objectness, box, five landmarks) — and exports it with
the input and output names the published ``face_detection_yunet_2023mar.onnx`` has.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

STRIDES = (8, 16, 32)
OUTPUT_NAMES = tuple(f"{head}_{stride}" for head in ("cls", "obj", "bbox", "kps") for stride in STRIDES)
INPUT_NAME = "input"


class DepthwiseUnit(nn.Module):
    """1×1 conv, 3×3 depthwise conv, then (optionally) batch norm and ReLU."""

    def __init__(self, channels_in: int, channels_out: int, norm_relu: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 1)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1, groups=channels_out)
        self.norm = nn.Sequential(nn.BatchNorm2d(channels_out), nn.ReLU()) if norm_relu else nn.Identity()

    def forward(self, x):
        return self.norm(self.conv2(self.conv1(x)))


class YuNet(nn.Module):
    """yunet_n: stem 3→16→16, five blocks of 64 channels, FPN and heads of 64 channels."""

    def __init__(self, width: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                  DepthwiseUnit(16, 16))
        channels = [16] + [width] * 5
        self.blocks = nn.ModuleList(
            nn.Sequential(DepthwiseUnit(c_in, c_in), DepthwiseUnit(c_in, c_out))
            for c_in, c_out in zip(channels[:-1], channels[1:]))
        self.lateral = nn.ModuleList(DepthwiseUnit(width, width) for _ in STRIDES)
        self.shared = nn.ModuleList(DepthwiseUnit(width, width) for _ in STRIDES)
        self.heads = nn.ModuleDict({
            name: nn.ModuleList(DepthwiseUnit(width, size, norm_relu=False) for _ in STRIDES)
            for name, size in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10))})

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 2)  # stride 4
        features = []
        for index, block in enumerate(self.blocks, start=1):
            x = block(x)
            if index >= 3:
                features.append(x)  # strides 8, 16, 32
            if index in (2, 3, 4):
                x = F.max_pool2d(x, 2)
        for level in range(len(features) - 1, 0, -1):  # top-down
            features[level] = self.lateral[level](features[level])
            features[level - 1] = features[level - 1] + F.interpolate(features[level], scale_factor=2.0,
                                                                      mode="nearest")
        features[0] = self.lateral[0](features[0])
        features = [shared(f) for shared, f in zip(self.shared, features)]
        outputs = []
        for name in ("cls", "obj", "bbox", "kps"):
            for head, feature in zip(self.heads[name], features):
                y = head(feature)
                y = y.permute(0, 2, 3, 1).reshape(y.shape[0], -1, y.shape[1])
                outputs.append(y.sigmoid() if name in ("cls", "obj") else y)
        return tuple(outputs)


def write_face_finder_onnx(out, module: YuNet | None = None, seed: int = 0) -> Path:
    """Export ``module`` (default: random weights from ``seed``) to ``out`` as ONNX with a dynamic
    input size. Needs the ``onnx`` package (torch's exporter writes through it)."""
    import importlib.util

    from inference.core.errors import KilnError

    if importlib.util.find_spec("onnx") is None:
        raise KilnError("writing an ONNX face detector needs the onnx package: pip install onnx")
    if module is None:
        torch.manual_seed(seed)
        module = YuNet()
    module.eval()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        out = out.with_suffix(".onnx")
    out.parent.mkdir(parents=True, exist_ok=True)
    dynamic = {INPUT_NAME: {2: "height", 3: "width"}}
    dynamic.update({name: {1: "anchors"} for name in OUTPUT_NAMES})
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes about itself, not about the file
        torch.onnx.export(module, (torch.zeros(1, 3, 160, 160),), str(out), input_names=[INPUT_NAME],
                          output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic, opset_version=17,
                          dynamo=False, external_data=False)
    return out
