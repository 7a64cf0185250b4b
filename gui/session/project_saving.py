"""Writing a project in the background, so a 24-megapixel scan never freezes the editor.

A save takes the picture as it is when Save is pressed, and only that:

1. The GUI thread hands read-only views of the three layers to a background thread, which
   copies them (about 200 MB for a 24 MP scan) while the editor goes on. Every edit made
   meanwhile announces its rectangle (``Document.*_changed``); those rectangles are written
   down.
2. Back in the GUI thread, the rectangles are copied again from the layers, which now cannot
   change under the copy; with them the copies are exactly the layers of this moment, and the
   undo history, results and settings are taken at the same moment (``gui.session.project_state``,
   references to arrays that never change). A stroke still being drawn is waited for.
3. The background thread writes the project file (``inference.files.project_file.save_project``,
   atomic: a failure leaves the previous file as it was).
4. The document is marked saved only if it still is at the saved state; edits made during the
   save stay unsaved (the title keeps its ``*``), never half in the file.

A picture replaced during step 1 (another photo opened) ends the save with a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QRect, QTimer, Signal

from gui.session.background import BackgroundRunner, wait_with_events
from gui.session.strokes import rect_slices
from inference.files.project_file import save_project

STROKE_RETRY_MS = 30  # a stroke being drawn ends within moments of the pointer's release
LAYERS = ("image", "mask", "paint")


@dataclass
class _Job:
    path: str
    base_key: str
    dirty: dict = field(default_factory=lambda: {name: [] for name in LAYERS})
    resized: bool = False
    marker: tuple = ()  # (undo index, command at it) when the state was taken
    error: str = ""
    crash: BaseException | None = None  # not an error Kiln handles: re-raised to a waiting caller
    finished: bool = False


def _command_id(stack, index: int) -> int:
    """Which command sits below ``index`` (0: none); a macro's wrapper is new each time, its
    C++ object is not."""
    return shiboken6.getCppPointer(stack.command(index - 1))[0] if index > 0 else 0


class ProjectSaver(QObject):
    """Runs one save at a time for ``document``; ``take_state()`` returns the project state
    without layers (``gui.session.project_state.snapshot``). Signals ``started(path)`` and
    ``finished(path, error)`` (error "" on success; the document was marked saved if it still
    shows what was saved), both in the GUI thread."""

    started = Signal(str)
    finished = Signal(str, str)

    def __init__(self, document, take_state, parent: QObject | None = None):
        super().__init__(parent)
        self._document, self._take_state = document, take_state
        self._runner = BackgroundRunner("project-save", self)
        self._runner.done.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._job: _Job | None = None
        self._watching = False

    @property
    def saving(self) -> bool:
        return self._job is not None

    @property
    def phase(self) -> str | None:
        """"copying" (step 1), "writing" (step 3), or None when no save runs."""
        return None if self._job is None else ("writing" if self._job.marker else "copying")

    def start(self, path: str) -> bool:
        """Begin saving to ``path``; False when a save is already running."""
        if self._job is not None:
            return False
        doc = self._document
        if doc.stroke_active:
            doc.end_stroke()
        self._job = _Job(str(path), doc.base[4])
        self._watch(True)
        self._copy_layers()
        self.started.emit(str(path))
        return True

    def wait(self, timeout_s: float = 600.0) -> _Job | None:
        """Let the save finish, keeping the window painting; the job (None if none ran).
        Re-raises a crash of the writer (an exception that is not an error, e.g. a test's)."""
        job = self._job
        if job is None:
            return None
        wait_with_events(lambda: self._job is not job, timeout_s)
        if job.crash is not None:
            raise job.crash
        return job

    def shutdown(self) -> None:
        self.wait()
        self._runner.stop()

    # --- steps ---------------------------------------------------------------------------------

    def _copy_layers(self) -> None:
        doc = self._document
        views = (doc.image, doc.mask, doc.paint)  # read-only views: the thread only reads them
        self._runner.submit(lambda: tuple(np.array(v, copy=True, order="C") for v in views), ("copy", self._job))

    def _take(self, job: _Job, copies: tuple) -> None:
        doc = self._document
        if job is not self._job:
            return
        if doc.base[4] != job.base_key:
            self._end(job, "Another picture was opened while the project was being saved; nothing was saved.")
            return
        if job.resized or any(c.shape != v.shape for c, v in zip(copies, (doc.image, doc.mask, doc.paint))):
            job.resized, job.dirty = False, {name: [] for name in LAYERS}
            self._copy_layers()  # the canvas was extended meanwhile: copy the new layers
            return
        if doc.stroke_active:  # its pixels are in the layers, its undo step is not yet
            QTimer.singleShot(STROKE_RETRY_MS, lambda: self._take(job, copies))
            return
        # 2. The layers cannot change now: bring the copies up to date, take the rest with them.
        for copy, live, name in zip(copies, (doc.image, doc.mask, doc.paint), LAYERS):
            for rect in job.dirty[name]:
                rect = QRect(rect) & doc.rect if not rect.isEmpty() else doc.rect
                rows, cols = rect_slices(rect)
                copy[rows, cols] = live[rows, cols]
        self._watch(False)
        state = self._take_state()
        state.image, state.mask, state.paint = copies
        state.clean_index = state.undo_index  # the file will be the saved state
        job.marker = (state.undo_index, _command_id(doc.undo_stack, state.undo_index))
        self._runner.submit(lambda: save_project(job.path, state), ("write", job))

    def _on_done(self, token, result) -> None:
        step, job = token
        if step == "copy":
            self._take(job, result)
        else:
            self._end(job, "")

    def _on_failed(self, token, message: str) -> None:
        _step, job = token
        job.crash = self._runner.last_crash
        self._end(job, message)

    def _end(self, job: _Job, error: str) -> None:
        if job is not self._job:
            return
        self._watch(False)
        self._job, job.error, job.finished = None, error, True
        doc = self._document
        stack = doc.undo_stack
        if not error and (stack.index(), _command_id(stack, stack.index())) == job.marker:
            doc.mark_saved()
        self.finished.emit(job.path, error)

    # --- edits during step 1 -------------------------------------------------------------------

    def _watch(self, on: bool) -> None:
        if on == self._watching:
            return
        self._watching = on
        doc = self._document
        pairs = ((doc.image_changed, self._image_changed), (doc.mask_changed, self._mask_changed),
                 (doc.paint_changed, self._paint_changed), (doc.resized, self._resized))
        for signal, slot in pairs:
            if on:
                signal.connect(slot)
            else:
                signal.disconnect(slot)

    def _image_changed(self, rect: QRect) -> None:
        self._job.dirty["image"].append(QRect(rect))

    def _mask_changed(self, rect: QRect) -> None:
        self._job.dirty["mask"].append(QRect(rect))

    def _paint_changed(self, rect: QRect) -> None:
        self._job.dirty["paint"].append(QRect(rect))

    def _resized(self) -> None:
        self._job.resized = True
