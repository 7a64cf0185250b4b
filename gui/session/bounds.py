"""Array helpers of the document: read-only views and bounding boxes of changed pixels."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect


def read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def true_bounds(flags: np.ndarray) -> QRect:
    """Bounding box (image px) of the True pixels of an H×W or H×W×C bool array (a pixel
    counts if any channel is True); an empty QRect if none."""
    # Reductions over whole rows and down columns are vectorised well; any(axis=2) over 3
    # channels is ~50× slower, so the channel axis is folded into rows, then reduced last.
    rows = np.flatnonzero(flags.reshape(flags.shape[0], -1).any(axis=1))
    if rows.size == 0:
        return QRect()
    cols = flags[rows[0] : rows[-1] + 1].any(axis=0)
    cols = np.flatnonzero(cols.any(axis=1) if cols.ndim == 2 else cols)
    return QRect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def changed_bounds(old: np.ndarray, new: np.ndarray) -> QRect:
    """Bounding box (image px) of the pixels that differ between two same-shaped arrays."""
    return true_bounds(old != new)
