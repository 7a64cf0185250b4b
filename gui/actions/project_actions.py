"""Save project (Ctrl+S), Save project as… and opening ``.kiln`` files.

A project keeps everything an evening of work made — the layers, the mask, the undo history,
the results and the settings — in one file (``inference.files.project_file``). The file is written in
the background (``gui.session.project_saving``): the editor goes on meanwhile. Saving is atomic: a
failure (full disk, read-only folder) leaves the previous file as it was and the picture open
and unchanged, with a message.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from gui.actions.file_actions import is_original
from gui.session.project_saving import ProjectSaver
from gui.session.project_state import apply_state, snapshot
from inference.core.errors import KilnError
from inference.files.project_file import SUFFIX
from inference.files.project_read import load_project

PROJECT_FILTER = "Kiln projects (*.kiln)"


class ProjectActions(QObject):
    """Signals: ``saved(path)``, ``opened(path)``, ``message(str)`` for the status bar,
    ``busy(text)`` while a save runs in the background ("" when it ends).

    ``start_save``/``start_save_as`` (the menu) return at once; ``save``, ``save_as`` and
    ``save_to`` wait for the file (quitting, opening another picture, scripts)."""

    saved = Signal(str)
    busy = Signal(str)
    opened = Signal(str)
    message = Signal(str)

    def __init__(self, document, results, controller, params, files):
        super().__init__()
        self._document, self._results, self._controller = document, results, controller
        self._params, self._files = params, files
        self._window: QWidget | None = None
        files.open_project = self.open_path
        self._saver = ProjectSaver(document, self._state, self)
        self._saver.finished.connect(self._on_saved)

    def _state(self):
        return snapshot(self._document, self._results, self._params, with_layers=False)

    def set_window(self, window: QWidget) -> None:
        self._window = window

    def suggested_path(self) -> str:
        """Beside the photo, named after it; 'untitled.kiln' for a new canvas."""
        if self._document.project_path:
            return self._document.project_path
        if self._document.path:
            return str(Path(self._document.path).with_suffix(SUFFIX))
        return "untitled" + SUFFIX

    @property
    def saving(self) -> bool:
        """A save runs in the background."""
        return self._saver.saving

    def start_save(self) -> bool:
        """Ctrl+S: save into the project the picture came from, or ask where (the first time);
        the file is written in the background. False if nothing was started."""
        path = self._document.project_path or self._ask_path()
        return bool(path) and self._start(path)

    def start_save_as(self) -> bool:
        path = self._ask_path()
        return bool(path) and self._start(path)

    def save(self) -> bool:
        """``start_save`` and wait for it (the window keeps painting): whether it was saved."""
        return self.start_save() and self._wait_saved()

    def save_as(self) -> bool:
        return self.start_save_as() and self._wait_saved()

    def save_to(self, path: str) -> bool:
        """Write the project to ``path`` (the caller confirmed replacing a file there) and wait
        for it; whether it was saved."""
        return self._start(path) and self._wait_saved()

    def wait_saved(self) -> bool:
        """Let a running save finish (quitting); False if it failed."""
        job = self._saver.wait()
        return job is None or not job.error

    def _ask_path(self) -> str:
        path, _ = QFileDialog.getSaveFileName(self._window, "Save project", self.suggested_path(), PROJECT_FILTER)
        if path and Path(path).suffix.lower() != SUFFIX:
            path += SUFFIX
        return path

    def _wait_saved(self) -> bool:
        job = self._saver.wait()
        return job is not None and not job.error

    def _start(self, path: str) -> bool:
        """Never over the opened photo: a project is not a picture file."""
        if is_original(path, self._document.path):
            QMessageBox.warning(self._window, "Cannot save project", "That is the photo you opened; Kiln does not "
                                "write a project over it. Choose another name.")
            return False
        if not self._saver.start(path):
            self.message.emit("A save is already running; save again when it is done.")
            return False
        self.busy.emit(f"Saving {Path(path).name}…")
        return True

    def _on_saved(self, path: str, error: str) -> None:
        self.busy.emit("")
        if error:
            QMessageBox.warning(self._window, "Cannot save project",
                                f"{error}\n\nNothing was lost: the picture is still open, and the previous "
                                "project file (if any) is as it was.")
            return
        self._document.project_path = str(path)
        self.saved.emit(str(path))
        later = " Changes made while it was saving are not in it yet." if self._document.dirty else ""
        self.message.emit(f"Saved the project {Path(path).name}.{later}")

    def open_path(self, path: str) -> bool:
        """Open a project file; on failure say why and keep the current picture."""
        try:
            state = load_project(path)
        except KilnError as exc:
            QMessageBox.warning(self._window, "Cannot open project", str(exc))
            return False
        if not self._files.confirm_discard():
            return False
        notes = self.apply(state, Path(path).name)
        if notes is None:
            return False
        self._document.project_path = str(path)
        self.opened.emit(str(path))
        self.message.emit(" ".join([f"Opened the project {Path(path).name}.", *notes]))
        return True

    def apply(self, state, label: str) -> list[str] | None:
        """Show ``state``; None (with a message) if it cannot be rebuilt. What could not be
        restored is said in a dialog (a status bar message is easily missed)."""
        try:
            notes = apply_state(state, label, self._document, self._controller, self._params)
        except KilnError as exc:
            self.warn("Cannot open project", str(exc))
            return None
        if notes:
            self.warn("Part of the work could not be restored", "\n\n".join(notes))
        return notes

    def warn(self, title: str, text: str) -> None:
        """Say ``text`` in a dialog over the window (opening and restoring work)."""
        QMessageBox.warning(self._window, title, text)
