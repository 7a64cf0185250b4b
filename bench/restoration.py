"""Classical restoration quality and speed, measured in one run (a table, not a pass/fail test).

    python bench/restoration.py [--seed 0] [--mp 1 6 24] [--photos astronaut coffee chelsea]

Real photos (scikit-image's bundled samples) are made into "old print scans" at several scan
resolutions (--mp, megapixels): luminance enlarged to that size, faded, scanner grain added,
alternately left gray or toned sepia. The same damage is drawn on the same print at every
resolution, its size in proportion to the picture (as damage on a real print scales with the
scanning resolution); sizes below are at 1 MP and grow with √MP:

- speck: dust specks 1–4 px across and a few soft spots (mould, drops) 6–14 px across;
- scratch: thin bright and dark scratches 1–3 px wide, any angle, slightly curved;
- crease: one crease edge to edge, a bright broken-emulsion core with a faint shadow beside it.

Per resolution, detect_damage at DEFAULT_SENSITIVITY is scored on the print with all damage:
recall over the truly damaged pixels (covered ≥ 35% by damage and visibly changed, ≥ 10 gray
levels), per kind and overall; precision over the flagged pixels, a flagged pixel counting as
correct within 2 px (× √MP) of any pixel the damage touched; "edges": the share of flagged
pixels on the clean photo's strong edges (gradient ≥ EDGE_GRAY_PER_PX gray levels per 1-MP
pixel; "chance" is the share of the true damage on them, where damage that lands on an edge
must be flagged); "clean%": pixels flagged on the undamaged print. Precision per kind comes from
prints carrying that kind only. Then the mask area over sensitivity (it must never shrink), the
seconds per detection, and heal()'s error on the 1-MP prints given the true mask (MAE in gray
levels over the masked pixels, against a blur fill).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from inference.restore.damage import DEFAULT_SENSITIVITY, detect_damage  # noqa: E402
from inference.restore.heal import heal  # noqa: E402
from inference.restore.mask_ops import grow_mask  # noqa: E402

PHOTOS = ["astronaut", "coffee", "chelsea"]
KINDS = ("speck", "scratch", "crease")
SENSITIVITIES = (0.2, 0.5, 0.8, 1.0)
TRUTH_ALPHA = 0.35  # a pixel is "damaged" where the damage layer covers at least this much…
TRUTH_CHANGE = 10.0  # …and changed its luminance by at least this many gray levels (visibly)
FOOTPRINT_ALPHA = 0.05  # any pixel the damage touched: healed, and not a false alarm if flagged
PRECISION_TOLERANCE_PX = 2  # at 1 MP; × √MP at other resolutions
EDGE_GRAY_PER_PX = 12.0  # a strong edge: luminance gradient (σ 1 px) at 1 MP


def load_photo(name: str) -> np.ndarray:
    """A scikit-image sample → H×W float32 luminance 0..255."""
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    return image.astype(np.float32)


def old_print(gray: np.ndarray, megapixels: float, sepia: bool, rng: np.random.Generator) -> np.ndarray:
    """H×W float32 luminance → about ``megapixels`` MP H'×W'×3 float32 RGB 0..255, a print scan."""
    factor = np.sqrt(megapixels * 1e6 / gray.size)
    size = (int(round(gray.shape[1] * factor)), int(round(gray.shape[0] * factor)))
    big = cv2.resize(gray, size, interpolation=cv2.INTER_CUBIC)
    faded = 28.0 + 0.8 * np.clip(big, 0, 255)  # lifted blacks, dimmer whites
    grain = cv2.GaussianBlur(rng.normal(0.0, 3.0, faded.shape).astype(np.float32), (0, 0), 0.7)
    value = np.clip(faded + 2.0 * grain, 0, 255)
    tint = np.array([1.07, 0.93, 0.74] if sepia else [1.0, 1.0, 1.0], np.float32)
    return np.clip(value[..., None] * tint, 0, 255)


def draw_damage(scan: np.ndarray, seed: int, kinds=KINDS) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Draw the print's damage onto H×W×3 float32 ``scan`` in place → ({kind: truth}, footprint).

    The damage depends on ``seed`` only, in picture-relative units: the same at any resolution.
    ``truth``: H×W bool, pixels covered ≥ TRUTH_ALPHA by that kind and visibly changed (≥
    TRUTH_CHANGE gray levels; a black scratch on a black coat damages nothing). ``footprint``:
    H×W bool, every pixel any damage touched.
    """
    rng = np.random.default_rng(seed)
    h, w = scan.shape[:2]
    k = np.sqrt(h * w / 1e6)  # damage sizes below are at 1 MP
    before = scan.mean(axis=2)
    cover = {kind: np.zeros((h, w), np.float32) for kind in KINDS}  # greatest coverage, 0..1
    layer = np.zeros((h, w), np.uint8)
    frame = np.array([w, h], np.float64)

    def paint(kind: str, opacity: float, value: float) -> None:
        if kind in kinds:
            alpha = layer.astype(np.float32) * (opacity / 255.0)
            scan[...] += alpha[..., None] * (value - scan)
            np.maximum(cover[kind], alpha, out=cover[kind])

    def tone(bright: bool) -> float:
        return float(rng.uniform(215, 255) if bright else rng.uniform(5, 45))

    def fixed(points: np.ndarray) -> np.ndarray:
        return np.round(points * 16).astype(np.int32)  # cv2's 4 fractional bits

    # 1. Scratches: slightly curved polylines, 1–3 px wide at 1 MP, any angle and length.
    for _ in range(14):
        length, angle = rng.uniform(0.025, 0.5), rng.uniform(0, np.pi)
        start, bend = rng.uniform(0, 1, 2) * frame, rng.normal(0, 0.06 * length)
        t = np.linspace(0, 1, 16)
        along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
        pts = start + np.outer(t * length, along) * max(h, w) + np.outer(4 * t * (1 - t) * bend * max(h, w), across)
        width, opacity, bright = rng.uniform(1, 3), rng.uniform(0.55, 1.0), rng.random() < 0.6
        layer[:] = 0
        cv2.polylines(layer, [fixed(pts)], False, 255, max(1, int(round(width * k))), cv2.LINE_AA, shift=4)
        paint("scratch", opacity, tone(bright))
    # 2. Dust specks, 1–4 px across at 1 MP, and larger soft spots 6–14 px across.
    for i in range(66):
        centre, opacity, bright = rng.uniform(0, 1, 2) * frame, rng.uniform(0.6, 1.0), rng.random() < 0.5
        layer[:] = 0
        if i < 60:
            cv2.circle(layer, tuple(int(c) for c in fixed(centre)), int(rng.uniform(0.5, 2.0) * k * 16), 255, -1, cv2.LINE_AA, shift=4)
        else:
            axes = tuple(int(a * k) for a in rng.uniform(3, 7, 2))
            cv2.ellipse(layer, tuple(int(c) for c in centre), axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
            layer[:] = cv2.GaussianBlur(layer, (0, 0), 0.8 * k)
        paint("speck", opacity, tone(bright))
    # 3. One crease edge to edge: a bright core with a faint shadow beside it.
    y0, y1 = rng.uniform(0.1, 0.9, 2) * h
    xs = np.linspace(0, w - 1, 40)
    ys = y0 + (y1 - y0) * xs / (w - 1) + np.cumsum(rng.normal(0, 0.6, xs.size)) * k
    for offset, value, opacity, width in ((0.0, 245.0, 0.8, 2), (2.0, 35.0, 0.45, 1)):
        layer[:] = 0
        pts = np.stack([xs, ys + offset * k], 1)
        cv2.polylines(layer, [fixed(pts)], False, 255, max(1, int(round(width * k))), cv2.LINE_AA, shift=4)
        paint("crease", opacity, value)
    visible = np.abs(scan.mean(axis=2) - before) >= TRUTH_CHANGE
    truth = {kind: (cover[kind] >= TRUTH_ALPHA) & visible for kind in kinds}
    footprint = np.maximum.reduce([cover[kind] for kind in kinds]) >= FOOTPRINT_ALPHA
    return truth, footprint


def strong_edges(clean: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 clean print → H×W bool: its strong edges, measured at a 1-MP scale."""
    gray = cv2.cvtColor(clean, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    k = np.sqrt(h * w / 1e6)
    small = cv2.resize(gray, (int(round(w / k)), int(round(h / k))), interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    magnitude = np.hypot(cv2.Sobel(small, cv2.CV_32F, 1, 0), cv2.Sobel(small, cv2.CV_32F, 0, 1)) / 8.0
    return cv2.resize((magnitude >= EDGE_GRAY_PER_PX).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) != 0


def to_u8(scan: np.ndarray) -> np.ndarray:
    return np.clip(scan + 0.5, 0, 255).astype(np.uint8)


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def blur_fill(image: np.ndarray, mask: np.ndarray, sigma_px: float = 3.0) -> np.ndarray:
    """Baseline: masked pixels ← Gaussian blur of the unmasked ones, normalised by blurred weights."""
    known = (mask == 0).astype(np.float32)
    filled = np.zeros(image.shape, np.float32)
    todo = mask != 0
    for sigma in (sigma_px, 4 * sigma_px, 16 * sigma_px):  # wider where a spot has no near support
        weight = cv2.GaussianBlur(known, (0, 0), sigma)
        total = cv2.GaussianBlur(image.astype(np.float32) * known[..., None], (0, 0), sigma)
        ok = todo & (weight > 1e-3)
        filled[ok] = total[ok] / weight[ok][..., None]
        todo &= ~ok
    out = image.copy()
    out[mask != 0] = to_u8(filled[mask != 0])
    return out


def evaluate(photo: str, index: int, megapixels: float, args) -> dict:
    """Every figure of one print at one resolution, as pixel counts to be pooled over photos."""
    seed = args.seed * 1000 + index
    clean_f = old_print(load_photo(photo), megapixels, sepia=index % 2 == 1, rng=np.random.default_rng(seed))
    clean = to_u8(clean_f)
    damaged_f = clean_f.copy()
    truth, footprint = draw_damage(damaged_f, seed)
    damaged = to_u8(damaged_f)
    tolerance_px = PRECISION_TOLERANCE_PX * np.sqrt(clean.shape[0] * clean.shape[1] / 1e6)
    edges = strong_edges(clean)
    all_truth = np.logical_or.reduce(list(truth.values()))
    out = {"px": clean.shape[0] * clean.shape[1], "truth_on_edges": int((all_truth & edges).sum()), "truth": int(all_truth.sum())}

    def score(mask: np.ndarray, footprint: np.ndarray, key: str) -> np.ndarray:
        flagged = mask != 0
        out[f"{key}_flagged"] = int(flagged.sum())
        out[f"{key}_near"] = int((flagged & (grow_mask(footprint.astype(np.uint8), tolerance_px) != 0)).sum())
        return flagged

    for s in SENSITIVITIES:
        mask, seconds = timed(detect_damage, damaged, s)
        flagged = score(mask, footprint, f"s{s}")
        out[f"s{s}_tp"] = int((flagged & all_truth).sum())
        if s == DEFAULT_SENSITIVITY:
            out["detect_s"] = seconds
            out["on_edges"] = int((flagged & edges).sum())
            for kind in KINDS:
                out[f"{kind}_truth"], out[f"{kind}_tp"] = int(truth[kind].sum()), int((flagged & truth[kind]).sum())
    out["clean_flagged"] = int((detect_damage(clean) != 0).sum())
    for kind in KINDS:  # precision per kind: the print with that kind of damage only
        alone_f = clean_f.copy()
        _, alone_footprint = draw_damage(alone_f, seed, kinds=(kind,))
        score(detect_damage(to_u8(alone_f)), alone_footprint, kind)
    if megapixels <= 1.5:
        footprint_u8 = footprint.astype(np.uint8) * 255
        n = 3 * max(1, int(footprint.sum()))
        out["heal_abs"] = float(np.abs(heal(damaged, footprint_u8).astype(np.float32) - clean)[footprint].sum()) / n
        out["blur_abs"] = float(np.abs(blur_fill(damaged, footprint_u8).astype(np.float32) - clean)[footprint].sum()) / n
    return out


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def report(megapixels: float, results: list[dict]) -> None:
    """One resolution's table rows, pooled over photos (sums of pixel counts)."""
    t = {k: sum(r.get(k, 0) for r in results) for k in results[0]}
    d = DEFAULT_SENSITIVITY
    print(
        f"{megapixels:>5.1f} MP  recall {ratio(t[f's{d}_tp'], t['truth']):.3f}  precision "
        f"{ratio(t[f's{d}_near'], t[f's{d}_flagged']):.3f}  edges {ratio(t['on_edges'], t[f's{d}_flagged']):.3f} "
        f"(chance {ratio(t['truth_on_edges'], t['truth']):.3f})  clean% {100 * t['clean_flagged'] / t['px']:.3f}  "
        f"detect {t['detect_s'] / len(results):.2f} s per print ({t['px'] / len(results) / 1e6:.1f} MP)"
    )
    for kind in KINDS:
        print(
            f"         {kind:<8} recall {ratio(t[f'{kind}_tp'], t[f'{kind}_truth']):.3f}  precision "
            f"{ratio(t[f'{kind}_near'], t[f'{kind}_flagged']):.3f}"
        )
    curve = [t[f"s{s}_flagged"] for s in SENSITIVITIES]
    steps = ", ".join(
        f"{s}: {t[f's{s}_flagged']:,} px (recall {ratio(t[f's{s}_tp'], t['truth']):.3f}, precision "
        f"{ratio(t[f's{s}_near'], t[f's{s}_flagged']):.3f})"
        for s in SENSITIVITIES
    )
    print(f"         sensitivity {steps}; {'monotonic' if curve == sorted(curve) else 'NOT MONOTONIC'}")
    if "heal_abs" in t:
        print(f"         heal MAE {t['heal_abs'] / len(results):.2f} gray levels (blur fill {t['blur_abs'] / len(results):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="damage and grain seed")
    parser.add_argument("--mp", type=float, nargs="*", default=[1.0, 6.0, 24.0], help="scan resolutions, megapixels")
    parser.add_argument("--photos", nargs="*", default=PHOTOS)
    args = parser.parse_args()
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        sys.exit("bench/restoration.py needs scikit-image for its sample photos: python -m pip install scikit-image")
    cv2.setNumThreads(1)
    print(__doc__.split("\n\n", 2)[2].strip())
    print(f"\nseed {args.seed}, photos {', '.join(args.photos)}, default sensitivity {DEFAULT_SENSITIVITY}\n")
    for megapixels in args.mp:
        report(megapixels, [evaluate(photo, index, megapixels, args) for index, photo in enumerate(args.photos)])


if __name__ == "__main__":
    main()
