"""Find faces: the face detector chosen in the Models dialog proposes face boxes.

The detector (``inference.restoration_models.face_finder``, YuNet through onnxruntime) runs on a
``BackgroundRunner`` — off the GUI thread, on the job runner — on a copy of the picture. The faces
it finds become face boxes in one undo step ("Find faces (3)"), grown a little past the face and
skipping faces that already have a box; the user then moves, resizes or deletes them with the face
box tool like boxes drawn by hand. An answer for a picture that has since changed size is dropped.

Which detector: ``Settings.restoration_choice("detect")`` (File → Models… → Restoration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from gui.session.background import BackgroundRunner
from gui.session.face_boxes import FaceBoxes
from inference.restoration_models.face_finder import face_boxes_to_propose, load_face_finder, onnxruntime_missing

NO_DETECTOR = ("Find faces needs a face detector: File → Models… → Restoration → Find faces (YuNet, 0.2 MB). "
               "Without one, draw the boxes with the face box tool (F)")


class FaceFinding(QObject):
    """Signals: ``busy_changed(bool)``, ``message(str)`` (status bar), ``error(str)`` (a dialog),
    ``state_changed()`` (whether Find faces can run changed)."""

    busy_changed = Signal(bool)
    message = Signal(str)
    error = Signal(str)
    state_changed = Signal()

    def __init__(self, document, boxes: FaceBoxes, settings, parent: QObject | None = None):
        super().__init__(parent)
        self._document, self._boxes, self._settings = document, boxes, settings
        self._runner: BackgroundRunner | None = None
        self._finder = None  # (path, FaceFinder), opened in the runner's thread
        self._asked: tuple[int, int] | None = None  # the picture size the running search was given

    @property
    def busy(self) -> bool:
        return self._asked is not None

    def detector(self) -> str:
        return self._settings.restoration_choice("detect")

    def ready(self) -> tuple[bool, str]:
        """Whether Find faces can run now, and what its button says about it (a tooltip)."""
        missing = onnxruntime_missing()
        if missing:
            return False, missing.rstrip(".")
        if self.busy:
            return False, "Looking for faces…"
        if not self.detector():
            return False, NO_DETECTOR
        return True, "Propose a box around each face the face detector finds (Shift+F); adjust them with the tool"

    def find(self) -> bool:
        """Search the picture for faces; the boxes arrive as one undo step. Returns whether it started."""
        ready, reason = self.ready()
        if not ready:
            self.message.emit(reason + ".")
            return False
        path = self.detector()
        if not Path(path).is_file():
            self.error.emit(f"The face detector '{path}' is not there any more: choose one in File → Models… → "
                            "Restoration.")
            return False
        if self._runner is None:
            self._runner = BackgroundRunner("find-faces", self)
            self._runner.done.connect(self._on_found)
            self._runner.failed.connect(self._on_failed)
        doc = self._document
        image, size = np.array(doc.image), (doc.width_px, doc.height_px)
        existing = tuple(self._boxes.boxes)
        self._asked = size
        self._runner.submit(lambda: self._search(path, image, existing), size)
        self.message.emit("Looking for faces…")
        self.busy_changed.emit(True)
        self.state_changed.emit()
        return True

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Wait until the answer has been applied (tests)."""
        from gui.session.background import wait_with_events

        return wait_with_events(lambda: not self.busy, timeout_s)

    def shutdown(self) -> None:
        if self._runner is not None:
            self._runner.stop(timeout_s=0.1)

    # --- the runner's thread ----------------------------------------------------------------

    def _search(self, path: str, image: np.ndarray, existing) -> tuple[int, list]:
        if self._finder is None or self._finder[0] != path:
            self._finder = (path, load_face_finder(path))
        found = self._finder[1].find(image)
        height, width = image.shape[:2]
        return len(found), face_boxes_to_propose(found, width, height, existing)

    # --- answers (GUI thread) ---------------------------------------------------------------

    def _on_found(self, size, answer) -> None:
        self._end()
        count, boxes = answer
        if size != (self._document.width_px, self._document.height_px):
            self.message.emit("The picture changed size while Kiln looked for faces: Find faces again (Shift+F).")
            return
        added = self._boxes.add_found(boxes)
        if added:
            self.message.emit(f"Found {added} face{'' if added == 1 else 's'}: check the boxes (F moves and resizes "
                              "them; Ctrl+Z takes them back), then Restore faces.")
        elif count:
            self.message.emit("Every face found already has a box.")
        else:
            self.message.emit("No faces found: draw a box around each face with the face box tool (F).")

    def _on_failed(self, _size, text: str) -> None:
        self._end()
        self.error.emit(f"Cannot look for faces: {text}")

    def _end(self) -> None:
        self._asked = None
        self.busy_changed.emit(False)
        self.state_changed.emit()
