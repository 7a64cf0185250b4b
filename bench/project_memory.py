"""Opening crafted projects: peak memory per project, and undo replay time.

    python bench/project_memory.py [--size 2000x3000] [--bomb-mb 256] [--root DIR] [--steps 1000,4000,8000]

Every crafted project of ``tests/hostile_projects.py`` (bombed description, bombed undo patch,
bombed mask, twelve steps sharing one patch, twelve oversize results, a result number past
int64, megabyte texts, a history past the step limit, a million steps) plus a plain one is
opened in a fresh Python with the code under ``--root`` (this tree by default; an older
checkout gives the figures before a change). Printed per project: its file size, the rise of
peak resident memory while ``load_project`` ran, that rise over the picture's RGB bytes and over
its layers' bytes (RGB, mask and paint: what the editor holds), and what happened. Then the
time ``Document.restore`` takes to replay N mask strokes, and a stroke after it (median of 7).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

_REPLAY = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
import numpy as np
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.session.document import Document
from inference.files.project_file import Edit
steps = int(sys.argv[1])
edits = [Edit("patch", "Mask stroke", "mask", (i * 7 % 200, i * 13 % 200, 16, 16),
              (np.zeros((16, 16), np.uint8), np.full((16, 16), 255, np.uint8))) for i in range(steps)]
doc = Document()
started = time.perf_counter()
doc.restore((np.zeros((256, 256, 3), np.uint8), None, None, False), edits, steps, steps)
replay = time.perf_counter() - started
strokes = []
for i in range(7):  # painting and erasing in turn: each stroke changes pixels and is one undo step
    started = time.perf_counter()
    doc.begin_stroke(erase=i % 2 == 1); doc.paint_dab(240, 20, 5); assert doc.end_stroke()
    strokes.append(time.perf_counter() - started)
print(f"{replay:.2f} {sorted(strokes)[3] * 1000:.1f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="2000x3000", help="the picture, HEIGHTxWIDTH px")
    parser.add_argument("--bomb-mb", type=int, default=256, help="what each bomb expands to")
    parser.add_argument("--root", default=str(ROOT), help="the Kiln tree whose reader is measured")
    parser.add_argument("--steps", default="1000,4000,8000", help="undo replay lengths ('' for none)")
    parser.add_argument("--workdir", help="where the crafted projects are written (kept)")
    args = parser.parse_args()
    from hostile_projects import base_state, crafted, opening_peak_bytes, project_bytes

    height, width = (int(v) for v in args.size.split("x"))
    rgb_bytes, layer_bytes = height * width * 3, height * width * 8
    folder = Path(args.workdir or tempfile.mkdtemp(prefix="kiln-crafted-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"picture {width}×{height}: RGB {rgb_bytes / 2**20:.0f} MiB, layers {layer_bytes / 2**20:.0f} MiB; "
          f"bombs {args.bomb_mb} MiB; reader from {args.root}", flush=True)
    if not (folder / "legit.kiln").exists():
        (folder / "legit.kiln").write_bytes(project_bytes(base_state(height, width, patches=12)))
        for name, data in crafted(height, width, args.bomb_mb << 20).items():
            (folder / f"{name}.kiln").write_bytes(data)
    names = ["legit"] + sorted(p.stem for p in folder.glob("*.kiln") if p.stem != "legit")
    for name in names:
        path = folder / f"{name}.kiln"
        peak, outcome = opening_peak_bytes(path, args.root)
        print(f"{name:20s} {path.stat().st_size / 1e3:9,.0f} kB  peak +{peak / 2**20:8,.1f} MiB  "
              f"{peak / rgb_bytes:5.2f}× RGB  {peak / layer_bytes:5.2f}× layers  {outcome[:110]}", flush=True)
    for steps in [int(s) for s in args.steps.split(",") if s]:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-c", _REPLAY, str(steps)], capture_output=True, text=True,
                              cwd=args.root, env=env, timeout=1200)
        replay_s, stroke_ms = done.stdout.split() if done.returncode == 0 else ("?", done.stderr[-200:])
        print(f"replay {steps:6,d} steps: {replay_s} s; a stroke after it: {stroke_ms} ms", flush=True)


if __name__ == "__main__":
    main()
