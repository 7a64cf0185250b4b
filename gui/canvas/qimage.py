"""numpy pixels → QImage, in one place."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def array_qimage(pixels: np.ndarray) -> QImage:
    """An h×w×3 (RGB) or h×w×4 (RGBA) uint8 C-contiguous array as a QImage that *aliases* it:
    keep ``pixels`` alive while the QImage is used, or ``.copy()`` it (QPixmap.fromImage copies)."""
    fmt = QImage.Format.Format_RGBA8888 if pixels.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(pixels.data, pixels.shape[1], pixels.shape[0], pixels.strides[0], fmt)
