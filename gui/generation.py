"""The generation controller: document + panel params → request → worker → canvas and history.

Owns the job ids, the progress text and which result is shown on the canvas. The canvas shows
each step's preview in place (for inpainting, only inside the mask); a finished result goes to
the history strip and is shown over the photo until the user accepts it (one undoable edit) or
moves on. Cancel restores the canvas.
"""

from __future__ import annotations

import itertools

import numpy as np

from PySide6.QtCore import QObject, QRect, Signal

from gui.generation_params import GenerationParams, build_request, mode_for
from gui.history import HistoryEntry, HistoryStrip
from gui.preview_overlay import mask_box, masked_preview
from inference.api import GenerationRequest, JobCancelled, JobFailed, JobFinished, JobStarted, Mode, StepPreview
from inference.errors import KilnError
from inference.metadata import format_parameters
from inference.model_ref import model_display_name


def format_eta(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class GenerationController(QObject):
    """Signals: ``busy_changed(bool)``, ``progress(step, total, text)``, ``message(str)`` for the
    status bar, ``error(str)`` for a dialog, ``model_needed()`` when Generate has no model,
    ``mode_changed(Mode)``, ``result_shown(bool)`` (a result is on the canvas, not applied)."""

    busy_changed = Signal(bool)
    progress = Signal(int, int, str)
    message = Signal(str)
    error = Signal(str)
    model_needed = Signal()
    mode_changed = Signal(object)
    result_shown = Signal(bool)

    def __init__(self, document, canvas, params: GenerationParams, worker, history: HistoryStrip, parent=None):
        super().__init__(parent)
        self._document, self._canvas, self._params = document, canvas, params
        self._worker, self._history = worker, history
        self._job_ids = itertools.count(1)
        self._request: GenerationRequest | None = None
        self._shown: HistoryEntry | None = None
        self.last_applied: HistoryEntry | None = None
        worker.started.connect(self._on_started)
        worker.step.connect(self._on_step)
        worker.finished.connect(self._on_finished)
        worker.cancelled.connect(self._on_cancelled)
        worker.failed.connect(self._on_failed)
        worker.status.connect(self.message)
        history.entry_selected.connect(self.show_result)
        document.mask_changed.connect(self._emit_mode)
        document.replaced.connect(self._on_replaced)

    @property
    def busy(self) -> bool:
        return self._request is not None

    @property
    def mode(self) -> Mode:
        return mode_for(self._document.is_blank, self._document.has_mask())

    # --- actions ------------------------------------------------------------------------

    def generate(self) -> None:
        """Start a job from the current document and params (a running job is replaced)."""
        params = self._params.copy()
        if not params.model_ref:
            self.model_needed.emit()
            return
        try:
            request = build_request(next(self._job_ids), params, self._document.image,
                                    self._document.mask, self._document.is_blank)
        except KilnError as exc:
            self.error.emit(str(exc))
            return
        self._hide_result()
        self._request = request
        self._worker.submit(request)
        self.busy_changed.emit(True)
        self.progress.emit(0, 0, "Starting…")

    def cancel(self) -> None:
        if self.busy:
            self._worker.cancel()
            self.message.emit("Stopping…")

    def accept(self) -> bool:
        """Apply the result shown on the canvas as one undoable edit."""
        entry = self._shown
        if entry is None:
            return False
        self._hide_result()
        if entry.image.shape[:2] != self._document.image.shape[:2]:
            self.error.emit("This result was made for a picture of another size and cannot be applied here.")
            return False
        # One undo step: the new pixels, and the mask that asked for them cleared.
        stack = self._document.undo_stack
        stack.beginMacro(f"Apply result (seed {entry.seed})")
        self._document.apply_image(entry.image, "Apply result")
        if entry.mode is Mode.INPAINT:
            self._document.clear_mask()
        stack.endMacro()
        self.last_applied = entry
        self.message.emit(f"Applied the result with seed {entry.seed}. Undo with Ctrl+Z.")
        return True

    def discard(self) -> None:
        self._hide_result()

    def show_result(self, entry: HistoryEntry) -> None:
        """Show a history entry over the photo, not yet applied."""
        if self.busy:
            return
        self._shown = entry
        self._canvas.show_preview(entry.image, QRect())
        self.result_shown.emit(True)

    def set_before_after(self, show_before: bool) -> None:
        """Before/after toggle: hide (before) or show (after) the pending result."""
        if self._shown is None:
            return
        if show_before:
            self._canvas.clear_preview()
        else:
            self._canvas.show_preview(self._shown.image, QRect())

    def set_split(self, fraction: float) -> None:
        """Split before/after: the result left of ``fraction`` × width, the original right of it,
        a divider between them. The result stays uploaded; only the split moves."""
        if self._shown is None:
            return
        self._canvas.set_split(min(max(fraction, 0.0), 1.0))

    def shown_entry(self) -> HistoryEntry | None:
        return self._shown

    # --- worker events ------------------------------------------------------------------

    def _on_started(self, event: JobStarted) -> None:
        self.message.emit("")  # loading is over: clear "Loading the model…"
        self.progress.emit(0, event.total_steps, f"Step 0/{event.total_steps}")

    def _on_step(self, event: StepPreview) -> None:
        request = self._request
        if request is None:
            return
        if event.rgb is not None:
            self._show_step(request, event)
        eta = event.elapsed_s / event.step * (event.total - event.step)
        self.progress.emit(event.step, event.total, f"Step {event.step}/{event.total} · ETA {format_eta(eta)}")

    def _show_step(self, request: GenerationRequest, event: StepPreview) -> None:
        """Draw a step preview in place: over the region it covers, and for inpainting only
        where the mask is painted inside it."""
        box_px = event.box
        covers = QRect(*box_px) if box_px else QRect()
        if request.mode is not Mode.INPAINT:
            self._canvas.show_preview(event.rgb, covers)
            return
        region = covers if box_px else QRect(0, 0, request.width_px, request.height_px)
        crop = request.mask[region.top(): region.top() + region.height(), region.left(): region.left() + region.width()]
        box = mask_box(crop).translated(region.topLeft())
        if not box.isEmpty():
            self._canvas.show_preview(masked_preview(event.rgb, request.mask, box, region), box)

    def _on_finished(self, event: JobFinished) -> None:
        request, self._request = self._request, None
        self._canvas.clear_preview()
        self.busy_changed.emit(False)
        self.progress.emit(1, 1, f"Done in {event.elapsed_s:.1f} s")
        parameters = format_parameters(request, model_display_name(request.model_ref))
        entry = HistoryEntry(event.job_id, event.image, request.mode, event.seed, parameters)
        self._history.add(entry)  # selects it, which shows it on the canvas
        self.message.emit("Accept the result with Enter, compare with \\, or pick another in the history.")

    def _on_cancelled(self, event: JobCancelled) -> None:
        self._request = None
        self._canvas.clear_preview()
        self.busy_changed.emit(False)
        self.progress.emit(0, 1, f"Stopped after step {event.step}")
        self.message.emit("Stopped. The picture is unchanged.")

    def _on_failed(self, event: JobFailed) -> None:
        self._request = None
        self._canvas.clear_preview()
        self.busy_changed.emit(False)
        self.progress.emit(0, 1, "Failed")
        self.error.emit(event.message)

    # --- document -----------------------------------------------------------------------

    def _hide_result(self) -> None:
        if self._shown is not None:
            self._shown = None
            self._canvas.clear_preview()
            self.result_shown.emit(False)

    def _emit_mode(self, *_args) -> None:
        self.mode_changed.emit(self.mode)

    def _on_replaced(self) -> None:
        self._shown = None
        self.result_shown.emit(False)
        self._history.clear_entries()
        self._emit_mode()
