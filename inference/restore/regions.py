"""Where to inpaint: masked regions of a (possibly huge) photo → context windows to generate.

Pure geometry on an H×W uint8 mask (numpy + scipy.ndimage, no torch). The cost scales with the
masked area's bounding rectangle, not with the photo: a 200×100 px defect on a 6000×4000 px scan
is planned in a few milliseconds, and a mask spread over the whole scan is analysed on a grid
downscaled to at most ``GRID_SIDE`` cells per side.

A ``Window`` is one pipeline call: a crop of the photo (the masked group plus context), the size
it is generated at (the model's pixel budget, multiples of 8) and the mask group it owns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from inference.restore.compositing import feather_reach_px

GRID_SIDE = 1024  # mask analysis grid: finer is slower and changes nothing about the windows
JOIN_PX = 8  # masked pixels closer than this are one region (a broken scratch stays one)
MIN_PAD_PX = 32  # context around a region, at least, in photo pixels
PAD_FRACTION = 0.5  # context around a region: this fraction of its size per side
MAX_ASPECT = 2.0  # SD models compose badly far from square; wider windows grow their short side
MAX_GEN_SIDE_FACTOR = 4  # a generation side never exceeds this × the budget side (thin photos)
# A dusty scan has hundreds of specks; one generation each would take hours, and grouping them
# chains them into one window the size of the scan, generated at a fraction of its resolution.
# So specks (regions no larger than SPECK_SIDE_PX either way) are filled with Heal there, which is
# as good as a model on a few pixels, and the rest is merged into at most MAX_WINDOWS windows.
MAX_WINDOWS = 16
SPECK_SIDE_PX = 24

# Pixel budget per model family, as the side of a square: SD1.x/SD2 are trained at 512 px
# (SD2-base; 768-v works at 512 too), SDXL at 1024 px.
_BUDGET_SIDE_PX = {"sd1": 512, "sd2": 512, "sdxl": 1024}


def budget_side_px(family: str) -> int:
    """The model family's preferred generation side in px; its pixel budget is this squared."""
    return _BUDGET_SIDE_PX.get(family, 512)


@dataclass(frozen=True)
class Window:
    """One pipeline call of an inpaint job.

    box: (x, y, width, height) in photo pixels of the crop that is generated (clamped to the photo).
    gen_size: (width, height) in px the crop is generated at, both multiples of 8.
    owned: (x0, y0, x1, y1) in photo pixels, exclusive ends: the tight box of the mask group this
      window regenerates. Mask pixels outside it belong to other windows and are left alone here.
    heal: filled classically (``inference.restore.heal``), no pipeline call; ``gen_size`` is unused then.
    """

    box: tuple[int, int, int, int]
    gen_size: tuple[int, int]
    owned: tuple[int, int, int, int]
    heal: bool = False

    @property
    def scale(self) -> float:
        """Generation px per photo px (geometric mean of the two axes)."""
        return math.sqrt(self.gen_size[0] * self.gen_size[1] / (self.box[2] * self.box[3]))

    def owned_mask(self, mask: np.ndarray) -> np.ndarray:
        """The window's crop of ``mask`` (H×W uint8, the photo's) with only its own group kept:
        box-sized h×w uint8, a fresh array."""
        x, y, w, h = self.box
        x0, y0, x1, y1 = self.owned
        crop = np.zeros((h, w), np.uint8)
        crop[y0 - y : y1 - y, x0 - x : x1 - x] = mask[y0:y1, x0:x1]
        return crop


def generation_size(width_px: int, height_px: int, budget_side: int) -> tuple[int, int]:
    """(width, height), multiples of 8, with ``width_px:height_px``'s aspect and an area of about
    ``budget_side``² px — scaled up or down to it. Each side is 8 ≤ side ≤ 4 × ``budget_side``."""
    scale = budget_side / math.sqrt(width_px * height_px)
    cap = MAX_GEN_SIDE_FACTOR * budget_side

    def side(px: int) -> int:
        return int(min(cap, max(8, round(px * scale / 8) * 8)))

    return side(width_px), side(height_px)


