"""Projects and autosave on a large scan, measured in one run (not pass/fail).

    python bench/autosave.py [--width 6000] [--height 4000] [--strokes 40]

1. Autosave: the GUI thread's share (taking the snapshot) and the background write, for the
   first save of a new picture (the photo itself is written once) and then per stroke; while
   the writer works, a 5 ms QTimer probe in the GUI thread measures how late the event loop
   runs (a stall the user would feel).
2. Project file: Save project (Ctrl+S) and reopen, time and size.
Runs offscreen.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("KILN_RECOVERY_DIR", tempfile.mkdtemp(prefix="kiln-bench-recovery-"))

import numpy as np  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def photo_like(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 110 + 60 * np.sin(xx / 97.0) * np.cos(yy / 61.0)
    noise = np.random.default_rng(0).normal(0, 6, (height, width)).astype(np.float32)
    gray = (base + noise).clip(0, 255).astype(np.uint8)
    return np.stack([gray, (gray * 0.93).astype(np.uint8), (gray * 0.8).astype(np.uint8)], -1)


class Probe:
    """How late a 5 ms timer fires in the GUI thread."""

    def __init__(self):
        self.late: list[float] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer(interval=5)
        self._timer.timeout.connect(self._tick)

    def start(self):
        self._clock.start()
        self._timer.start()

    def stop(self):
        self._timer.stop()

    def _tick(self):
        self.late.append(max(0.0, self._clock.restart() - 5.0))


def wait_written(app, autosave, probe) -> float:
    started = time.perf_counter()
    probe.start()
    while not autosave.wait_idle(0):
        app.processEvents()
        time.sleep(0.001)
    probe.stop()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=6000)
    parser.add_argument("--height", type=int, default=4000)
    parser.add_argument("--strokes", type=int, default=40)
    args = parser.parse_args()

    app = QApplication(sys.argv[:1])
    from gui.app import build_editor
    from gui.session.settings import Settings
    from inference.files.image_save import save_image

    folder = Path(tempfile.mkdtemp(prefix="kiln-bench-"))
    photo = folder / "scan.png"
    save_image(photo, photo_like(args.width, args.height))
    editor = build_editor(Settings(str(folder / "settings.ini")))
    editor.window.show()
    editor.files.open_path(str(photo))
    doc, autosave = editor.document, editor.autosave
    print(f"picture {args.width}×{args.height} ({args.width * args.height / 1e6:.0f} MP), this machine's CPU")

    def stroke(i: int):
        y = 50 + (i * 97) % (args.height - 100)
        doc.begin_stroke()
        doc.paint_segment(40, y, args.width - 40, y + 30, 12)
        doc.end_stroke()

    probe = Probe()
    stroke(0)
    for _ in range(5):  # let the window draw the new picture and the stroke first
        app.processEvents()
        time.sleep(0.05)
    t = time.perf_counter()
    autosave.save_now()
    gui_first = time.perf_counter() - t
    write_first = wait_written(app, autosave, probe)
    print(f"first autosave (the photo written once): GUI thread {gui_first * 1000:.1f} ms, "
          f"background write {write_first:.2f} s, event loop late max {max(probe.late, default=0):.0f} ms")

    gui_ms, write_s, late = [], [], []
    for i in range(1, args.strokes):
        stroke(i)
        app.processEvents()
        probe = Probe()
        t = time.perf_counter()
        autosave.save_now()
        gui_ms.append((time.perf_counter() - t) * 1000)
        write_s.append(wait_written(app, autosave, probe))
        late.extend(probe.late)
    size = sum(p.stat().st_size for p in autosave.folder.rglob("*") if p.is_file())
    print(f"per stroke ({args.strokes - 1} strokes, history up to {args.strokes}): GUI thread median "
          f"{statistics.median(gui_ms):.2f} ms (max {max(gui_ms):.2f}), background write median "
          f"{statistics.median(write_s) * 1000:.0f} ms (max {max(write_s) * 1000:.0f}); event loop late "
          f"p99 {np.percentile(late, 99) if late else 0:.0f} ms, max {max(late, default=0):.0f} ms; "
          f"recovery folder {size / 1e6:.1f} MB")

    t = time.perf_counter()
    assert editor.projects.save_to(str(folder / "scan.kiln"))
    saved = time.perf_counter() - t
    size = (folder / "scan.kiln").stat().st_size
    t = time.perf_counter()
    assert editor.projects.open_path(str(folder / "scan.kiln"))
    opened = time.perf_counter() - t
    print(f"project: save {saved:.2f} s, {size / 1e6:.1f} MB (the photo as PNG {photo.stat().st_size / 1e6:.1f} MB); "
          f"reopen {opened:.2f} s")
    editor.worker.shutdown()
    autosave.close()


if __name__ == "__main__":
    main()
