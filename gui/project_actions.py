"""Save project (Ctrl+S), Save project as… and opening ``.kiln`` files.

A project keeps everything an evening of work made — the layers, the mask, the undo history,
the results and the settings — in one file (``inference.project_file``). Saving is atomic: a
failure (full disk, read-only folder) leaves the previous file as it was and the picture open
and unchanged, with a message.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from gui.file_actions import is_original
from gui.project_state import apply_state, snapshot
from inference.errors import KilnError
from inference.project_file import SUFFIX, save_project
from inference.project_read import load_project

PROJECT_FILTER = "Kiln projects (*.kiln)"


class ProjectActions(QObject):
    """Signals: ``saved(path)``, ``opened(path)``, ``message(str)`` for the status bar."""

    saved = Signal(str)
    opened = Signal(str)
    message = Signal(str)

    def __init__(self, document, history, controller, panel, lora_panel, files):
        super().__init__()
        self._document, self._history, self._controller = document, history, controller
        self._panel, self._lora_panel, self._files = panel, lora_panel, files
        self._window: QWidget | None = None
        files.open_project = self.open_path

    def set_window(self, window: QWidget) -> None:
        self._window = window

    def suggested_path(self) -> str:
        """Beside the photo, named after it; 'untitled.kiln' for a new canvas."""
        if self._document.project_path:
            return self._document.project_path
        if self._document.path:
            return str(Path(self._document.path).with_suffix(SUFFIX))
        return "untitled" + SUFFIX

    def save(self) -> bool:
        """Save into the project the picture came from, or ask where (the first time)."""
        if self._document.project_path:
            return self.save_to(self._document.project_path)
        return self.save_as()

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self._window, "Save project", self.suggested_path(), PROJECT_FILTER)
        if not path:
            return False
        if Path(path).suffix.lower() != SUFFIX:
            path += SUFFIX
        return self.save_to(path)

    def save_to(self, path: str) -> bool:
        """Write the project to ``path`` (the caller confirmed replacing a file there). Never the
        opened photo: a project is not a picture file."""
        doc = self._document
        if is_original(path, doc.path):
            QMessageBox.warning(self._window, "Cannot save project", "That is the photo you opened; Kiln does not "
                                "write a project over it. Choose another name.")
            return False
        if doc.stroke_active:
            doc.end_stroke()
        QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            state = snapshot(doc, self._history, self._controller, self._panel.params, with_layers=True)
            state.clean_index = state.undo_index  # the file will be the saved state
            save_project(path, state)
        except KilnError as exc:
            QMessageBox.warning(self._window, "Cannot save project",
                                f"{exc}\n\nNothing was lost: the picture is still open, and the previous "
                                "project file (if any) is as it was.")
            return False
        finally:
            QGuiApplication.restoreOverrideCursor()
        doc.mark_saved()
        doc.project_path = str(path)
        self.saved.emit(str(path))
        self.message.emit(f"Saved the project {Path(path).name}")
        return True

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
            notes = apply_state(state, label, self._document, self._history, self._controller, self._panel,
                                self._lora_panel)
        except KilnError as exc:
            self.warn("Cannot open project", str(exc))
            return None
        if notes:
            self.warn("Part of the work could not be restored", "\n\n".join(notes))
        return notes

    def warn(self, title: str, text: str) -> None:
        """Say ``text`` in a dialog over the window (opening and restoring work)."""
        QMessageBox.warning(self._window, title, text)
