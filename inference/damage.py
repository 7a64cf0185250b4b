"""Finding scan damage classically: thin bright or dark marks that the photo itself does not explain.

Scratches, dust specks, creases and small spots on a scanned print are narrow structures much
brighter or darker than their immediate surroundings. Morphological top-hat (bright) and
black-hat (dark) residuals of the luminance isolate structures narrower than a disc. Each is
thresholded in multiples of its local level (the upper quartile of the residual per 64-px
block), so a busy area needs a stronger mark than a smooth sky and the photo's own grain sets
the scale. Connected components are then kept only if they look like damage: long and thin
everywhere (scratch, crease) or small, compact and alone (dust, spot). Real detail that passes
all of that (a wire, a thin highlight) is flagged too: the mask is a proposal to edit.

Measured by ``bench/restoration.py`` (synthetic damage on real photos made into old prints).
"""

from __future__ import annotations

import cv2
import numpy as np

from inference.mask_ops import disc_kernel, grow_mask

DEFAULT_SENSITIVITY = 0.5

_BLOCK_PX = 64  # local statistics are taken per block of this size
_LEVEL_QUANTILE = 75  # percent: the block's residual level, robust to a few marks crossing it
_FINE_DISC_PX = 7  # diameter: marks up to ~5 px wide (scratches, dust) vanish in an opening
_COARSE_DISC_PX = 9  # diameter at half resolution: spots up to ~15 px across
_BRIDGE_PX = 6  # a scratch fading for up to twice this (over a like background) stays one piece
_CONTEXT_PX = 12  # how far around a small mark to look for others like it (texture, not dust)
_COVER_PX = 1  # the final mask is grown by this much so it covers anti-aliased edges too


def _thresholds(sensitivity: float) -> dict[str, float]:
    """Sensitivity 0..1 → detector thresholds; each one moves monotonically toward "more".

    z values are multiples of the local residual level (see ``_block_level``); floors are gray
    levels, so marks fainter than that are ignored even on a perfectly flat area.
    """
    s = float(sensitivity)
    z_strong = 9.4 - 6.0 * s
    return {
        "z_strong": z_strong,  # a speck must reach this
        "z_line": 0.7 * z_strong,  # most of a scratch must reach this (it is long, so less will do)…
        "z_weak": 4.7 - 3.0 * s,  # …and it may run on through pixels above this
        "floor": 15.2 - 8.0 * s,
        "scratch_px": 57.0 - 30.0 * s,  # a thin component at least this long is a scratch
        "crowd": 0.048 + 0.08 * s,  # small marks with more candidates around than this are texture
        "z_spot": 12.2 - 7.8 * s,  # coarse-scale spots need more, as bigger detail is commoner
    }


