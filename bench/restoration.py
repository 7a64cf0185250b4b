"""Classical restoration quality and speed, measured in one run (a table, not a pass/fail test).

    python bench/restoration.py [--seed 0] [--scale 2] [--big-mp 24]

Real photos (scikit-image's bundled samples) are made into "old print scans": luminance,
enlarged --scale times (a scan resolves finer than the print's own detail), faded, grain added,
alternately left gray or toned sepia. Synthetic damage with a known mask is drawn on top:
thin bright and dark scratches (1–3 px, any angle, slightly curved), dust specks 1–4 px, a few
larger soft spots, and one crease across the frame. Then, per photo and overall:

- detect_damage at DEFAULT_SENSITIVITY: recall over the truly damaged pixels (covered ≥ 35% by
  damage and visibly changed, ≥ 10 gray levels), precision over the flagged pixels, counting a
  flagged pixel as correct if it lies within 2 px of any pixel the damage touched (the detector
  grows its mask to cover soft edges); and the share of pixels flagged on the undamaged scan;
- heal given the true mask (every pixel the damage touched), with its defaults (Telea, 5 px)
  and with Navier–Stokes, vs a blur fill (Gaussian σ 3 px of the unmasked pixels, normalised
  by the blurred weights): mean absolute error in gray levels over the masked pixels;
- seconds per megapixel of detect and heal, and both on one synthetic --big-mp MP scan.

The detector was tuned on other damage seeds (1000–1002) than the default --seed 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from inference.damage import DEFAULT_SENSITIVITY, detect_damage  # noqa: E402
from inference.heal import heal  # noqa: E402
from inference.mask_ops import grow_mask, shrink_mask  # noqa: E402

PHOTOS = ["camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "motorcycle"]
TRUTH_ALPHA = 0.35  # a pixel is "damaged" where the damage layer covers at least this much…
TRUTH_CHANGE = 10.0  # …and changed its luminance by at least this many gray levels (visibly)
FOOTPRINT_ALPHA = 0.05  # any pixel the damage touched: healed, and not a false alarm if flagged
PRECISION_TOLERANCE_PX = 2


def load_photo(name: str) -> np.ndarray:
    """A scikit-image sample → H×W float32 luminance 0..255."""
    import skimage.data

    image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(skimage.data, name)()
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    return image.astype(np.float32)


def old_print(gray: np.ndarray, scale: int, sepia: bool, rng: np.random.Generator) -> np.ndarray:
    """H×W float32 luminance → (H·scale)×(W·scale)×3 float32 RGB 0..255 that looks like a print scan."""
    big = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    faded = 28.0 + 0.8 * np.clip(big, 0, 255)  # lifted blacks, dimmer whites
    grain = cv2.GaussianBlur(rng.normal(0.0, 3.0, faded.shape).astype(np.float32), (0, 0), 0.7)
    value = np.clip(faded + 2.0 * grain, 0, 255)
    tint = np.array([1.07, 0.93, 0.74] if sepia else [1.0, 1.0, 1.0], np.float32)
    return np.clip(value[..., None] * tint, 0, 255)


def _paint(scan: np.ndarray, cover: np.ndarray, alpha_u8: np.ndarray, opacity: float, value: float) -> None:
    """Blend gray ``value`` into ``scan`` where ``alpha_u8`` (drawn anti-aliased) covers, in place."""
    alpha = alpha_u8.astype(np.float32) * (opacity / 255.0)
    scan += alpha[..., None] * (value - scan)
    np.maximum(cover, alpha, out=cover)


def draw_damage(scan: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw damage onto H×W×3 float32 ``scan`` in place → (truth, footprint), H×W bool each.

    ``truth``: pixels covered ≥ TRUTH_ALPHA and visibly changed (≥ TRUTH_CHANGE gray levels; a
    black scratch on a black coat damages nothing). ``footprint``: every pixel the damage touched.
    """
    h, w = scan.shape[:2]
    before = scan.mean(axis=2)
    cover = np.zeros((h, w), np.float32)  # the greatest damage coverage of each pixel, 0..1
    per_mp = h * w / 1e6
    layer = np.zeros((h, w), np.uint8)

    def bright() -> float:
        return float(rng.uniform(215, 255))

    def dark() -> float:
        return float(rng.uniform(5, 45))

    # 1. Scratches: slightly curved polylines, 1–3 px wide, any angle and length.
    for _ in range(max(4, int(14 * per_mp))):
        length = rng.uniform(25, 0.5 * max(h, w))
        angle = rng.uniform(0, np.pi)
        start = rng.uniform([0, 0], [w, h])
        bend = rng.normal(0, 0.06 * length)
        t = np.linspace(0, 1, 16)
        pts = start + np.outer(t, [np.cos(angle), np.sin(angle)]) * length
        pts += np.outer(4 * t * (1 - t) * bend, [-np.sin(angle), np.cos(angle)])
        layer[:] = 0
        cv2.polylines(layer, [np.round(pts * 16).astype(np.int32)], False, 255, int(rng.integers(1, 4)), cv2.LINE_AA, shift=4)
        _paint(scan, cover, layer, rng.uniform(0.55, 1.0), bright() if rng.random() < 0.6 else dark())
    # 2. Dust specks, 1–4 px across.
    for _ in range(max(20, int(60 * per_mp))):
        layer[:] = 0
        centre = np.round(rng.uniform([0, 0], [w, h]) * 16).astype(int)
        radius = rng.uniform(0.5, 2.0)
        cv2.circle(layer, tuple(int(c) for c in centre), int(radius * 16), 255, -1, cv2.LINE_AA, shift=4)
        _paint(scan, cover, layer, rng.uniform(0.6, 1.0), dark() if rng.random() < 0.5 else bright())
    # 3. A few larger soft spots (mould, drops), 6–14 px across.
    for _ in range(max(3, int(6 * per_mp))):
        layer[:] = 0
        centre = tuple(int(c) for c in rng.uniform([0, 0], [w, h]))
        axes = tuple(int(a) for a in rng.uniform(3, 7, 2))
        cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
        layer[:] = cv2.GaussianBlur(layer, (0, 0), 0.8)
        _paint(scan, cover, layer, rng.uniform(0.6, 0.95), bright() if rng.random() < 0.5 else dark())
    # 4. One crease edge to edge: a bright broken-emulsion core with a faint shadow beside it.
    y0, y1 = rng.uniform(0.1, 0.9, 2) * h
    xs = np.linspace(0, w - 1, 40)
    ys = y0 + (y1 - y0) * xs / (w - 1) + np.cumsum(rng.normal(0, 0.6, xs.size))
    pts = np.stack([xs, ys], 1)
    for offset, value, opacity, width in ((0.0, 245.0, 0.8, 2), (2.0, 35.0, 0.45, 1)):
        layer[:] = 0
        cv2.polylines(layer, [np.round((pts + [0, offset]) * 16).astype(np.int32)], False, 255, width, cv2.LINE_AA, shift=4)
        _paint(scan, cover, layer, opacity, value)
    change = np.abs(scan.mean(axis=2) - before)
    return (cover >= TRUTH_ALPHA) & (change >= TRUTH_CHANGE), cover >= FOOTPRINT_ALPHA


