"""The Faces panel: the face box tool, Find faces, Restore faces with its Fidelity, and the face pass.

Bound to the session: the face boxes (``gui.session.face_boxes.FaceBoxes``) and the face work
(``gui.session.face_restore.FaceRestoration``) and finding them
(``gui.session.face_finding.FaceFinding``); the widgets hold nothing that matters. The
buttons are disabled while they cannot run, their tooltip saying why (no boxes, no model).
Two rows, so the generation panel's Prompt stays in sight at 1280×800: the tool, Fidelity and
Restore faces; Find faces, the face pass and its strength. How many boxes there are is the tool's tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QPushButton, QSlider

FIDELITY_TIP = "Fidelity, original ↔ model: 0 keeps each face exactly as it is; 1 takes the face model's face"


class FacesPanel(QGroupBox):
    """``tool_action``: the checkable action of the face box tool (Image → Faces)."""

    def __init__(self, boxes, faces, finding, tool_action, parent=None):
        super().__init__("Faces", parent)
        self._boxes, self._faces, self._finding = boxes, faces, finding
        self._tool_tip = tool_action.toolTip()
        self.tool_button = QPushButton("Face box tool (F)", checkable=True)
        self.tool_button.setChecked(tool_action.isChecked())
        tool_action.toggled.connect(self.tool_button.setChecked)
        self.tool_button.clicked.connect(lambda _checked: tool_action.trigger())
        self.fidelity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.fidelity_slider.setValue(round(faces.fidelity * 100))
        self.fidelity_slider.setToolTip(FIDELITY_TIP)
        self.fidelity_value = QLabel()
        self.fidelity_value.setFixedWidth(self.fidelity_value.fontMetrics().horizontalAdvance("0.00") + 6)
        self.restore_button = QPushButton("Restore faces")
        self.find_button = QPushButton("Find faces")
        self.pass_button = QPushButton("Face pass with the diffusion model")
        self.strength_spin = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05, decimals=2)
        self.strength_spin.setValue(faces.pass_strength)
        self.strength_spin.setPrefix("Strength ")
        self.strength_spin.setToolTip("How much the face pass may change each face: low keeps the person")

        grid = QGridLayout(self)
        grid.addWidget(self.tool_button, 0, 0)
        grid.addWidget(QLabel("Fidelity", toolTip=FIDELITY_TIP), 0, 1)
        grid.addWidget(self.fidelity_slider, 0, 2)
        grid.addWidget(self.fidelity_value, 0, 3)
        grid.addWidget(self.restore_button, 0, 4)
        grid.addWidget(self.find_button, 1, 0)
        grid.addWidget(self.pass_button, 1, 1, 1, 3)
        grid.addWidget(self.strength_spin, 1, 4)
        grid.setColumnStretch(2, 1)
        grid.setVerticalSpacing(4)  # compact: the Prompt below stays in sight at 1280×800

        self.fidelity_slider.valueChanged.connect(self._set_fidelity)
        self.strength_spin.valueChanged.connect(self._set_strength)
        self.restore_button.clicked.connect(self._restore_or_stop)
        self.pass_button.clicked.connect(faces.face_pass)
        self.find_button.clicked.connect(finding.find)
        faces.state_changed.connect(self.refresh)
        finding.state_changed.connect(self.refresh)
        boxes.changed.connect(self.refresh)
        self._set_fidelity(self.fidelity_slider.value())
        self.refresh()

    def refresh(self) -> None:
        """Show what can run now, and why not."""
        self.tool_button.setToolTip(f"{self.box_count_text()}. {self._tool_tip}")
        faces = self._faces
        if faces.busy:
            self.restore_button.setText("Stop restoring (Esc)")
            self.restore_button.setEnabled(True)
            self.restore_button.setToolTip("Stop: the picture stays as it was")
        else:
            ready, reason = faces.restore_ready()
            self.restore_button.setText("Restore faces")
            self.restore_button.setEnabled(ready)
            self.restore_button.setToolTip(reason)
        ready, reason = faces.pass_ready()
        self.pass_button.setEnabled(ready)
        self.pass_button.setToolTip(reason)
        # Clickable without a detector too: a disabled button shows no tooltip, and the click says
        # where to get one.
        _ready, reason = self._finding.ready()
        self.find_button.setEnabled(not self._finding.busy)
        self.find_button.setToolTip(reason)

    def box_count_text(self) -> str:
        """"2 face boxes", or what to do while there is none."""
        count = len(self._boxes.boxes)
        return f"{count} face box{'' if count == 1 else 'es'}" if count else "No face boxes yet: drag over a face"

    def _restore_or_stop(self) -> None:
        if self._faces.busy:
            self._faces.cancel()
        else:
            self._faces.restore()

    def _set_fidelity(self, value: int) -> None:
        self._faces.fidelity = value / 100
        self.fidelity_value.setText(f"{value / 100:.2f}")

    def _set_strength(self, value: float) -> None:
        self._faces.pass_strength = value

    # --- Qt overrides ---------------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: N802 (Qt override)
        self._boxes.set_shown("panel", True)  # the boxes are drawn while this panel shows
        self.refresh()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802
        self._boxes.set_shown("panel", False)
        super().hideEvent(event)

    def changeEvent(self, event) -> None:  # noqa: N802
        if event.type() == QEvent.Type.ActivationChange:
            self.refresh()  # back from the Models dialog: a face model or detector may have been chosen
        super().changeEvent(event)
