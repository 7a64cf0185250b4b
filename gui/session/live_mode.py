"""Live mode: the picture regenerates after every stroke, the latest state always winning.

Policy (one job in flight, never two):
  * Any change to the document's pixels (a stroke segment, fill, undo, …) makes the state
    *dirty*: the result on the canvas is out of date and is hidden, and a running job is
    cancelled through the worker's ``threading.Event`` (``GenerationController.cancel``).
  * A new job starts when the stroke ends, or after ``PAUSE_MS`` without pointer motion while
    a stroke is still being drawn — but only once the previous job's terminal event (finished,
    cancelled or failed) has arrived. It is built from the document *at that moment*, so the
    strokes made while the stale job wound down are all in it.
  * A live result is shown on the canvas like any result (Accept, Discard, compare); it enters
    the history only when accepted, so painting does not fill the history strip.

``fast_preset`` gives the settings few-step models need (Turbo, LCM); ``LiveMode`` holds no
generation settings itself.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from gui.session.generation_params import GenerationParams
from inference.engine.schedulers import scheduler_names

PAUSE_MS = 300  # a pointer held still this long mid-stroke counts as a pause worth a preview

# The "Fast (Turbo / LCM)" preset: few-step distilled models want little or no guidance (≤ 1
# turns classifier-free guidance off, which also halves the work per step) and 1–4 steps.
FAST_STEPS = 4
FAST_GUIDANCE = 1.0
FAST_SCHEDULER = "lcm"  # used only where inference.engine.schedulers offers it


def fast_preset(params: GenerationParams) -> GenerationParams:
    """A copy of ``params`` with the fast few-step settings: ``FAST_STEPS`` steps, guidance
    ``FAST_GUIDANCE`` and the "lcm" scheduler when the installed scheduler list has it (the
    scheduler is left alone otherwise)."""
    fast = params.copy()
    fast.steps, fast.guidance = FAST_STEPS, FAST_GUIDANCE
    if FAST_SCHEDULER in scheduler_names():
        fast.scheduler = FAST_SCHEDULER
    return fast


class LiveMode(QObject):
    """Regenerates the document while ``enabled``, following the policy above.

    Talks to the ``GenerationController`` only through ``generate(live=True)``, ``cancel()``,
    ``discard()``, ``busy`` and its signals. Turns itself off when a live job cannot start
    (no model, invalid settings) or fails, so one problem gives one message, not one per stroke.
    Signals: ``enabled_changed(bool)``, ``message(str)`` for the status bar.
    """

    enabled_changed = Signal(bool)
    message = Signal(str)

    def __init__(self, document, controller, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._document, self._controller = document, controller
        self._enabled = False
        self._dirty = False  # the document changed since the last live job was built
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self._start_if_idle)
        for signal in (document.image_changed, document.paint_changed, document.mask_changed):
            signal.connect(self._on_changed)
        document.paint_visibility_changed.connect(self._on_changed)
        document.resized.connect(self._on_changed)
        document.undo_stack.indexChanged.connect(self._on_stroke_recorded)
        controller.busy_changed.connect(self._on_busy_changed)
        controller.applied.connect(self._on_applied)
        controller.error.connect(self._on_error)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        """Turn live mode on (the current picture is generated at once) or off (a running job
        finishes normally)."""
        enabled = bool(enabled)
        if enabled == self._enabled:
            return
        self._enabled = enabled
        self._timer.stop()
        self._dirty = enabled
        self.enabled_changed.emit(enabled)
        if enabled:
            self.message.emit("Live mode: the picture regenerates after every stroke (Ctrl+L to stop).")
            self._timer.start(0)
        else:
            self.message.emit("Live mode off.")

    # --- document → schedule ------------------------------------------------------------

    def _on_changed(self, *_args) -> None:
        if not self._enabled:
            return
        self._dirty = True
        self._controller.discard()  # the result on the canvas shows an older picture
        self._controller.cancel()  # stale; the next job starts when its terminal event arrives
        self._timer.start(PAUSE_MS if self._document.stroke_active else 0)

    def _on_stroke_recorded(self, *_args) -> None:
        # A stroke ended (or another edit was recorded): no need to wait for the pause.
        if self._enabled and self._dirty and not self._document.stroke_active:
            self._timer.start(0)

    def _on_busy_changed(self, busy: bool) -> None:
        # The previous job's terminal event: start the newest state unless the user is still
        # drawing without a pause (the timer will start it).
        if not busy and self._enabled and self._dirty and not self._timer.isActive():
            self._timer.start(0)

    def _start_if_idle(self) -> None:
        if not (self._enabled and self._dirty) or self._controller.busy:
            return
        self._dirty = False
        if not self._controller.generate(live=True):
            self.set_enabled(False)

    def _on_applied(self) -> None:
        # Accepting changes the picture, but into what the user just accepted: nothing to redo.
        self._dirty = False
        self._timer.stop()

    def _on_error(self, text: str) -> None:
        if self._enabled:
            self.set_enabled(False)
            self.message.emit(f"Live mode stopped: {text}")
