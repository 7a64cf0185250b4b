"""Learned restoration models on the CPU or GPU: speed figures, not a pass/fail test.

    python bench/restoration_models.py [--big] [--device cpu|cuda] [--precision fp32|fp16]

Random-weight models in the real architectures (built on the fly, no download):
* upscale: megapixels of input per second, tiled vs untiled, for a small Compact (SRVGG) network,
  a small RRDBNet and the full-size Real-ESRGAN RRDBNet ×4 (23 blocks, 64 filters);
* faces (GFPGAN, full size): one face on a 1 MP photo vs a 24 MP scan;
* fill (LaMa, full size): one hole on a 1 MP photo vs a 24 MP scan;
* the face pass with the diffusion model (the tiny test model, 10 steps at strength 0.35): one face
  box on a 1 MP photo vs a 24 MP scan;
* Find faces (a YuNet-architecture detector through onnxruntime, CPU): a 1 MP photo vs a 24 MP scan
  (both searched at 1280 px; the 24 MP case pays for shrinking the scan). Needs the onnx package.
Ratios are measured in this run. ``--big`` adds the full-size RRDBNet on a 1 MP photo (minutes on a CPU).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def photo(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 110 + 60 * np.sin(xx / (width / 9)) * np.cos(yy / (height / 7)) + 20 * np.sin(xx / 13.0)
    return np.stack([base, base * 0.9, base * 0.7], -1).clip(0, 255).astype(np.uint8)


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="also the full-size RRDBNet on a 1 MP photo")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16"))
    args = parser.parse_args()

    import torch

    import inference  # noqa: F401 - torchvision compatibility before spandrel
    from inference.restoration_models.faces import restore_faces
    from inference.restoration_models.fill import fill_holes
    from inference.restoration_models.model_file import load_restoration_model
    from inference.restoration_models.random_models import make_restoration_test_model
    from inference.restoration_models.tiling import run_tiled

    dtype = torch.float16 if args.precision == "fp16" else torch.float32
    folder = Path(tempfile.mkdtemp(prefix="kiln-bench-"))
    print(f"device {args.device}, {args.precision}, torch threads {torch.get_num_threads()}")

    def load(kind, size, scale=4):
        path = make_restoration_test_model(folder / f"{kind}-{size}-{scale}.safetensors", kind, size, scale)
        model = load_restoration_model(path, device=args.device)
        if dtype != torch.float32:
            model.descriptor.to(dtype)
        return model

    # 1. Upscale: tiled vs untiled
    cases = [("compact", "tiny", 512), ("upscale", "tiny", 512), ("upscale", "full", 128)]
    if args.big:
        cases.append(("upscale", "full", 1024))
    for kind, size, side in cases:
        model = load(kind, size)
        image = photo(side, side)
        mp = side * side / 1e6

        def untiled():
            batch = torch.from_numpy(image).permute(2, 0, 1)[None].to(args.device, dtype) / 255
            with torch.inference_mode():
                model.descriptor(batch)
            if args.device == "cuda":
                torch.cuda.synchronize()

        tile = min(256, side // 2)
        t_untiled = timed(untiled)
        t_tiled = timed(lambda: run_tiled(model.descriptor, image, model.scale, tile=tile, dtype=dtype, device=args.device))
        name = {"compact": "Compact (tiny)", "upscale": f"RRDBNet ({size})"}[kind]
        print(f"upscale ×4 {name:16s} {side}×{side}: untiled {mp / t_untiled:7.3f} MP/s, tiled ({tile} px tiles) "
              f"{mp / t_tiled:7.3f} MP/s, tiled ÷ untiled time {t_tiled / t_untiled:.2f}")

    # 2. Faces and fill: 1 MP vs 24 MP (the work is per face / per hole; the rest is copies)
    face, lama = load("face", "full"), load("fill", "full")
    from inference.restoration_models.face_finder import load_face_finder
    from inference.restoration_models.yunet_architecture import write_face_finder_onnx

    finder = load_face_finder(write_face_finder_onnx(folder / "yunet.onnx"))
    face_pass(photo(256, 256), [(64, 64, 96, 96)])  # loads the diffusion model: not part of the timings
    for label, (w, h) in (("1 MP", (1224, 816)), ("24 MP", (6000, 4000))):
        image = photo(w, h)
        box = [(w // 2 - 100, h // 2 - 120, 200, 240)]
        t_face = timed(lambda: restore_faces(face, image, box, 0.6, device=args.device))
        mask = np.zeros((h, w), np.uint8)
        mask[h // 3:h // 3 + 300, w // 3:w // 3 + 400] = 255
        t_fill = timed(lambda: fill_holes(lama, image, mask, device=args.device))
        t_pass = timed(lambda: face_pass(image, box))
        t_find = timed(lambda: finder.find(image))
        print(f"{label:6s}: restore one face (GFPGAN) {t_face:6.2f} s, fill one 400×300 hole (LaMa) {t_fill:6.2f} s, "
              f"face pass (tiny diffusion model) {t_pass:6.2f} s, find faces (YuNet) {t_find:5.2f} s")


def face_pass(image, boxes) -> None:
    """One face box inpainted at strength 0.35 through the inpainting windows, as the editor does."""
    import threading

    from inference.core.api import GenerationRequest, JobFinished, Mode
    from inference.engine.engine import run_job
    from inference.restoration_models.faces import face_pass_mask

    global _ENGINE
    if _ENGINE is None:
        from inference.engine.engine import Engine
        from inference.models.tiny_model import make_test_model

        _ENGINE = (Engine(), str(make_test_model(Path(tempfile.mkdtemp()) / "tiny")))
    engine, model = _ENGINE
    request = GenerationRequest(job_id=1, mode=Mode.INPAINT, prompt="a face", model_ref=model, image=image,
                                mask=face_pass_mask(boxes, image.shape[:2]), steps=10, strength=0.35)
    final = run_job(engine, request, lambda _event: None, threading.Event())
    assert isinstance(final, JobFinished), final


_ENGINE = None


if __name__ == "__main__":
    main()