def blur_fill(image: np.ndarray, mask: np.ndarray, sigma_px: float = 3.0) -> np.ndarray:
    """Baseline: masked pixels ← Gaussian blur of the unmasked ones, normalised by blurred weights."""
    known = (mask == 0).astype(np.float32)
    out = image.copy()
    filled = np.zeros(image.shape, np.float32)
    todo = mask != 0
    for sigma in (sigma_px, 4 * sigma_px, 16 * sigma_px):  # wider where a spot has no near support
        weight = cv2.GaussianBlur(known, (0, 0), sigma)
        total = cv2.GaussianBlur(image.astype(np.float32) * known[..., None], (0, 0), sigma)
        ok = todo & (weight > 1e-3)
        filled[ok] = total[ok] / weight[ok][..., None]
        todo &= ~ok
    out[mask != 0] = np.clip(filled[mask != 0] + 0.5, 0, 255).astype(np.uint8)
    return out


def mae(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute error in gray levels (all channels) over the pixels of bool ``where``."""
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[where].mean())


def timed(fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def evaluate(name: str, index: int, args, rng: np.random.Generator) -> dict:
    clean_f = old_print(load_photo(name), args.scale, sepia=index % 2 == 1, rng=rng)
    clean = np.clip(clean_f + 0.5, 0, 255).astype(np.uint8)
    damaged_f = clean_f.copy()
    truth, footprint = draw_damage(damaged_f, rng)
    damaged = np.clip(damaged_f + 0.5, 0, 255).astype(np.uint8)
    megapixels = truth.size / 1e6

    predicted, detect_s = timed(detect_damage, damaged)
    predicted = predicted != 0
    near_truth = grow_mask(footprint.astype(np.uint8), PRECISION_TOLERANCE_PX) != 0
    clean_flagged = detect_damage(clean) != 0

    footprint_u8 = footprint.astype(np.uint8) * 255
    healed, heal_s = timed(heal, damaged, footprint_u8)
    healed_ns = cv2.inpaint(damaged, footprint_u8, 5, cv2.INPAINT_NS)  # the fill Heal used to be
    return {
        "photo": f"{name} ({'sepia' if index % 2 else 'gray'})",
        "mp": megapixels,
        "truth_px": int(truth.sum()),
        "tp": int((predicted & truth).sum()),
        "pred_px": int(predicted.sum()),
        "pred_ok": int((predicted & near_truth).sum()),
        "clean_flagged": int(clean_flagged.sum()),
        "footprint_px": int(footprint.sum()),
        "heal_abs": float(np.abs(healed.astype(np.float32) - clean)[footprint].sum()),
        "ns_abs": float(np.abs(healed_ns.astype(np.float32) - clean)[footprint].sum()),
        "blur_abs": float(np.abs(blur_fill(damaged, footprint_u8).astype(np.float32) - clean)[footprint].sum()),
        "detect_s": detect_s,
        "heal_s": heal_s,
    }


def row(r: dict) -> str:
    recall = r["tp"] / max(1, r["truth_px"])
    precision = r["pred_ok"] / max(1, r["pred_px"])
    n = 3 * max(1, r["footprint_px"])
    return (
        f"{r['photo']:<22}{r['mp']:>6.2f}{recall:>8.3f}{precision:>8.3f}{100 * r['clean_flagged'] / (r['mp'] * 1e6):>9.3f}"
        f"{r['heal_abs'] / n:>8.2f}{r['ns_abs'] / n:>8.2f}{r['blur_abs'] / n:>8.2f}"
        f"{r['detect_s'] / r['mp']:>10.3f}{r['heal_s'] / r['mp']:>10.3f}"
    )


def big_scan_timing(megapixels: float, rng: np.random.Generator) -> dict[str, float]:
    """Seconds to detect, to heal the true damage, and to heal the detected mask on one synthetic
    scan of about ``megapixels`` MP (3:2), with its size and mask sizes."""
    w = int(round(np.sqrt(megapixels * 1e6 * 1.5)))
    h = int(round(w / 1.5))
    tile = old_print(load_photo("astronaut"), 4, sepia=True, rng=rng)
    scan = np.tile(tile, (h // tile.shape[0] + 1, w // tile.shape[1] + 1, 1))[:h, :w].copy()
    # A real scan's damage does not grow with resolution: draw it on two 1-MP patches.
    footprint = np.zeros((h, w), bool)
    for top, left in ((0, 0), (h // 2, w // 2)):
        patch = (slice(top, top + h // 4), slice(left, left + w // 6))
        footprint[patch] = draw_damage(scan[patch], rng)[1]
    image = np.clip(scan + 0.5, 0, 255).astype(np.uint8)
    mask, detect_s = timed(detect_damage, image)
    _, heal_true_s = timed(heal, image, footprint.astype(np.uint8) * 255)
    _, heal_detected_s = timed(heal, image, mask)
    _, grow_s = timed(grow_mask, mask, 4)
    _, shrink_s = timed(shrink_mask, mask, 4)
    return {
        "grow_s": grow_s, "shrink_s": shrink_s,
        "mp": h * w / 1e6, "w": w, "h": h, "detect_s": detect_s, "heal_true_s": heal_true_s,
        "true_px": int(footprint.sum()), "heal_detected_s": heal_detected_s, "detected_px": int((mask != 0).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="damage and grain seed (the detector was tuned on 1000+)")
    parser.add_argument("--scale", type=int, default=2, help="scan enlargement of the sample photos")
    parser.add_argument("--big-mp", type=float, default=24.0, help="size of the timing-only scan; 0 skips it")
    parser.add_argument("--photos", nargs="*", default=PHOTOS)
    args = parser.parse_args()
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        sys.exit("bench/restoration.py needs scikit-image for its sample photos: python -m pip install scikit-image")

    cv2.setRNGSeed(args.seed)
    print("\n\n".join(__doc__.split("\n\n")[2:4]).strip())
    print(f"\nseed {args.seed}, scale ×{args.scale}, sensitivity {DEFAULT_SENSITIVITY}, cv2 threads {cv2.getNumThreads()}")
    print("columns: recall, prec(ision), clean% (of pixels flagged without damage); heal / cv-ns / blur: MAE in gray")
    print("levels of heal(), OpenCV's Navier–Stokes inpainting (for reference) and the blur fill; detect / heal: seconds per MP.\n")
    header = (
        f"{'photo':<22}{'MP':>6}{'recall':>8}{'prec':>8}{'clean%':>9}{'heal':>8}{'cv-ns':>8}{'blur':>8}"
        f"{'detect':>10}{'heal':>10}"
    )
    print(header)
    print("-" * len(header))
    results = []
    for index, name in enumerate(args.photos):
        rng = np.random.default_rng([args.seed, index])
        results.append(evaluate(name, index, args, rng))
        print(row(results[-1]), flush=True)
    total = {k: sum(r[k] for r in results) for k in results[0] if k != "photo"}
    print("-" * len(header))
    print(row({"photo": "overall (pixel-pooled)", **total}))
    if args.big_mp > 0:
        t = big_scan_timing(args.big_mp, np.random.default_rng([args.seed, 99]))
        print(
            f"\n{t['w']}×{t['h']} scan ({t['mp']:.1f} MP, astronaut tiled, damage on two 1-MP patches): "
            f"detect {t['detect_s']:.2f} s; heal the true damage ({t['true_px']:,} px) {t['heal_true_s']:.2f} s; "
            f"heal the detected mask ({t['detected_px']:,} px) {t['heal_detected_s']:.2f} s; "
            f"grow / shrink that mask by 4 px {t['grow_s'] * 1000:.0f} / {t['shrink_s'] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
