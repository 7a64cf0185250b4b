"""Open, new blank canvas and save/export, with messages a person can act on.

A file that cannot be read leaves the open document untouched. Saving always goes through a
save dialog (which asks before replacing an existing file) and writes atomically; the opened
original is only ever written when the user picks it there and confirms.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QMessageBox, QSpinBox, QWidget

from inference.changes import changed_pixels_map
from inference.errors import KilnError
from inference.image_io import load_rgb_with_notes, read_parameters
from inference.image_save import save_image
from inference.metadata import parse_parameters

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif);;All files (*)"
SAVE_FILTER = "PNG, keeps generation parameters (*.png);;JPEG (*.jpg *.jpeg);;WebP (*.webp);;TIFF (*.tif *.tiff);;BMP (*.bmp)"


class FileActions(QObject):
    """Signals: ``opened(path)``, ``parameters_found(dict)`` (the user chose to reuse a PNG's
    generation parameters), ``saved(path)``, ``message(str)``."""

    opened = Signal(str)
    parameters_found = Signal(dict)
    saved = Signal(str)
    message = Signal(str)

    def __init__(self, document, parameters_for_save=lambda: None):
        super().__init__()
        self._document = document
        self._window: QWidget | None = None
        self._parameters_for_save = parameters_for_save  # () -> str | None, for PNG exports
        self._opened_pixels = None  # the photo as opened, for the changed-pixels map
        self.export_changes_map = False

    def set_window(self, window: QWidget) -> None:
        """The window dialogs and messages belong to."""
        self._window = window

    # --- open ---------------------------------------------------------------------------

    def open_dialog(self) -> None:
        start = str(Path(self._document.path).parent) if self._document.path else ""
        path, _ = QFileDialog.getOpenFileName(self._window, "Open image", start, OPEN_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str, ask_about_parameters: bool = True) -> bool:
        """Open ``path``; on failure show why and keep the current document. What the user
        should know about a file that did open (only the first frame of an animation…) goes
        into the status message."""
        try:
            image, notes = load_rgb_with_notes(path)
        except KilnError as exc:
            QMessageBox.warning(self._window, "Cannot open image", str(exc))
            return False
        if not self._confirm_discard():
            return False
        self._document.load(image, path)
        self._opened_pixels = image
        self.opened.emit(path)
        self.message.emit(" ".join([f"Opened {Path(path).name} ({image.shape[1]}×{image.shape[0]}).", *notes]))
        text = read_parameters(path) if ask_about_parameters else None
        if text:
            answer = QMessageBox.question(
                self._window, "Generation parameters found",
                f"This image was made with these settings:\n\n{text}\n\nUse them for the next generation?",
            )
            if answer == QMessageBox.StandardButton.Yes:
                self.parameters_found.emit(parse_parameters(text))
        return True

    def new_blank_dialog(self, width_px: int, height_px: int) -> tuple[int, int] | None:
        """Ask for a size and start a blank canvas for text-to-image; returns the size or None."""
        dialog = QDialog(self._window)
        dialog.setWindowTitle("New blank canvas")
        width, height = QSpinBox(minimum=64, maximum=4096, singleStep=64), QSpinBox(minimum=64, maximum=4096, singleStep=64)
        width.setValue(width_px)
        height.setValue(height_px)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(dialog.accept)
        buttons.rejected.connect(dialog.reject)
        form = QFormLayout(dialog)
        form.addRow("Width (px)", width)
        form.addRow("Height (px)", height)
        form.addRow(buttons)
        if dialog.exec() != QDialog.DialogCode.Accepted or not self._confirm_discard():
            return None
        size = (width.value() // 8 * 8, height.value() // 8 * 8)
        self._document.new_blank(*size)
        self._opened_pixels = None
        return size

    def _confirm_discard(self) -> bool:
        if not self._document.dirty:
            return True
        answer = QMessageBox.question(
            self._window, "Discard changes?", "The current picture has changes that are not saved. Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Discard

    # --- save ---------------------------------------------------------------------------

    def suggested_save_path(self) -> str:
        """Next to the original, with '-kiln' added, so accepting the default never replaces it."""
        if not self._document.path:
            return "untitled.png"
        original = Path(self._document.path)
        candidate = original.with_name(f"{original.stem}-kiln.png")
        n = 2
        while candidate.exists():
            candidate = original.with_name(f"{original.stem}-kiln-{n}.png")
            n += 1
        return str(candidate)

    def save_as_dialog(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self._window, "Save as / Export", self.suggested_save_path(), SAVE_FILTER)
        if not path:
            return False
        if not Path(path).suffix:
            path += ".png"
        return self.save_to(path)

    def save_to(self, path: str) -> bool:
        """Write the picture as shown — visible paint laid in — to ``path`` (the caller has
        confirmed replacing an existing file)."""
        try:
            picture = self._document.composite()
            save_image(path, picture, self._parameters_for_save())
            changes = self.changes_map_path(path) if self.export_changes_map else None
            if changes is not None:
                diff = changed_pixels_map(self._opened_pixels, picture)
                save_image(changes, np.repeat(diff[..., None], 3, axis=2))
        except KilnError as exc:
            QMessageBox.warning(self._window, "Cannot save", f"{exc}\n\nNothing was lost: the picture is still open.")
            return False
        self._document.mark_saved()
        self.saved.emit(path)
        extra = f" and {Path(changes).name}" if changes else ""
        self.message.emit(f"Saved {Path(path).name}{extra}")
        return True

    def changes_map_path(self, export_path: str) -> str | None:
        """Where the changed-pixels map of an export goes (beside it), or None when there is
        no opened photo of the same size to compare with."""
        opened = self._opened_pixels
        if opened is None or opened.shape != self._document.image.shape:
            return None
        export = Path(export_path)
        return str(export.with_name(f"{export.stem}-changes.png"))
