"""Smoke-test the frozen app: window start-up time offscreen, then the CLI end to end.

    python packaging/smoke_test.py [--kiln dist/kiln/kiln] [--chroot DIR --kiln /opt/kiln/kiln] [--max-start 2]

1. Starts `kiln PHOTO` with QT_QPA_PLATFORM=offscreen and KILN_SMOKE_EXIT_AFTER_SHOWN=1: the app prints
   "window shown after X s" once its window is shown and painted, then quits (gui/startup_probe.py).
   Reports the app's own figure (since process start) and the wall time from launch to exit; fails
   above --max-start (wall).
2. `kiln make-test-model DIR`, then `kiln generate --model DIR --prompt ... --out out.png --steps 2
   --width 64 --height 64`, and checks out.png is a 64×64 PNG: a real diffusion run through torch.
3. `kiln restore PHOTO --detect --out DIR`: damage detection and the classical repair (scipy.ndimage),
   no model; checks DIR/photo-restored.png is a PNG of the photo's size.
4. A small Compact ×2 upscaler and a YuNet face detector with random weights, written by this
   script's Python (the bundle leaves out the onnx package that writes detectors), then
   `kiln upscale PHOTO --model compact.safetensors --scale 2` (spandrel and torchvision in the
   bundle) and `kiln restore PHOTO --faces diffusion --find-faces yunet.onnx --model DIR` (onnxruntime
   in the bundle): each output a PNG of the right size.

With --chroot DIR every kiln command runs inside that root (chroot DIR ...; --kiln is then the path
inside it) and the files are checked from here, so the chroot needs no Python. Needs root for chroot.
Exit status 0 when every check passed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "resources" / "screenshots" / "heal-r1_damaged.jpg"


class Runner:
    """Runs kiln here or inside a chroot; maps its work folder to a host path."""

    def __init__(self, kiln: str, chroot: str | None):
        self.kiln, self.chroot = kiln, chroot
        self.inner = "/tmp/kiln-smoke"  # path as kiln sees it
        self.host = Path(chroot + self.inner) if chroot else Path(self.inner)
        shutil.rmtree(self.host, ignore_errors=True)
        self.host.mkdir(parents=True)

    def cmd(self, *args: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.inner, "LANG": "C.UTF-8",
                "HF_HUB_OFFLINE": "1", **env}
        if self.chroot:
            return ["chroot", self.chroot, "/usr/bin/env", "-i",
                    *[f"{k}={v}" for k, v in base.items()], self.kiln, *args], {}
        return [self.kiln, *args], {**os.environ, **base}

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 300):
        argv, full_env = self.cmd(*args, env=env or {})
        t0 = time.monotonic()
        p = subprocess.run(argv, env=full_env or None, capture_output=True, text=True, timeout=timeout)
        return p, time.monotonic() - t0


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:32]
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", data[16:24])


def jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker."""
    data = path.read_bytes()
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            raise ValueError(f"{path}: bad JPEG marker at {i}")
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    raise ValueError(f"{path}: no JPEG frame header")


def check_png(p, out: Path, want: tuple[int, int], what: str, failures: list[str]) -> None:
    """The command ``p`` succeeded and wrote ``out``, a PNG of ``want`` (width, height) pixels."""
    try:
        size = png_size(out)
        ok = p.returncode == 0 and size == want and out.stat().st_size > 100
        print(f"{out.name}: {size[0]}x{size[1]} PNG (want {want[0]}x{want[1]}), {out.stat().st_size} bytes"
              + ("" if ok else "  BAD"))
        if not ok:
            failures.append(what)
    except (OSError, ValueError) as e:
        failures.append(f"{what}: {e}")
        print(p.stderr[-3000:])


