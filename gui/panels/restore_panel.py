"""The Restore panel: find damage, heal it without a model or fill it with a learned one, and shape
the mask."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QPushButton, QSlider


class RestorePanel(QGroupBox):
    """Buttons call one ``RestoreActions`` method each; the slider sets the sensitivity. The
    percentage has a fixed width: the slider does not move when it changes."""

    def __init__(self, actions, parent=None):
        super().__init__("Restore", parent)
        self._actions = actions
        self.sensitivity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.sensitivity_slider.setValue(round(actions.sensitivity * 100))
        self.sensitivity_slider.setToolTip("Higher finds fainter scratches and smaller dust, and more false alarms")
        self.sensitivity_label = QLabel()
        self.sensitivity_label.setFixedWidth(self.sensitivity_label.fontMetrics().horizontalAdvance("100%") + 4)
        self.sensitivity_slider.valueChanged.connect(self._show_sensitivity)
        self.detect_button = QPushButton("Detect damage", toolTip="Mark scratches, dust and spots (Ctrl+D)")
        self.detect_button.clicked.connect(actions.request_detection)
        self.heal_button = QPushButton("Heal", toolTip="Repair the masked area without a model (Ctrl+H)")
        self.heal_button.clicked.connect(actions.request_heal)
        self.fill_button = QPushButton("Fill hole", enabled=False, visible=False)  # shown by bind_fill
        grow = QPushButton("Grow", toolTip="Grow the mask by a few pixels")
        grow.clicked.connect(actions.grow)
        shrink = QPushButton("Shrink", toolTip="Shrink the mask by a few pixels")
        shrink.clicked.connect(actions.shrink)
        feather = QPushButton("Feather", toolTip="Soften the mask's edge")
        feather.clicked.connect(actions.feather)

        grid = QGridLayout(self)
        grid.addWidget(QLabel("Sensitivity"), 0, 0)
        grid.addWidget(self.sensitivity_slider, 0, 1, 1, 2)
        grid.addWidget(self.sensitivity_label, 0, 3)
        grid.addWidget(self.detect_button, 1, 0, 1, 2)
        grid.addWidget(self.heal_button, 1, 2)
        grid.addWidget(self.fill_button, 1, 3)
        grid.addWidget(grow, 2, 0)
        grid.addWidget(shrink, 2, 1)
        grid.addWidget(feather, 2, 2, 1, 2)
        self._show_sensitivity(self.sensitivity_slider.value())

    def bind_fill(self, fill, available, state: tuple[bool, str]) -> None:
        """Show the Fill button (learned fill): clicking calls ``fill()``; ``available(bool,
        reason)`` enables it or says in its tip why not (no mask yet, a job running); ``state``
        is the current (enabled, reason)."""
        self.fill_button.setVisible(True)
        self.fill_button.clicked.connect(fill)
        available.connect(self._show_fill_available)
        self._show_fill_available(*state)

    def _show_fill_available(self, enabled: bool, reason: str) -> None:
        self.fill_button.setEnabled(enabled)
        self.fill_button.setToolTip(f"{reason} (Ctrl+Shift+F)" if enabled else reason)

    def _show_sensitivity(self, value: int) -> None:
        # Every move, dragging too: the actions redo the detection once the moves settle, in
        # the background, so the slider never waits for it.
        self.sensitivity_label.setText(f"{value}%")
        self._actions.set_sensitivity(value / 100)