def image_size(width_px: int, height_px: int, budget_side: int) -> tuple[int, int]:
    """(width, height) an image of ``width_px`` × ``height_px`` is generated at in the image modes:
    its own size rounded down to multiples of 8 within the budget (``budget_side``² px), else
    ``generation_size`` (the budget, same aspect)."""
    if width_px * height_px > budget_side * budget_side:
        return generation_size(width_px, height_px, budget_side)
    return width_px // 8 * 8, height_px // 8 * 8


def plan_windows(mask: np.ndarray, budget_side: int, feather_px: int, max_windows: int = MAX_WINDOWS) -> list[Window]:
    """Windows that together regenerate every masked pixel of ``mask`` (H×W uint8, > 0 = masked).

    A photo whose area is within the budget (``budget_side``² px) is one window, the whole photo,
    generated at its own size rounded down to multiples of 8. A larger photo gets one window per
    group of nearby regions: the group's box plus context (``PAD_FRACTION`` of its size per side,
    at least ``MIN_PAD_PX`` and enough for the feather), widened toward ``MAX_ASPECT``, clamped to
    the photo and generated at the budget.

    At most ``max_windows`` windows are generated. On a dusty scan (more than ``max_windows // 2``
    specks, regions at most ``SPECK_SIDE_PX`` either way) the specks go to heal windows, listed
    first so generated windows see them filled; past the cap, groups are merged with ever wider
    context until they fit. Owned boxes of generated windows never overlap; the windows
    themselves may. Order within each kind: top to bottom, left to right. Empty mask → [].
    """
    height, width = mask.shape
    boxes = _region_boxes(mask)
    if not boxes:
        return []
    if width * height <= budget_side * budget_side:
        # 1. Small photo: the whole photo is the best context there is, at native size.
        x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        return [Window((0, 0, width, height), (max(8, width // 8 * 8), max(8, height // 8 * 8)), (x0, y0, x1, y1))]
    # 2. Large photo. A dusty scan (more specks than half the window cap): specks are healed,
    #    else their context would chain them into one huge, low-resolution window.
    min_pad_px = max(MIN_PAD_PX, feather_reach_px(feather_px) + 8)
    specks = [b for b in boxes if max(b[2] - b[0], b[3] - b[1]) <= SPECK_SIDE_PX]
    if len(specks) > max_windows // 2:
        boxes = [b for b in boxes if max(b[2] - b[0], b[3] - b[1]) > SPECK_SIDE_PX]
    else:
        specks = []
    # 3. Regions whose context would overlap become one group, one window each; past the cap,
    #    groups are merged with doubling context until they fit.
    groups, pad_px = _group_boxes(boxes, min_pad_px), min_pad_px
    while len(groups) > max_windows:
        pad_px *= 2
        groups = _group_boxes(groups, pad_px)
    heals = [Window(_context_box(b, width, height, min_pad_px), (0, 0), b, heal=True) for b in specks]
    windows = []
    for owned in sorted(groups, key=lambda b: (b[1], b[0])):
        box = _context_box(owned, width, height, min_pad_px)
        windows.append(Window(box, generation_size(box[2], box[3], budget_side), owned))
    return sorted(heals, key=lambda w: (w.owned[1], w.owned[0])) + windows


def _pads(box: tuple[int, int, int, int], min_pad_px: int) -> tuple[int, int]:
    x0, y0, x1, y1 = box
    return (max(min_pad_px, math.ceil(PAD_FRACTION * (x1 - x0))), max(min_pad_px, math.ceil(PAD_FRACTION * (y1 - y0))))


def _context_box(owned, width: int, height: int, min_pad_px: int) -> tuple[int, int, int, int]:
    """(x, y, w, h): ``owned`` plus padding, aspect at most MAX_ASPECT, inside the photo."""
    x0, y0, x1, y1 = owned
    pad_x, pad_y = _pads(owned, min_pad_px)
    w, h = (x1 - x0) + 2 * pad_x, (y1 - y0) + 2 * pad_y
    # Widen the short side rather than generate a sliver the model cannot compose.
    w, h = max(w, math.ceil(h / MAX_ASPECT)), max(h, math.ceil(w / MAX_ASPECT))
    w, h = min(w, width), min(h, height)
    # Centre on the group, then slide (not shrink) to stay inside the photo.
    x = min(max(0, (x0 + x1 - w) // 2), width - w)
    y = min(max(0, (y0 + y1 - h) // 2), height - h)
    return x, y, w, h


def _region_boxes(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Tight (x0, y0, x1, y1) boxes of the connected masked regions (after joining pixels
    closer than JOIN_PX), from a grid of at most GRID_SIDE cells per side."""
    # 1. The masked rectangle: two cheap reductions over the photo, then work inside it only.
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return []
    top, left = int(rows[0]), int(cols[0])
    active = mask[top : int(rows[-1]) + 1, left : int(cols[-1]) + 1]
    # 2. Any masked pixel per cell of a coarse grid (exact: a single faint pixel marks its cell).
    cell = max(1, math.ceil(max(active.shape) / GRID_SIDE))
    grid = active
    if cell > 1:
        # Bands of rows first (whole rows at a time are fast), then columns of the small result.
        padded = np.zeros((-(-active.shape[0] // cell) * cell, active.shape[1]), active.dtype)
        padded[: active.shape[0]] = active
        bands = padded.reshape(-1, cell, active.shape[1]).max(axis=1)
        grid = np.maximum.reduceat(bands, np.arange(0, active.shape[1], cell), axis=1)
    # 3. Join near pixels, then label the regions.
    join = 2 * math.ceil(JOIN_PX / 2 / cell) + 1
    joined = ndimage.maximum_filter(grid != 0, size=join, mode="constant")
    labels, _count = ndimage.label(joined, structure=np.ones((3, 3), bool))
    # 4. Grid boxes → tight photo boxes, looking only inside each box.
    boxes = []
    for grid_rows, grid_cols in ndimage.find_objects(labels):
        ax0, ay0 = grid_cols.start * cell, grid_rows.start * cell
        region = active[ay0 : grid_rows.stop * cell, ax0 : grid_cols.stop * cell]
        r, c = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
        if r.size:
            boxes.append((left + ax0 + int(c[0]), top + ay0 + int(r[0]), left + ax0 + int(c[-1]) + 1, top + ay0 + int(r[-1]) + 1))
    return boxes


def _group_boxes(boxes: list[tuple[int, int, int, int]], min_pad_px: int) -> list[tuple[int, int, int, int]]:
    """Merge boxes whose padded context overlaps, until none does: every returned box is the
    union of its members, and no two padded results intersect (so owned boxes are disjoint)."""
    groups = [tuple(b) for b in boxes]
    merged = True
    while merged and len(groups) > 1:
        merged = False
        b = np.array(groups, dtype=np.int64)
        pads = np.array([_pads(g, min_pad_px) for g in groups], dtype=np.int64)
        lo, hi = b[:, :2] - pads, b[:, 2:] + pads
        # Pairwise overlap of padded boxes, vectorised (n is the number of regions, small).
        overlap = np.all((lo[:, None, :] < hi[None, :, :]) & (lo[None, :, :] < hi[:, None, :]), axis=2)
        np.fill_diagonal(overlap, False)
        if overlap.any():
            merged = True
            groups = _union_components(groups, overlap)
    return groups


def _union_components(groups, overlap: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Union of the boxes in each connected component of the ``overlap`` graph."""
    parent = list(range(len(groups)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(overlap)):
        parent[root(int(i))] = root(int(j))
    unions: dict[int, list[int]] = {}
    for i, (x0, y0, x1, y1) in enumerate(groups):
        u = unions.setdefault(root(i), [x0, y0, x1, y1])
        u[0], u[1], u[2], u[3] = min(u[0], x0), min(u[1], y0), max(u[2], x1), max(u[3], y1)
    return [tuple(u) for u in unions.values()]
