"""Finding scan damage classically: thin bright or dark marks that the photo itself does not explain.

Scratches, dust specks, creases and small spots on a scanned print are narrow structures much
brighter or darker than their immediate surroundings. Damage scales with the scanning
resolution, so the search runs at a scale relative to the picture: a large scan is reduced to
about one megapixel first (``inference.restore.damage_scale``) and the proposal is redrawn at full
resolution after. There, morphological top-hat (bright) and black-hat (dark) residuals of the
luminance isolate structures narrower than a disc. Each is thresholded in multiples of its
local level (the upper quartile of the residual per 64-px block), so a busy area needs a
stronger mark than a smooth sky and the photo's own grain sets the scale. Connected components
are then kept only if they look like damage: long, thin everywhere and not running along an
edge of the picture (scratch, crease: damage crosses the picture's structure, while a thin
highlight on a rim or the outline of a badge follows it), or small, compact and alone (dust,
spot). Real detail that passes all of that (a wire, a thin highlight on a flat area) is flagged
too: the mask is a proposal to edit.

Components are formed at a few fixed sensitivity levels and judged at the asked one, each test
moving toward "more" as sensitivity rises, so a higher sensitivity never finds less.

Measured by ``bench/restoration.py`` (synthetic damage on real photos made into old prints,
at several scan resolutions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image
from scipy import ndimage

from inference.core.api import DEFAULT_SENSITIVITY
from inference.restore.damage_edges import edge_tests
from inference.restore.damage_scale import picture_without_marks, to_full_resolution, working_scale
from inference.restore.mask_ops import dilate, disc_kernel, erode, grow_mask

_BLOCK_PX = 64  # local statistics are taken per block of this size
_LEVEL_QUANTILE = 75  # percent: the block's residual level, robust to a few marks crossing it
_FINE_DISC_PX = 7  # diameter: marks up to ~5 px wide (scratches, dust) vanish in an opening
_COARSE_DISC_PX = 9  # diameter at half resolution: spots up to ~15 px across
_BRIDGE_PX = 6  # a scratch fading for up to twice this (over a like background) stays one piece
_CONTEXT_PX = 12  # how far around a small mark to look for others like it (texture, not dust)
_COVER_PX = 1  # the final mask is grown by this much so it covers anti-aliased edges too
_REACH_PX = 2  # a mark extends this far into the faint residue around it (its soft edge)
_FORMATION_LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)  # sensitivities at which marks are grouped into components
_EDGE_SHARE = 0.35  # a thin component with this share of its pixels along a picture edge is the picture


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


def _marks(residual: np.ndarray, level: np.ndarray, th: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One residual (H×W uint8) and its ``_block_level`` → (strong, line, weak) marks, each H×W uint8 0/1.

    A pixel is a mark where its residual exceeds z × the local level and a floor in gray levels.
    """
    h, w = residual.shape
    marks = []
    for z, floor in ((th["z_strong"], th["floor"]), (th["z_line"], th["floor"]), (th["z_weak"], 0.6 * th["floor"])):
        # Thresholds vary slowly, so they are made per block and interpolated as bytes: full-size
        # float maps would triple the time of the whole detector.
        block_threshold = np.clip(np.maximum(z * level, floor), 0, 255).astype(np.uint8)
        threshold = np.asarray(Image.fromarray(block_threshold).resize((w, h), Image.BILINEAR))
        marks.append((residual > threshold).view(np.uint8))
    return marks[0], marks[1], marks[2]


