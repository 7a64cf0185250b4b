"""Face boxes in a project's description: read as hostile values, like everything else in it.

Boxes are written as JSON lists [x, y, width, height] of whole image px (``project_file``); the
reader (``project_read``) takes them only through ``read_boxes``.
"""

from __future__ import annotations

MAX_BOXES = 1000  # far more faces than a photo holds; a bombed list is refused
MAX_COORD = 1 << 20  # larger than any picture Kiln opens (its pixel limit is far below)


def read_boxes(value) -> tuple[tuple[int, int, int, int], ...]:
    """``value`` as boxes (x, y, w, h): a list of at most ``MAX_BOXES`` lists of four whole
    numbers, x and y from 0, width and height from 1, all below ``MAX_COORD``. Raises ValueError
    for anything else."""
    if not isinstance(value, list) or len(value) > MAX_BOXES:
        raise ValueError("the face boxes are not a list")
    boxes = []
    for box in value:
        if not (isinstance(box, list) and len(box) == 4
                and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < MAX_COORD for v in box)
                and box[2] >= 1 and box[3] >= 1):
            raise ValueError(f"a face box is {str(box)[:60]!r}, not [x, y, width, height] in pixels")
        boxes.append(tuple(box))
    return tuple(boxes)
