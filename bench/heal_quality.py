"""Heal quality and speed against OpenCV's inpainting, measured in one run (a table, not a test).

    python bench/heal_quality.py [--seed 0] [--scale 2] [--photos camera astronaut ...]

The scans are bench/restoration.py's: scikit-image's sample photos made into old print scans
(luminance, enlarged --scale times, faded, grain, alternately gray or sepia). On each, one kind of
damage at a time is drawn anti-aliased with a known footprint (every pixel it touched), and the
footprint is filled by ``inference.restore.heal.heal`` and by ``cv2.inpaint`` (Telea, and Navier–Stokes,
both with a 5-px radius, on the whole scan). Per kind, pooled over the photos: PSNR and mean
absolute error in gray levels (all channels) over the mask, against the undamaged scan, and
the seconds each fill took in all. Twice: with the footprint itself as the mask (its edge
pixels are up to 5% damaged, which a fill that continues gradients carries inward), and with
it grown by 1 px, as the damage detector grows its masks to cover soft edges.

Kinds: specks (dust, 1–4 px), scratches (1–3 px wide, any angle, slightly curved), spots (soft
blobs 6–14 px across) and blotches (solid 30–60 px patches, far beyond what OpenCV's methods or a
heal are for: a check that large holes stay plausible and fast).
OpenCV is needed for the comparison only: python -m pip install opencv-python-headless
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from inference.restore.heal import heal  # noqa: E402
from inference.restore.mask_ops import grow_mask  # noqa: E402

FOOTPRINT_ALPHA = 0.05  # a pixel the damage touched at all belongs to the mask


def _layer_paint(scan: np.ndarray, cover: np.ndarray, layer: np.ndarray, opacity: float, value: float) -> None:
    """Blend gray ``value`` into H×W×3 float32 ``scan`` where uint8 ``layer`` covers, in place."""
    alpha = layer.astype(np.float32) * (opacity / 255.0)
    scan += alpha[..., None] * (value - scan)
    np.maximum(cover, alpha, out=cover)


def draw(kind: str, scan: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one kind of damage onto ``scan`` (H×W×3 float32, in place) → H×W uint8 mask (255 = touched)."""
    import cv2

    h, w = scan.shape[:2]
    per_mp = h * w / 1e6
    cover = np.zeros((h, w), np.float32)
    layer = np.zeros((h, w), np.uint8)

    def value() -> float:
        return float(rng.uniform(215, 255) if rng.random() < 0.5 else rng.uniform(5, 45))

    if kind == "specks":
        for _ in range(int(150 * per_mp)):
            layer[:] = 0
            centre = np.round(rng.uniform([0, 0], [w, h]) * 16).astype(int)
            cv2.circle(layer, tuple(int(c) for c in centre), int(rng.uniform(0.5, 2.0) * 16), 255, -1, cv2.LINE_AA, shift=4)
            _layer_paint(scan, cover, layer, rng.uniform(0.6, 1.0), value())
    elif kind == "scratches":
        for _ in range(int(14 * per_mp)):
            length = rng.uniform(25, 0.5 * max(h, w))
            angle = rng.uniform(0, np.pi)
            start = rng.uniform([0, 0], [w, h])
            t = np.linspace(0, 1, 16)
            pts = start + np.outer(t, [np.cos(angle), np.sin(angle)]) * length
            pts += np.outer(4 * t * (1 - t) * rng.normal(0, 0.06 * length), [-np.sin(angle), np.cos(angle)])
            layer[:] = 0
            cv2.polylines(layer, [np.round(pts * 16).astype(np.int32)], False, 255, int(rng.integers(1, 4)), cv2.LINE_AA, shift=4)
            _layer_paint(scan, cover, layer, rng.uniform(0.55, 1.0), value())
    elif kind == "spots":
        for _ in range(int(20 * per_mp)):
            layer[:] = 0
            centre = tuple(int(c) for c in rng.uniform([0, 0], [w, h]))
            axes = tuple(int(a) for a in rng.uniform(3, 7, 2))
            cv2.ellipse(layer, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1, cv2.LINE_AA)
            layer[:] = cv2.GaussianBlur(layer, (0, 0), 0.8)
            _layer_paint(scan, cover, layer, rng.uniform(0.6, 0.95), value())
    elif kind == "blotches":
        for _ in range(max(2, int(3 * per_mp))):
            layer[:] = 0
            x, y = (int(c) for c in rng.uniform([0, 0], [w - 60, h - 60]))
            sx, sy = (int(s) for s in rng.uniform(30, 60, 2))
            layer[y : y + sy, x : x + sx] = 255
            _layer_paint(scan, cover, layer, 1.0, value())
    return np.where(cover >= FOOTPRINT_ALPHA, np.uint8(255), np.uint8(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="scan enlargement of the sample photos")
    parser.add_argument("--photos", nargs="*", default=None, help="scikit-image sample names (default: all of bench/restoration.py's)")
    args = parser.parse_args()
    try:
        import cv2
        import skimage.data  # noqa: F401
    except ImportError:
        sys.exit("bench/heal_quality.py needs OpenCV (the comparison) and scikit-image (the photos):\n"
                 "    python -m pip install opencv-python-headless scikit-image")
    from restoration import PHOTOS, load_photo, old_print

    cv2.setNumThreads(1)  # as the product's fill runs: one core
    methods = {
        "heal": heal,
        "cv2 Telea": lambda image, mask: cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA),
        "cv2 NS": lambda image, mask: cv2.inpaint(image, mask, 5, cv2.INPAINT_NS),
    }
    kinds = ("specks", "scratches", "spots", "blotches")
    grows = (0, 1)
    # Per mask growth, kind and method: squared error, absolute error, values compared, seconds.
    totals = {(g, k, m): np.zeros(4) for g in grows for k in kinds for m in methods}
    masked = {(g, k): 0 for g in grows for k in kinds}
    photos = args.photos or PHOTOS
    print(f"seed {args.seed}, scale ×{args.scale}, photos: {', '.join(photos)}")
    for index, name in enumerate(photos):
        clean_f = old_print(load_photo(name), args.scale, sepia=index % 2 == 1, rng=np.random.default_rng([args.seed, index]))
        clean = np.clip(clean_f + 0.5, 0, 255).astype(np.uint8)
        for kind_index, kind in enumerate(kinds):
            damaged_f = clean_f.copy()
            footprint = draw(kind, damaged_f, np.random.default_rng([args.seed, index, kind_index]))
            damaged = np.clip(damaged_f + 0.5, 0, 255).astype(np.uint8)
            for grow in grows:
                mask = grow_mask(footprint, grow)
                inside = mask != 0
                masked[grow, kind] += int(inside.sum())
                for method, fill in methods.items():
                    started = time.perf_counter()
                    filled = fill(damaged, mask)
                    seconds = time.perf_counter() - started
                    error = filled.astype(np.float64)[inside] - clean[inside]
                    totals[grow, kind, method] += (np.square(error).sum(), np.abs(error).sum(), error.size, seconds)
        print(f"  {name} ({clean.shape[1]}×{clean.shape[0]}) done", flush=True)

    for grow in grows:
        mask_name = "the damage's footprint" if grow == 0 else f"the footprint grown by {grow} px"
        print(f"\nMask: {mask_name}. PSNR (dB) and mean absolute error (gray levels) inside the mask,")
        print("seconds in all; pooled over the photos")
        header = f"{'damage':<11}{'masked px':>11}" + "".join(f"{m:>26}" for m in methods)
        print(header)
        print(f"{'':<22}" + "".join(f"{'PSNR    MAE   time':>26}" for _ in methods))
        print("-" * len(header))
        for kind in kinds:
            row = f"{kind:<11}{masked[grow, kind]:>11,}"
            for method in methods:
                squared, absolute, n, seconds = totals[grow, kind, method]
                row += f"{10 * np.log10(255**2 / (squared / n)):>14.2f}{absolute / n:>6.2f}{seconds:>6.2f}s"
            print(row)


if __name__ == "__main__":
    main()