def _scratches(candidates: np.ndarray, line: np.ndarray, along_edge, min_length_px: float) -> np.ndarray:
    """Keep long components that are thin everywhere → H×W uint8 0/1 (scratches, creases, hairs).

    ``candidates`` are ``line`` marks extended through weak ones. A component is kept if it
    spans ``min_length_px``, if hardly any of it survives an erosion by a 7-px disc (unlike
    area ÷ length, that holds for curved scratches and for several that cross), if most of it
    is ``line`` marks (lace-like texture reached through weak pixels is mostly weak), and if
    most of it does not run along an edge of the picture: ``along_edge(flat indices)`` → bool.
    """
    count, pixels, owner, (_x, _y, w, h, area) = _components(candidates)
    length = np.hypot(w, h)
    thick = np.bincount(owner[erode(line, disc_kernel(3), border=0).ravel()[pixels] != 0], minlength=count)
    sure = np.bincount(owner[line.ravel()[pixels] != 0], minlength=count)  # every line mark is a candidate
    keep = (length >= min_length_px) & (thick <= 0.05 * area) & (sure >= 0.75 * area)
    judged = keep[owner]  # only the components still in the running are looked at along their length
    edged = np.bincount(owner[judged][along_edge(pixels[judged])], minlength=count)
    keep &= edged < _EDGE_SHARE * area
    return _mark(candidates.shape, pixels, keep[owner])


def _specks(strong: np.ndarray, weak: np.ndarray, residual: np.ndarray, ring_contrast: np.ndarray, crowd_limit: float, max_area_px: int) -> np.ndarray:
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


def _find(polarity: "_Polarity", sensitivity: float, scratches: bool, max_speck_px: int, cover_px: int) -> tuple[np.ndarray, np.ndarray]:
    """One polarity → (H×W uint8 0/1 found, H×W uint8 0/1 weak marks at full sensitivity).

    Marks are grouped into components at each of ``_FORMATION_LEVELS`` up to ``sensitivity``
    and judged with the thresholds of ``sensitivity``; found are the specks (and scratches if
    asked) of all of them, each extended ``cover_px`` into the weak marks around it. Every set
    here grows with ``sensitivity``: so does the result.
    """
    th = polarity.thresholds(sensitivity)
    found = np.zeros(polarity.residual.shape, np.uint8)
    for level in (g for g in _FORMATION_LEVELS if g <= sensitivity):
        strong, line, weak = _marks(polarity.residual, polarity.level, polarity.thresholds(level))
        found |= _specks(strong, weak, polarity.residual, polarity.ring_contrast, th["crowd"], max_speck_px)
        if scratches:
            found |= _scratches(_extend(line, weak, _BRIDGE_PX), line, polarity.along_edge, th["scratch_px"])
    weak = _marks(polarity.residual, polarity.level, th)[2]
    everything = _marks(polarity.residual, polarity.level, polarity.thresholds(1.0))[2]
    return _extend(found, weak, cover_px), everything


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


@dataclass(frozen=True)
class _Polarity:
    """What the tests need of one polarity (bright or dark marks) at one scale, H×W each."""

    residual: np.ndarray  # uint8: the top-hat (bright) or black-hat (dark) of the luminance
    ring_contrast: np.ndarray  # uint8: how far a pixel stands out from a whole ring around it
    level: np.ndarray  # float32 hb×wb: ``_block_level`` of the residual
    along_edge: Callable[[np.ndarray], np.ndarray]  # flat indices → bool: on an edge of the picture, along it
    thresholds: Callable[[float], dict[str, float]]  # sensitivity → thresholds at this scale


def _polarities(gray: np.ndarray, kernel: np.ndarray, ring_radius_px: int, thresholds) -> list[_Polarity]:
    """Bright then dark marks of H×W uint8 ``gray`` narrower than ``kernel``.

    Ring contrast: how much brighter (darker) a pixel is than the brightest (darkest) pixel on
    a 1-px ring of ``ring_radius_px`` around it, saturating at 0.
    """
    ring = disc_kernel(ring_radius_px) - np.pad(disc_kernel(ring_radius_px - 1), 1)
    residuals = [_top_hat(gray, kernel), _black_hat(gray, kernel)]
    # The picture without thin marks of either polarity (the closing of the opening): a crease's
    # dark shadow beside its bright core must not pass for an edge of the picture.
    background = _black_hat(gray - residuals[0], kernel) + (gray - residuals[0])
    out = []
    for bright, residual, along_edge in zip((True, False), residuals, edge_tests(gray, residuals, background)):
        around = dilate(gray, ring) if bright else erode(gray, ring)
        contrast = np.maximum(gray, around) - around if bright else np.maximum(around, gray) - gray
        out.append(_Polarity(residual, contrast, _block_level(residual), along_edge, thresholds))
    return out


