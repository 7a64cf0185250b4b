"""A Kiln server and a cluster batch on this machine: overheads, not a pass/fail test.

    python bench/remote.py [--photos 60] [--steps 10] [--side 256] [--gpu]

1. remote ÷ local time of the same tiny-model text-to-image job, the server on a local Ray Serve
   over loopback (the median of 5 runs each, after one warm-up that loads the model);
2. per-photo time of ``restore --detect --upscale`` (Compact ×2) on ``--photos`` small scans,
   locally and with ``--cluster`` on 2 workers (Ray's start and the workers' model loads are
   counted apart, as a real batch of thousands of photos amortises them).
3. a live-mode stroke → image: image-to-image of a ``--side`` picture at 4 steps and strength 0.6,
   remote ÷ local (what live mode runs after each stroke).
Ratios come from this run; this machine's two cores are shared by the server, the workers and
the client, so near 1 is the expectation, and the figures matter for planning real clusters.
``--gpu``: the server's replica holds one GPU and the local engine uses it too (a CUDA machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=60)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--gpu", action="store_true", help="the replica and the local engine on the GPU")
    args = parser.parse_args()

    import inference  # noqa: F401
    import torch

    torch.set_num_threads(1)  # as the server's replica: the same sums, a fair comparison
    from inference.cli.generate import run_one_job
    from inference.core.api import GenerationRequest, JobFinished, Mode
    from inference.engine.engine import Engine
    from inference.models.tiny_model import make_test_model
    from inference.remote.client import ServerClient, run_remote_job
    from inference.restoration_models.random_models import make_restoration_test_model
    from kiln_server import TOKEN, start_kiln_server, stop_kiln_server

    folder = Path(tempfile.mkdtemp(prefix="kiln-bench-remote-"))
    model = make_test_model(folder / "tiny")
    upscaler = make_restoration_test_model(folder / "compact-x2.safetensors", "compact", "tiny", scale=2)
    started = time.perf_counter()
    url = start_kiln_server([model], gpus_per_replica=1.0 if args.gpu else 0.0)
    print(f"Ray and Serve started in {time.perf_counter() - started:.1f} s")

    # 1. One job, here and on the server
    request = GenerationRequest(job_id=0, mode=Mode.TXT2IMG, prompt="a harbour", model_ref="tiny", steps=args.steps,
                                width_px=args.side, height_px=args.side, seed=1)
    client, engine = ServerClient(url, TOKEN), Engine()
    local_request = GenerationRequest(**{**request.__dict__, "model_ref": str(model)})

    def remote():
        assert isinstance(run_one_job(client, request, lambda _e: None, threading.Event(), run=run_remote_job),
                          JobFinished)

    def local():
        assert isinstance(run_one_job(engine, local_request, lambda _e: None, threading.Event()), JobFinished)

    remote(), local()  # warm-up: loads the model on each side
    t_remote = statistics.median(timed(remote) for _ in range(5))
    t_local = statistics.median(timed(local) for _ in range(5))
    print(f"txt2img {args.side}×{args.side}, {args.steps} steps, tiny model: local {t_local:.2f} s, remote over "
          f"loopback {t_remote:.2f} s, remote ÷ local {t_remote / t_local:.2f}")
    import numpy as np

    stroke = GenerationRequest(job_id=0, mode=Mode.IMG2IMG, prompt="a harbour", model_ref="tiny", steps=4,
                               strength=0.6, image=np.full((args.side, args.side, 3), 120, np.uint8),
                               width_px=args.side, height_px=args.side, seed=2)
    request, local_request = stroke, GenerationRequest(**{**stroke.__dict__, "model_ref": str(model)})
    remote(), local()
    t_remote = statistics.median(timed(remote) for _ in range(5))
    t_local = statistics.median(timed(local) for _ in range(5))
    print(f"live stroke → image (img2img {args.side}², 4 steps, strength 0.6): local {t_local:.2f} s, remote "
          f"{t_remote:.2f} s, remote ÷ local {t_remote / t_local:.2f}")

    # 2. A batch, here and on the cluster
    import main
    from PIL import Image

    from photos import scan

    scans = folder / "scans"
    scans.mkdir()
    for i in range(args.photos):
        Image.fromarray(scan(i % 17, size=(160, 120))).save(scans / f"p{i:04d}.png")
    recipe = ["--detect", "--upscale", str(upscaler), "--scale", "2"]
    run = lambda out, *extra: main.main(["restore", str(scans), "--out", str(folder / out), *recipe, *extra])  # noqa: E731
    t_local_batch = timed(lambda: run("local"))
    run("warm", "--cluster", "--workers", "2")  # workers start and load the model once per batch
    for path in (folder / "warm").glob("*"):
        path.unlink()
    t_cluster = timed(lambda: run("warm", "--cluster", "--workers", "2"))
    for path in sorted((folder / "warm").glob("*-restored.png"))[:2]:  # two photos left: the start, little work
        path.unlink()
    t_start = timed(lambda: run("warm", "--cluster", "--workers", "2"))
    per_local, per_cluster = t_local_batch / args.photos, t_cluster / args.photos
    steady = max(1e-6, (t_cluster - t_start) / (args.photos - 2))
    print(f"restore --detect --upscale ×2 of {args.photos} 160×120 scans: local {per_local * 1000:.0f} ms/photo; "
          f"cluster, 2 workers: {per_cluster * 1000:.0f} ms/photo with their start ({t_start:.1f} s), "
          f"{steady * 1000:.0f} ms/photo after it; cluster ÷ local {per_cluster / per_local:.2f} with the start, "
          f"{steady / per_local:.2f} after it")
    stop_kiln_server()


if __name__ == "__main__":
    main()