def _restoration_models(r, photo: Path, failures: list[str]) -> None:
    sys.path.insert(0, str(ROOT))
    import inference  # noqa: F401 - torchvision on a CPU torch
    from inference.restoration_models.random_models import make_restoration_test_model
    from inference.restoration_models.yunet_architecture import write_face_finder_onnx

    make_restoration_test_model(r.host / "compact.safetensors", "compact", "tiny", scale=2)
    write_face_finder_onnx(r.host / "yunet.onnx")
    width, height = jpeg_size(photo)
    p, took = r.run("upscale", f"{r.inner}/photo.jpg", "--model", f"{r.inner}/compact.safetensors", "--scale", "2",
                    "--out", f"{r.inner}/upscaled")
    print(f"upscale (spandrel): exit {p.returncode} in {took:.1f} s  {p.stdout.strip()[-200:]}")
    check_png(p, r.host / "upscaled" / "photo-x2.png", (width * 2, height * 2), "upscale output", failures)
    if (r.host / "model" / "model_index.json").is_file():
        p, took = r.run("restore", f"{r.inner}/photo.jpg", "--faces", "diffusion", "--find-faces",
                        f"{r.inner}/yunet.onnx", "--model", f"{r.inner}/model", "--steps", "2",
                        "--out", f"{r.inner}/faces")
        print(f"restore --find-faces (onnxruntime): exit {p.returncode} in {took:.1f} s  {p.stderr.strip()[-200:]}")
        check_png(p, r.host / "faces" / "photo-restored.png", (width, height), "find-faces output", failures)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=str(ROOT / "dist" / "kiln" / "kiln"), help="the frozen binary")
    ap.add_argument("--chroot", help="run kiln inside this root (--kiln is then a path inside it)")
    ap.add_argument("--max-start", type=float, default=2.0, help="fail when the window takes longer (s)")
    ap.add_argument("--runs", type=int, default=3, help="start-up runs; the first is cold, the best is reported")
    args = ap.parse_args()
    r = Runner(args.kiln, args.chroot)
    failures = []

    photo = r.host / "photo.jpg"
    shutil.copy(SAMPLE, photo)
    walls = []
    for i in range(args.runs):
        p, wall = r.run(f"{r.inner}/photo.jpg", env={"QT_QPA_PLATFORM": "offscreen",
                                                     "KILN_SMOKE_EXIT_AFTER_SHOWN": "1"}, timeout=120)
        m = re.search(r"window shown after ([0-9.]+) s", p.stdout)
        if p.returncode or not m:
            failures.append(f"window run {i + 1}: exit {p.returncode}, no 'window shown' line")
            print(p.stdout[-2000:], p.stderr[-3000:], sep="\n")
            break
        walls.append(wall)
        print(f"start-up run {i + 1}: window shown after {float(m.group(1)):.2f} s (app), "
              f"{wall:.2f} s launch to exit (wall)")
    if walls:
        print(f"window shown: cold {walls[0]:.2f} s, best {min(walls):.2f} s wall (target <= {args.max_start} s)")
        if min(walls) > args.max_start:
            failures.append(f"window start-up {min(walls):.2f} s > {args.max_start} s")

    p, took = r.run("make-test-model", f"{r.inner}/model")
    print(f"make-test-model: exit {p.returncode} in {took:.1f} s  {p.stdout.strip()[-200:]}")
    if p.returncode or not (r.host / "model" / "model_index.json").is_file():
        failures.append("make-test-model")
        print(p.stderr[-3000:])
    else:
        p, took = r.run("generate", "--model", f"{r.inner}/model", "--prompt", "an old farmhouse at dusk",
                        "--out", f"{r.inner}/out.png", "--steps", "2", "--width", "64", "--height", "64",
                        "--seed", "1")
        print(f"generate: exit {p.returncode} in {took:.1f} s  {p.stdout.strip()[-200:]}")
        check_png(p, r.host / "out.png", (64, 64), "generate output", failures)

    p, took = r.run("restore", f"{r.inner}/photo.jpg", "--detect", "--out", f"{r.inner}/restored")
    print(f"restore --detect: exit {p.returncode} in {took:.1f} s  {p.stdout.strip()[-200:]}")
    check_png(p, r.host / "restored" / "photo-restored.png", jpeg_size(photo), "restore output", failures)

    _restoration_models(r, photo, failures)
    print("SMOKE TEST", "PASSED" if not failures else "FAILED: " + "; ".join(failures))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