def _search(gray: np.ndarray, sensitivity: float, reach_px: int) -> tuple[np.ndarray, np.ndarray]:
    """H×W uint8 luminance at the working scale → (H×W uint8 0/1 damage, H×W bool: anything
    that might be a mark at any sensitivity, left out when the picture around marks is taken).

    Each mark reaches ``reach_px`` (half that for spots) into the faint residue around it.
    """
    h, w = gray.shape

    # 1. Fine scale: bright and dark marks narrower than the disc, each with its own statistics.
    found = np.zeros((h, w), np.uint8)
    anything = np.zeros((h, w), np.uint8)
    for polarity in _polarities(gray, disc_kernel(_FINE_DISC_PX // 2), 4, _thresholds):
        marks, weak = _find(polarity, sensitivity, True, max_speck_px=40, cover_px=reach_px)
        found |= marks
        anything |= weak

    # 2. Coarse scale at half resolution: compact spots too wide for the fine disc.
    if min(h, w) >= 64:
        half = _half(gray)
        spots, weak_spots = np.zeros(half.shape, np.uint8), np.zeros(half.shape, np.uint8)

        def coarse(s: float) -> dict[str, float]:
            th = _thresholds(s)
            return {**th, "z_strong": th["z_spot"], "crowd": 0.5 * th["crowd"]}

        for polarity in _polarities(half, disc_kernel(_COARSE_DISC_PX // 2), 6, coarse):
            marks, weak = _find(polarity, sensitivity, False, max_speck_px=60, cover_px=reach_px // 2)
            spots |= marks
            weak_spots |= weak
        found |= spots.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]
        anything |= weak_spots.repeat(2, axis=0).repeat(2, axis=1)[:h, :w]
    return found, anything != 0


def detect_damage(image: np.ndarray, sensitivity: float = DEFAULT_SENSITIVITY) -> np.ndarray:
    """Propose a damage mask for a scanned photo → H×W uint8, 255 = probably damage, else 0.

    ``image`` is H×W×3 uint8 RGB (gray, sepia or colour; only luminance is used, so a gray
    scan stored as RGB and a toned one behave alike). ``sensitivity`` in [0, 1]: higher flags
    more, and never less: the mask at a higher value contains the mask at a lower one.

    The search works at a scale relative to the picture, as damage on a print scales with the
    scanning resolution: a scan larger than about 1.5 MP is searched reduced to about 1 MP, so
    the same print finds the same damage whether scanned at 1 MP or at 24 MP. At that working
    scale marks narrower than ~5 px (scratches, creases, dust) are found directly and compact
    spots up to ~15 px at half of it: on a 24-MP scan that is scratches up to ~25 px wide and
    spots up to ~70 px. The mask is then redrawn at full resolution along each mark's outline
    and reaches a little past it to cover its soft edge. Long thin marks that run along an edge
    of the picture (a highlight on a rim, a dark outline) are taken for the picture, not damage.
    About 0.3–0.5 s per scan of any size above 1 MP on one core, plus ~0.05 s per megapixel.
    Raises ``ValueError`` for a bad image or sensitivity.
    """
    # 1. Check inputs.
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an H×W×3 uint8 array, got {got}.")
    if not (isinstance(sensitivity, (int, float, np.integer, np.floating)) and 0.0 <= sensitivity <= 1.0):
        raise ValueError(f"sensitivity must be a number from 0 to 1, got {sensitivity!r}.")
    gray = np.asarray(Image.fromarray(image).convert("L"))  # ITU-R 601 luma

    # 2. Search at the working scale.
    work, factor = working_scale(gray)
    # Reduced, a mark's faint rim is found again at full resolution; reaching into the faint
    # residue around it would only add the texture beside it.
    found, anything = _search(work, float(sensitivity), _REACH_PX if factor == 1.0 else 0)
    if factor == 1.0:
        # 3. Grow a little: thresholds keep the mark's core, healing needs its soft edge too.
        return grow_mask(found, _COVER_PX)

    # 3. Redraw at full resolution; the soft edge of a mark widens with the resolution too.
    return to_full_resolution(gray, found, picture_without_marks(work, anything), cover_px=_COVER_PX * factor / 2)
