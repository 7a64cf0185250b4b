"""A real Kiln editor process for the crash test (tests/gui/session/test_autosave.py): it opens a photo,
then paints one mask stroke with the mouse every ``interval`` seconds, and after each stroke
prints "STROKE <n> <time>" and writes the mask as it is to ``<out>/mask-<n>.npy``. It never
quits by itself: the test kills it with SIGKILL.

    python tests/crash_session.py PHOTO OUT_DIR STROKES INTERVAL_S
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer  # noqa: E402
from PySide6.QtGui import QMouseEvent  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def mouse(view, kind, pos):
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else Qt.MouseButton.LeftButton
    buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else Qt.MouseButton.LeftButton
    local = QPointF(*pos)
    event = QMouseEvent(kind, local, view.viewport().mapToGlobal(local), button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def main() -> None:
    photo, out, strokes, interval = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    app = QApplication(sys.argv[:1])
    app.setApplicationName("Kiln")
    from gui.app import build_editor
    from gui.session.settings import Settings

    editor = build_editor(Settings(str(out / "settings.ini")))
    editor.window.resize(900, 700)
    editor.window.show()
    assert editor.files.open_path(photo)
    canvas = editor.canvas
    canvas.set_zoom(1.0)
    canvas.brush_size_px = 6
    done = [0]

    def stroke() -> None:
        n = done[0]
        origin = canvas.mapFromScene(QPointF(0, 0))
        y = 8 + (n * 7) % 100
        points = [(origin.x() + x, origin.y() + y + x * 0.1) for x in range(10, 150, 10)]
        mouse(canvas, QEvent.Type.MouseButtonPress, points[0])
        for point in points[1:]:
            mouse(canvas, QEvent.Type.MouseMove, point)
        mouse(canvas, QEvent.Type.MouseButtonRelease, points[-1])
        done[0] = n + 1
        np.save(out / f"mask-{n + 1}.npy", np.array(editor.document.mask))
        print(f"STROKE {n + 1} {time.time():.3f}", flush=True)
        if done[0] < strokes:
            QTimer.singleShot(int(interval * 1000), stroke)

    print(f"READY {editor.autosave.folder}", flush=True)
    QTimer.singleShot(200, stroke)
    app.exec()


if __name__ == "__main__":
    main()
