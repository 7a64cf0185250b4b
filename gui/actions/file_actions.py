"""Open, new blank canvas and save/export, with messages a person can act on.

A file that cannot be read leaves the open document untouched. Saving always goes through a
save dialog (which asks before replacing an existing file) and writes atomically; the opened
original is only ever written when the user picks it there and confirms.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QMessageBox, QSpinBox, QWidget

from inference.restore.changes import changed_pixels_map
from inference.core.errors import KilnError
from inference.files.image_io import load_picture_with_notes, read_parameters
from inference.files.image_save import save_image
from inference.files.metadata import clean_text, parse_parameters
from inference.files.project_file import is_project_path

OPEN_FILTER = ("Images and Kiln projects (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp *.gif *.kiln);;"
               "Kiln projects (*.kiln);;All files (*)")
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
        self.export_changes_map = False
        self.open_project: Callable[[str], bool] | None = None  # opens .kiln files (gui.actions.project_actions)
        self.save_project: Callable[[], bool] | None = None  # saves the project, waiting for it (same)

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
        """Open ``path`` (an image, or a Kiln project); on failure show why and keep the current
        document. What the user should know about a file that did open (only the first frame of
        an animation…) goes into the status message."""
        if is_project_path(path) and self.open_project is not None:
            return self.open_project(path)
        try:
            image, notes, source = load_picture_with_notes(path)
        except KilnError as exc:
            QMessageBox.warning(self._window, "Cannot open image", str(exc))
            return False
        if not self.confirm_discard():
            return False
        self._document.load(image, path, source=source)
        self.opened.emit(path)
        self.message.emit(" ".join([f"Opened {Path(path).name} ({image.shape[1]}×{image.shape[0]}).", *notes]))
        text = read_parameters(path) if ask_about_parameters else None
        if text:
            answer = QMessageBox.question(
                self._window, "Generation parameters found",
                f"This image was made with these settings:\n\n{clean_text(text, 2_000)}\n\n"
                "Use them for the next generation?",
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
        if dialog.exec() != QDialog.DialogCode.Accepted or not self.confirm_discard():
            return None
        size = (width.value() // 8 * 8, height.value() // 8 * 8)
        self._document.new_blank(*size)
        return size

    def confirm_discard(self) -> bool:
        """Whether the current picture may be replaced: no unsaved changes, or the user saved
        them as a project (as when quitting) or chose to discard them."""
        if not self._document.dirty:
            return True
        buttons = QMessageBox.StandardButton
        offered = buttons.Discard | buttons.Cancel | (buttons.Save if self.save_project else buttons.NoButton)
        answer = QMessageBox.question(
            self._window, "Discard changes?",
            "The current picture has changes that are not saved. Save them as a project first, or discard them?",
            offered, buttons.Save if self.save_project else buttons.Cancel,
        )
        if answer == buttons.Save and self.save_project is not None:
            return self.save_project()
        return answer == buttons.Discard

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
        if is_original(path, self._document.path):
            if not self.confirm_replace_original(path):
                return False
            return self.save_to(path, replace_original=True)
        return self.save_to(path)

    def confirm_replace_original(self, path: str) -> bool:
        """Ask, a second time and with Cancel as the default, before the opened photo is replaced."""
        box = QMessageBox(QMessageBox.Icon.Warning, "Replace the original photo?",
                          f"'{Path(path).name}' is the photo you opened. Saving here replaces the original "
                          "for good; saving under a new name keeps it.", parent=self._window)
        replace = box.addButton("Replace the original", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(box.addButton(QMessageBox.StandardButton.Cancel))
        box.exec()
        return box.clickedButton() is replace

    def save_to(self, path: str, replace_original: bool = False) -> bool:
        """Write the picture as shown — visible paint laid in — to ``path`` (the caller has
        confirmed replacing an existing file), at the opened file's depth and channels where the
        format holds them (``inference.files.image_save.save_image``: a 16-bit scan stays 16-bit in
        PNG and TIFF, a gray one gray). The opened photo itself is written only with
        ``replace_original`` (the user confirmed that in ``confirm_replace_original``)."""
        if is_original(path, self._document.path) and not replace_original:
            QMessageBox.warning(self._window, "Cannot save", f"'{Path(path).name}' is the photo you opened; "
                                "Kiln does not write over it. Choose another name.")
            return False
        try:
            picture = self._document.composite()
            save_image(path, picture, self._parameters_for_save(), source=self._document.source)
            changes = self.changes_map_path(path) if self.export_changes_map else None
            if changes is not None:
                diff = changed_pixels_map(self._document.base[0], picture)
                save_image(changes, np.repeat(diff[..., None], 3, axis=2))
        except KilnError as exc:
            QMessageBox.warning(self._window, "Cannot save", f"{exc}\n\nNothing was lost: the picture is still open.")
            return False
        # An export is not the work: the mask, the layers and the history are kept only by
        # Save project, so the picture stays "unsaved" (quitting still offers to save it).
        self.saved.emit(path)
        extra = f" and {Path(changes).name}" if changes else ""
        self.message.emit(f"Exported {Path(path).name}{extra}. Ctrl+S keeps the mask, layers and history as a project.")
        return True

    def changes_map_path(self, export_path: str) -> str | None:
        """Where the changed-pixels map of an export goes: beside it, under a name no file has
        yet (it is never confirmed, so it never replaces anything); None when there is no
        opened photo of the same size to compare with."""
        opened, is_blank = self._document.base[0], self._document.base[3]
        if is_blank or opened.shape != self._document.image.shape:
            return None
        export = Path(export_path)
        candidate, n = export.with_name(f"{export.stem}-changes.png"), 2
        while candidate.exists() or is_original(str(candidate), self._document.path):
            candidate, n = export.with_name(f"{export.stem}-changes-{n}.png"), n + 1
        return str(candidate)


def is_original(path: str, original: str | None) -> bool:
    """Whether ``path`` names the opened photo ``original`` (the same file, by any name)."""
    if not original:
        return False
    try:
        return os.path.samefile(path, original)
    except OSError:  # one of them does not exist (any more)
        return Path(path).absolute() == Path(original).absolute()