def _block_level(residual: np.ndarray) -> np.ndarray:
    """H×W uint8 residual → hb×wb float32 robust level of each ``_BLOCK_PX`` block (≥ 1)."""
    step = 2  # every 2nd pixel is plenty for a quantile and quarters the cost
    sub = residual[::step, ::step]
    b = _BLOCK_PX // step
    hb, wb = max(1, sub.shape[0] // b), max(1, sub.shape[1] // b)
    # Rows/cols that do not fill a whole block are left out of the statistics (not of the result).
    bh, bw = min(b, sub.shape[0]), min(b, sub.shape[1])
    core = np.ascontiguousarray(sub[: hb * bh, : wb * bw])
    blocks = core.reshape(hb, bh, wb, bw).transpose(0, 2, 1, 3).reshape(hb, wb, -1)
    return np.maximum(np.percentile(blocks, _LEVEL_QUANTILE, axis=2), 1.0).astype(np.float32)


def _marks(residual: np.ndarray, th: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One residual (H×W uint8) → (strong, line, weak) marks, each H×W uint8 0/1.

    A pixel is a mark where its residual exceeds z × the local level and a floor in gray levels.
    """
    h, w = residual.shape
    level = _block_level(residual)
    marks = []
    for z, floor in ((th["z_strong"], th["floor"]), (th["z_line"], th["floor"]), (th["z_weak"], 0.6 * th["floor"])):
        # Thresholds vary slowly, so they are made per block and interpolated as bytes: full-size
        # float maps would triple the time of the whole detector.
        block_threshold = np.clip(np.maximum(z * level, floor), 0, 255).astype(np.uint8)
        threshold = cv2.resize(block_threshold, (w, h), interpolation=cv2.INTER_LINEAR)
        marks.append((residual > threshold).view(np.uint8))
    return marks[0], marks[1], marks[2]


def _scratches(candidates: np.ndarray, line: np.ndarray, min_length_px: float) -> np.ndarray:
    """Keep long components that are thin everywhere → H×W uint8 0/1 (scratches, creases, hairs).

    ``candidates`` are ``line`` marks extended through weak ones. A component is kept if it
    spans ``min_length_px``, if hardly any of it survives an erosion by a 7-px disc (unlike
    area ÷ length, that holds for curved scratches and for several that cross), and if most
    of it is ``line`` marks: lace-like texture reached through weak pixels is mostly weak.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=8)
    length = np.hypot(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    area = stats[:, cv2.CC_STAT_AREA]
    thick = np.bincount(labels[cv2.erode(line, disc_kernel(3), borderValue=0) != 0], minlength=count)
    sure = np.bincount(labels[line != 0], minlength=count)
    keep = ((length >= min_length_px) & (thick <= 0.05 * area) & (sure >= 0.75 * area)).astype(np.uint8)
    keep[0] = 0
    return keep[labels]


def _specks(
    strong: np.ndarray, weak: np.ndarray, residual: np.ndarray, ring_contrast: np.ndarray, crowd_limit: float, max_area_px: int
) -> np.ndarray:
    """Keep small compact ``strong`` components that stand alone → H×W uint8 0/1 (dust, spots).

    Texture (hair, foliage, gravel) gives crowds of small marks, damage gives isolated ones:
    the share of ``weak`` pixels in a box ``_CONTEXT_PX`` around the component, other than its
    own, must stay under ``crowd_limit``. And some pixel of a speck must stand out from a whole
    ring around it (``ring_contrast``) by at least half its ``residual``: the corner of a bright
    shape leaves a top-hat residual just like a speck, but the shape fills part of its ring.
    """
    count, labels, stats, _ = cv2.connectedComponentsWithStats(strong, connectivity=8)
    x, y, w, h, area = (stats[:, i].astype(np.int64) for i in range(5))
    rows, cols = strong.shape
    c = _CONTEXT_PX
    x0, y0 = np.clip(x - c, 0, cols), np.clip(y - c, 0, rows)
    x1, y1 = np.clip(x + w + c, 0, cols), np.clip(y + h + c, 0, rows)
    total = cv2.integral(weak)
    around = total[y1, x1] - total[y0, x1] - total[y1, x0] + total[y0, x0] - area
    crowd = around / np.maximum((x1 - x0) * (y1 - y0) - area, 1)
    compact = (area <= max_area_px) & (np.maximum(w, h) <= 2 * np.minimum(w, h) + 2) & (area >= 0.4 * w * h)
    at = strong != 0
    ringed = ring_contrast[at].astype(np.int16) * 2 > residual[at]
    surrounded = np.zeros(count, bool)
    surrounded[labels[at][ringed]] = True
    keep = (compact & (crowd <= crowd_limit) & surrounded).astype(np.uint8)
    keep[0] = 0
    return keep[labels]


def _find(
    residual: np.ndarray, ring_contrast: np.ndarray, th: dict[str, float], scratches: bool, max_speck_px: int, cover_px: int
) -> np.ndarray:
    """One polarity's residual and ring contrast (H×W uint8 each) → H×W uint8 0/1: its specks,
    and its scratches if asked, each extended ``cover_px`` into the weak marks around it."""
    strong, line, weak = _marks(residual, th)
    found = _specks(strong, weak, residual, ring_contrast, th["crowd"], max_speck_px)
    if scratches:
        found |= _scratches(_extend(line, weak, _BRIDGE_PX), line, th["scratch_px"])
    return _extend(found, weak, cover_px)


def _extend(kept: np.ndarray, weak: np.ndarray, steps: int) -> np.ndarray:
    """Grow ``kept`` (H×W uint8 0/1) into ``weak`` pixels, one 8-neighbour ring per step."""
    ring = np.ones((3, 3), np.uint8)
    for _ in range(steps):
        kept = cv2.dilate(kept, ring) & (weak | kept)
    return kept


def _polarities(gray: np.ndarray, ring_radius_px: int):
    """(morphology op, ring contrast) for bright then dark marks of H×W uint8 ``gray``.

    Ring contrast: how much brighter (darker) a pixel is than the brightest (darkest) pixel on
    a 1-px ring of ``ring_radius_px`` around it, saturating at 0.
    """
    ring = disc_kernel(ring_radius_px) - np.pad(disc_kernel(ring_radius_px - 1), 1)
    yield cv2.MORPH_TOPHAT, cv2.subtract(gray, cv2.dilate(gray, ring))
    yield cv2.MORPH_BLACKHAT, cv2.subtract(cv2.erode(gray, ring), gray)


def detect_damage(image: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY) -> np.ndarray:
    """Propose a damage mask for a scanned photo → H×W uint8, 255 = probably damage, else 0.

    ``image`` is H×W×3 uint8 RGB (gray, sepia or colour; only luminance is used, so a gray
    scan stored as RGB and a toned one behave alike). ``sensitivity`` in [0, 1]: higher flags
    more; every threshold moves monotonically with it, so a higher value gives (nearly) a
    superset of a lower one. Marks narrower than ~5 px (scratches, creases, dust) are found at
    full resolution, compact spots up to ~15 px at half resolution; the mask reaches 1–3 px past
    each mark's core to cover its soft edge. About 0.1 s per megapixel on 2 cores.
    Raises ``ValueError`` for a bad image or sensitivity.
    """
    # 1. Check inputs.
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an H×W×3 uint8 array, got {got}.")
    if not (isinstance(sensitivity, (int, float, np.integer, np.floating)) and 0.0 <= sensitivity <= 1.0):
        raise ValueError(f"sensitivity must be a number from 0 to 1, got {sensitivity!r}.")
    th = _thresholds(sensitivity)
    h, w = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)

    # 2. Fine scale: bright and dark marks narrower than the disc, each with its own statistics.
    fine = disc_kernel(_FINE_DISC_PX // 2)
    found = np.zeros((h, w), np.uint8)
    for op, ring in _polarities(gray, 4):
        found |= _find(cv2.morphologyEx(gray, op, fine), ring, th, True, max_speck_px=40, cover_px=2)

    # 3. Coarse scale at half resolution: compact spots too wide for the fine disc.
    if min(h, w) >= 64:
        half = cv2.pyrDown(gray)
        coarse = disc_kernel(_COARSE_DISC_PX // 2)
        spots = np.zeros(half.shape, np.uint8)
        th = {**th, "z_strong": th["z_spot"], "crowd": 0.5 * th["crowd"]}
        for op, ring in _polarities(half, 6):
            spots |= _find(cv2.morphologyEx(half, op, coarse), ring, th, False, max_speck_px=60, cover_px=1)
        found |= cv2.resize(spots, (w, h), interpolation=cv2.INTER_NEAREST)

    # 4. Grow a little: thresholds keep the mark's core, healing needs its soft edge too.
    return grow_mask(found, _COVER_PX)
