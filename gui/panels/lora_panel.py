"""The LoRA list: .safetensors LoRA files applied to the model, each with a weight.

Bound to ``GenerationParams.loras`` (a list of [path, weight]): each row writes its weight there
when it changes, Add and Remove edit the list. The engine checks the files when a job starts
(a pickle or a LoRA for another model family gets a message then).
"""

from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QDoubleSpinBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QVBoxLayout, QWidget)

from gui.session.generation_params import GenerationParams

WEIGHT_RANGE = (-2.0, 2.0)  # inference.core.api.LORA_WEIGHT_RANGE


class LoraPanel(QGroupBox):
    """Rows of LoRA name, weight and a remove button, and "Add LoRA…". ``changed()`` after edits."""

    changed = Signal()

    def __init__(self, params: GenerationParams, parent=None):
        super().__init__("LoRA", parent)
        self._params = params
        self._rows = QVBoxLayout()
        add = QPushButton("Add LoRA…")
        add.setToolTip("A .safetensors LoRA made for this model's family, e.g. an LCM-LoRA for live mode")
        add.clicked.connect(self.add_dialog)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(self._rows)
        layout.addWidget(add)
        params.watch("loras", lambda _loras: self._rebuild() if shiboken6.isValid(self) else None)
        self._rebuild()

    def add_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a LoRA", "", "LoRA files (*.safetensors);;All files (*)")
        if path:
            self.add(path)

    def add(self, path: str, weight: float = 1.0) -> None:
        """Append ``path`` at ``weight`` (a path already listed keeps its row)."""
        if any(Path(p) == Path(path) for p, _ in self._params.loras):
            return
        self._params.loras = [*self._params.loras, [str(path), float(weight)]]  # the rows follow
        self.changed.emit()

    def remove(self, index: int) -> None:
        self._params.loras = [pair for i, pair in enumerate(self._params.loras) if i != index]
        self.changed.emit()

    def _rebuild(self) -> None:
        """The rows of ``params.loras``."""
        params = self._params
        while self._rows.count():
            widget = self._rows.takeAt(0).widget()
            if widget is not None:
                widget.deleteLater()
        for index, (path, weight) in enumerate(params.loras):
            self._rows.addWidget(self._row(index, path, weight))

    def _row(self, index: int, path: str, weight: float) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        name = QLabel(Path(path).stem)
        name.setToolTip(path)
        spin = QDoubleSpinBox(minimum=WEIGHT_RANGE[0], maximum=WEIGHT_RANGE[1], singleStep=0.1, decimals=2)
        spin.setValue(weight)
        spin.setToolTip("1 = as trained, 0 = no effect, negative = the opposite")
        spin.valueChanged.connect(lambda value, i=index: self._set_weight(i, value))
        remove = QPushButton("✕")
        remove.setFixedWidth(28)
        remove.setToolTip("Remove this LoRA")
        remove.clicked.connect(lambda _=False, i=index: self.remove(i))
        layout.addWidget(name, 1)
        layout.addWidget(spin)
        layout.addWidget(remove)
        return row

    def _set_weight(self, index: int, weight: float) -> None:
        self._params.loras[index] = [self._params.loras[index][0], float(weight)]
        self.changed.emit()
