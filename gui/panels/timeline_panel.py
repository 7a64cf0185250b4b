"""The timeline strip: scrub the last generation's steps on the canvas and branch from one.

A slider over steps 1..N of ``controller.timeline`` (``gui.session.timeline.StepTimeline``).
Moving it below N draws that step's preview in place on the canvas (noise turning into the
picture) as the overlay's ``TIMELINE`` frame; N, releasing at N or leaving the timeline takes the
frame away, and the result (or the picture) shows again. "Branch from this step" continues the
last text-to-image or image-to-image job after the chosen step with the panel's prompt and seed
(``GenerationController.branch``); the branch's timeline starts with its source's first steps,
so it shows the whole history.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from gui.session.overlay import CanvasOverlay, Layer
from gui.session.step_overlay import step_overlay
from gui.session.timeline import NOT_BRANCHABLE_TEXT, StepTimeline

BRANCH_TIP = ("Continue from the chosen step with the panel's prompt and seed: Random gives a variation, "
              "the result's own seed (Ctrl+R) the same picture")


class TimelinePanel(QWidget):
    """The timeline strip of ``controller.timeline``, drawing on ``overlay``.

    The slider runs over steps 1..N of the last finished job; below N the canvas shows that
    step's preview, at N (once released) the result. It is disabled while a job runs; a new
    picture in ``document`` forgets the timeline. Signals ``branch_available(bool)`` (whether
    "Branch from this step" can run now).
    """

    branch_available = Signal(bool)

    def __init__(self, controller, overlay: CanvasOverlay, document, parent: QWidget | None = None):
        super().__init__(parent)
        self._controller, self._overlay = controller, overlay
        self._timeline: StepTimeline = controller.timeline

        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=1, maximum=1)
        self.slider.setToolTip("Drag to watch the last generation form step by step; the end shows the result")
        self.slider.setPageStep(1)
        self.step_label = QLabel()
        self.step_label.setMinimumWidth(150)
        self.branch_button = QPushButton("Branch from this step (Ctrl+B)")
        row = QHBoxLayout()
        row.addWidget(QLabel("Steps"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.step_label)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.branch_button)

        self.slider.valueChanged.connect(self._on_value)
        self.slider.sliderReleased.connect(self._on_released)
        self.branch_button.clicked.connect(self.branch)
        self._timeline.changed.connect(self._on_timeline_changed)
        controller.busy_changed.connect(self._on_busy)
        overlay.withdrawn.connect(self._on_withdrawn)
        document.replaced.connect(self._timeline.clear)
        document.resized.connect(self._timeline.clear)
        self._on_timeline_changed()

    @property
    def step(self) -> int:
        """The chosen step, 1..N (N: the result)."""
        return self.slider.value()

    def branch(self) -> bool:
        """Branch from the chosen step (``GenerationController.branch``); whether a job started."""
        if not self.branch_button.isEnabled():
            return False
        return self._controller.branch(self.step)

    def leave(self) -> None:
        """Stop scrubbing: back to the last step and the result on the canvas."""
        self._reset_to_end()
        self._overlay.clear(Layer.TIMELINE)  # the result, or the picture, shows again

    def set_in_view(self, visible: bool) -> None:
        """The panel was shown or hidden (its dock): hidden is leaving (``leave``)."""
        # A window destroyed without closing hides its docks after their widgets are gone.
        if not visible and shiboken6.isValid(self.slider):
            self.leave()

    # --- slots --------------------------------------------------------------------------

    def _on_value(self, step: int) -> None:
        run = self._timeline.last
        if run is None or self._controller.busy:
            return
        if step >= len(run.previews) and not self.slider.isSliderDown():
            self.leave()
            return
        overlay = step_overlay(run.request, run.previews[step - 1])
        if overlay is not None:
            self._overlay.set(Layer.TIMELINE, *overlay)
        self._show_state()

    def _on_released(self) -> None:
        run = self._timeline.last
        if run is not None and self.step >= len(run.previews):
            self.leave()

    def _on_timeline_changed(self) -> None:
        run = self._timeline.last
        with QSignalBlocker(self.slider):
            self.slider.setRange(1, max(1, len(run.previews) if run else 1))
            self.slider.setValue(self.slider.maximum())
        self._show_state()

    def _on_busy(self, busy: bool) -> None:
        if busy:
            self._overlay.clear(Layer.TIMELINE)  # the new job's previews take over the canvas
            self._reset_to_end()
        self._show_state()

    def _on_withdrawn(self, layer: Layer) -> None:
        # Another frame took the canvas, or the result was picked, accepted or discarded:
        # whatever the canvas shows now is not a step.
        if layer is Layer.TIMELINE:
            self._reset_to_end()

    def _reset_to_end(self) -> None:
        with QSignalBlocker(self.slider):
            self.slider.setValue(self.slider.maximum())
        self._show_state()

    def _show_state(self) -> None:
        run, busy = self._timeline.last, self._controller.busy
        total = len(run.previews) if run else 0
        self.slider.setEnabled(total > 1 and not busy)
        if run is None:
            self.step_label.setText("No steps yet: generate a picture")
        else:
            where = "the result" if self.step >= total else f"seed {run.request.seed}"
            self.step_label.setText(f"Step {self.step} of {total} · {where}")
        can_branch = run is not None and run.branchable and not busy and 1 <= self.step < total
        self.branch_button.setEnabled(can_branch)
        self.branch_button.setToolTip(NOT_BRANCHABLE_TEXT if run is not None and not run.branchable else BRANCH_TIP)
        self.branch_available.emit(can_branch)
