"""Image → Upscale… and Fill (learned): the menu items, the Upscale dialog and the status bar for
``gui.session.restoration_jobs.RestorationJobs``, which runs the jobs and applies their results.

The Upscale dialog opens at once; the model file is opened in the background meanwhile
(``describe_model``, cached per file) to show what it is and to default the factor to its native
scale — and a model of the wrong kind disables Upscale there, before any work.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QWidget

from gui.dialogs.upscale_dialog import UpscaleDialog
from gui.session.background import BackgroundRunner
from gui.session.restoration_jobs import RestorationJobs, upscale_problem


def describe_model(path: str, allow_noncommercial: bool = False) -> tuple[str, int, str]:
    """(text, native scale, why it cannot upscale or "") of the model file ``path``. Opens it on
    the CPU (seconds for a large file: call it off the GUI thread). Raises ``KilnError``."""
    from inference.core.errors import ModelError
    from inference.restoration_models.model_file import load_restoration_model, require_kind

    model = load_restoration_model(path, allow_noncommercial, device="cpu")
    try:
        require_kind(model, "upscale", "Upscale")
        problem = ""
    except ModelError as exc:
        problem = str(exc)
    return model.describe(), model.scale, problem


class UpscaleActions(QObject):
    """What Image → Upscale… and Fill do. ``dialog`` is the Upscale dialog while it is open."""

    message = Signal(str)

    def __init__(self, jobs: RestorationJobs, document, parent: QObject | None = None, controller=None):
        super().__init__(parent)
        self.jobs, self._document, self._controller = jobs, document, controller
        self._detail_after = False  # the Upscale dialog asked for Add detail once the upscale is applied
        jobs.applied.connect(self._on_applied)
        self._window: QWidget | None = None
        self._probe: BackgroundRunner | None = None  # made on first use: a thread of its own
        self._described: dict[tuple[str, float], tuple[str, int, str]] = {}
        self.dialog: UpscaleDialog | None = None
        self._dialog_key: tuple[str, float] | None = None  # the model file the open dialog shows

    def set_window(self, window: QWidget) -> None:
        self._window = window

    def upscale_dialog(self) -> bool:
        """Ask for the factor (and whether only the masked area), then start the upscale. False when
        it did not start."""
        dialog = self.make_dialog()
        if dialog is None:
            return False
        try:
            accepted = dialog.exec() == QDialog.DialogCode.Accepted
            started = accepted and self.jobs.upscale(dialog.factor(), masked_area=dialog.only_masked_area())
            self._detail_after = bool(started and dialog.wants_detail())
            return started
        finally:
            self.dialog = None
            dialog.deleteLater()

    def make_dialog(self) -> UpscaleDialog | None:
        """The Upscale dialog for the current picture and model (not shown), or None — said why —
        when no upscale can start now (no model chosen, another job running)."""
        path = self.jobs.ready_model("upscale")
        if not path:
            return None
        doc = self._document
        detail_model = self._controller.model_ref if self._controller is not None else ""
        area = self.jobs.masked_area()
        self.dialog = UpscaleDialog(doc.width_px, doc.height_px, os.path.basename(path), upscale_problem,
                                    parent=self._window, detail_model=detail_model,
                                    masked_size=area[2:] if area is not None else None)
        key = self._dialog_key = (path, _mtime(path))
        if key in self._described:
            self.dialog.set_model(*self._described[key])
        else:
            self._describe(key)
        return self.dialog

    def add_detail(self) -> bool:
        """Image → Add detail: a low-strength diffusion pass over the picture, tile by tile."""
        from gui.dialogs.upscale_dialog import DETAIL_STRENGTH

        return self._controller is not None and self._controller.add_detail(DETAIL_STRENGTH)

    def _on_applied(self, kind: str) -> None:
        if kind == "upscale" and self._detail_after:
            self._detail_after = False
            self.add_detail()

    def fill(self) -> bool:
        """Fill the mask with the learned fill model (one undo step)."""
        return self.jobs.fill()

    def shutdown(self) -> None:
        if self._probe is not None:
            self._probe.stop(timeout_s=0.1)

    def wait_described(self, timeout_s: float = 60.0) -> bool:
        """Wait for the model file to be opened (tests)."""
        from gui.session.background import wait_with_events

        return wait_with_events(lambda: self._probe is None or not self._probe.busy, timeout_s)

    def _describe(self, key: tuple[str, float]) -> None:
        if self._probe is None:
            self._probe = BackgroundRunner("restoration-probe", self)
            self._probe.done.connect(self._on_described)
            self._probe.failed.connect(self._on_describe_failed)
        path, allowed = key[0], self.jobs.allow_noncommercial()
        self._probe.submit(lambda: describe_model(path, allowed), key)

    def _on_described(self, key, described: tuple[str, int, str]) -> None:
        self._described[key] = described
        if self.dialog is not None and key == self._dialog_key:
            self.dialog.set_model(*described)

    def _on_describe_failed(self, key, text: str) -> None:
        if self.dialog is not None and key == self._dialog_key:
            self.dialog.set_model(os.path.basename(key[0]), None, text)


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def install_restoration(window, document, overlay, worker, controller, settings, panel,
                        restore_panel) -> tuple[RestorationJobs, UpscaleActions]:
    """Image → Upscale… (Ctrl+Alt+U) and Image → Fill the mask (Ctrl+Shift+F; the Restore panel's
    Fill button): the jobs on the editor's runner, their progress in the status bar, Esc and Stop
    stopping them, the Generate button waiting while they run."""
    jobs = RestorationJobs(document, overlay, worker, settings)
    actions = UpscaleActions(jobs, document, controller=controller)
    actions.set_window(window)
    window.add_menu_action("&Image", "&Upscale…", actions.upscale_dialog, ["Ctrl+Alt+U"],
                           tip="Enlarge the picture (or only its masked area) ×2, ×3 or ×4 with the upscaler "
                               "chosen in File → Models…")
    window.add_menu_action("&Image", "Add &detail", actions.add_detail, ["Ctrl+Alt+D"],
                           tip="A low-strength pass of the diffusion model over the whole picture, tile by tile at "
                               "full resolution (after Upscale: texture an upscaler cannot invent)")
    window.add_menu_action("&Image", "&Fill the mask (learned)", actions.fill, ["Ctrl+Shift+F"],
                           tip="Fill the masked area from its surroundings with the fill model (LaMa)")
    restore_panel.bind_fill(actions.fill, jobs.fill_available, jobs.fill_state())
    jobs.message.connect(window.show_message)
    jobs.error.connect(window.show_error)
    jobs.progress.connect(lambda step, total, text: _show_progress(window, step, total, text))
    jobs.busy_changed.connect(lambda busy: panel.set_busy(busy or controller.busy))
    window.cancel_action.triggered.connect(jobs.cancel)  # Esc
    panel.cancel_requested.connect(jobs.cancel)  # the Stop button
    window.closing.connect(actions.shutdown)
    return jobs, actions


def _show_progress(window, step: int, total: int, text: str) -> None:
    window.progress_bar.setRange(0, max(total, 1) if total else 0)  # 0..0: busy, the total not known yet
    window.progress_bar.setValue(step)
    window.progress_label.setText(text)
