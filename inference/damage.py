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

import numpy as np
from PIL import Image
from scipy import ndimage

from inference.api import DEFAULT_SENSITIVITY
from inference.mask_ops import dilate, disc_kernel, erode, grow_mask

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
        threshold = np.asarray(Image.fromarray(block_threshold).resize((w, h), Image.BILINEAR))
        marks.append((residual > threshold).view(np.uint8))
    return marks[0], marks[1], marks[2]


def _scratches(candidates: np.ndarray, line: np.ndarray, min_length_px: float) -> np.ndarray:
    """Keep long components that are thin everywhere → H×W uint8 0/1 (scratches, creases, hairs).

    ``candidates`` are ``line`` marks extended through weak ones. A component is kept if it
    spans ``min_length_px``, if hardly any of it survives an erosion by a 7-px disc (unlike
    area ÷ length, that holds for curved scratches and for several that cross), and if most
    of it is ``line`` marks: lace-like texture reached through weak pixels is mostly weak.
    """
    count, pixels, owner, (_x, _y, w, h, area) = _components(candidates)
    length = np.hypot(w, h)
    thick = np.bincount(owner[erode(line, disc_kernel(3), border=0).ravel()[pixels] != 0], minlength=count)
    sure = np.bincount(owner[line.ravel()[pixels] != 0], minlength=count)  # every line mark is a candidate
    keep = (length >= min_length_px) & (thick <= 0.05 * area) & (sure >= 0.75 * area)
    return _mark(candidates.shape, pixels, keep[owner])


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
    count, pixels, owner, (x, y, w, h, area) = _components(strong)
    compact = (area <= max_area_px) & (np.maximum(w, h) <= 2 * np.minimum(w, h) + 2) & (area >= 0.4 * w * h)
    ringed = ring_contrast.ravel()[pixels].astype(np.int16) * 2 > residual.ravel()[pixels]
    surrounded = np.zeros(count, bool)
    surrounded[owner[ringed]] = True
    keep = compact & surrounded
    # The crowd test last, on the few components left: small boxes, counted one by one.
    rows, cols = strong.shape
    c = _CONTEXT_PX
    for i in np.flatnonzero(keep):
        y0, y1, x0, x1 = max(0, y[i] - c), min(rows, y[i] + h[i] + c), max(0, x[i] - c), min(cols, x[i] + w[i] + c)
        around = np.count_nonzero(weak[y0:y1, x0:x1]) - area[i]
        keep[i] = around <= crowd_limit * max((x1 - x0) * (y1 - y0) - area[i], 1)
    return _mark(strong.shape, pixels, keep[owner])


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
    ring, allowed = np.ones((3, 3), np.uint8), weak | kept  # kept never leaves what it may cover
    for _ in range(steps):
        kept = dilate(kept, ring)
        kept &= allowed
    return kept


def _top_hat(gray: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """What an opening by ``kernel`` removes from H×W uint8 ``gray``: bright marks narrower than it."""
    return gray - dilate(erode(gray, kernel), kernel)


def _black_hat(gray: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """What a closing by ``kernel`` fills in H×W uint8 ``gray``: dark marks narrower than it."""
    return erode(dilate(gray, kernel), kernel) - gray


def _half(gray: np.ndarray) -> np.ndarray:
    """H×W uint8 → ⌈H/2⌉×⌈W/2⌉ uint8: the 5-tap binomial blur (1 4 6 4 1)/16 on each axis, mirrored
    at the edges, at every second pixel (a Gaussian pyramid's next level), rounded."""
    taps = np.array([1, 4, 6, 4, 1], np.float32)
    cols = ndimage.correlate1d(gray, taps, axis=1, output=np.uint16, mode="mirror")[:, ::2]
    both = ndimage.correlate1d(cols, taps, axis=0, output=np.uint16, mode="mirror")[::2]
    return ((both + 128) >> 8).astype(np.uint8)


def _components(binary: np.ndarray):
    """8-connected components of H×W ``binary`` → (count incl. the background, 0; flat indices of
    the nonzero pixels; each one's label; (x, y, width, height, area) int64 arrays indexed by
    label, 0 for the background). Later steps work on the listed pixels only: they are few."""
    labels, count = ndimage.label(binary, structure=np.ones((3, 3), bool))
    boxes = np.zeros((count + 1, 4), np.int64)
    for label, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1):
        boxes[label] = cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start
    pixels = np.flatnonzero(binary)
    owner = labels.ravel()[pixels]
    return count + 1, pixels, owner, (*boxes.T, np.bincount(owner, minlength=count + 1))


def _mark(shape: tuple[int, int], pixels: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """H×W uint8 0/1: 1 at the flat ``pixels`` whose ``kept`` (bool, one per pixel) is set."""
    out = np.zeros(shape, np.uint8)
    out.ravel()[pixels[kept]] = 1
    return out


def _polarities(gray: np.ndarray, ring_radius_px: int):
    """(top/black-hat function, ring contrast) for bright then dark marks of H×W uint8 ``gray``.

    Ring contrast: how much brighter (darker) a pixel is than the brightest (darkest) pixel on
    a 1-px ring of ``ring_radius_px`` around it, saturating at 0.
    """
    ring = disc_kernel(ring_radius_px) - np.pad(disc_kernel(ring_radius_px - 1), 1)
    around = dilate(gray, ring)
    yield _top_hat, np.maximum(gray, around) - around  # saturating subtraction
    around = erode(gray, ring)
    yield _black_hat, np.maximum(around, gray) - gray


def detect_damage(image: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY) -> np.ndarray:
    """Propose a damage mask for a scanned photo → H×W uint8, 255 = probably damage, else 0.

    ``image`` is H×W×3 uint8 RGB (gray, sepia or colour; only luminance is used, so a gray
    scan stored as RGB and a toned one behave alike). ``sensitivity`` in [0, 1]: higher flags
    more; every threshold moves monotonically with it, so a higher value gives (nearly) a
    superset of a lower one. Marks narrower than ~5 px (scratches, creases, dust) are found at
    full resolution, compact spots up to ~15 px at half resolution; the mask reaches 1–3 px past
    each mark's core to cover its soft edge. About 0.15 s per megapixel on one core.
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
    gray = np.asarray(Image.fromarray(image).convert("L"))  # ITU-R 601 luma

    # 2. Fine scale: bright and dark marks narrower than the disc, each with its own statistics.
    fine = disc_kernel(_FINE_DISC_PX // 2)
    found = np.zeros((h, w), np.uint8)
    for hat, ring in _polarities(gray, 4):
        found |= _find(hat(gray, fine), ring, th, True, max_speck_px=40, cover_px=2)

    # 3. Coarse scale at half resolution: compact spots too wide for the fine disc.
    if min(h, w) >= 64:
        half = _half(gray)
        coarse = disc_kernel(_COARSE_DISC_PX // 2)
        spots = np.zeros(half.shape, np.uint8)
        th = {**th, "z_strong": th["z_spot"], "crowd": 0.5 * th["crowd"]}
        for hat, ring in _polarities(half, 6):
            spots |= _find(hat(half, coarse), ring, th, False, max_speck_px=60, cover_px=1)
        found |= spots.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]

    # 4. Grow a little: thresholds keep the mark's core, healing needs its soft edge too.
    return grow_mask(found, _COVER_PX)
