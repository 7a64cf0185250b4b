"""The device panel: where models run (GPU name and memory, or the CPU), in which precision, and
how memory is saved. Choices are remembered (QSettings) and handed to the worker, which applies
them between jobs; the device line is filled in once the engine has started (torch is not
imported in the GUI thread, so the window opens at once).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel

# The names inference.hardware.devices.PRECISIONS and inference.hardware.memory.MEMORY_MODE_NAMES accept (those
# modules import torch; a test checks these lists match them).
PRECISIONS = {
    "auto": "Auto (fp16 on a GPU, fp32 on the CPU)",
    "fp16": "fp16 — half memory, GPUs only",
    "bf16": "bf16 — recent GPUs, or the CPU",
    "fp32": "fp32 — full precision, most memory",
}
MEMORY_MODES = {
    "auto": "Auto (from free memory and image size)",
    "none": "Fastest — keep everything on the GPU",
    "slicing": "Slicing — tile the decode, slice attention",
    "offload": "Offload — each model to the GPU only while it runs",
    "sequential": "Sequential offload — least memory, slowest",
}
NOT_STARTED = "Shown once the first generation starts"


class DevicePanel(QGroupBox):
    """Device line, precision and memory mode. ``changed(precision, memory_mode)`` on a choice."""

    changed = Signal(str, str)

    def __init__(self, precision: str = "auto", memory_mode: str = "auto", parent=None):
        super().__init__("Device", parent)
        self.device_label = QLabel(NOT_STARTED, wordWrap=True)
        self.device_label.setToolTip("The GPU (name, free and total memory) or CPU that generates")
        self.precision_combo = self._combo(PRECISIONS, precision)
        self.precision_combo.setToolTip("Number format of the weights. Changing it loads the model again.")
        self.memory_combo = self._combo(MEMORY_MODES, memory_mode)
        self.memory_combo.setToolTip(
            "How to fit a model in GPU memory. Kiln retries a job that runs out of memory once in a lighter mode.")
        layout = QFormLayout(self)
        layout.addRow(self.device_label)
        layout.addRow("Precision", self.precision_combo)
        layout.addRow("Memory", self.memory_combo)
        self.precision_combo.currentIndexChanged.connect(self._emit)
        self.memory_combo.currentIndexChanged.connect(self._emit)

    @staticmethod
    def _combo(choices: dict[str, str], current: str) -> QComboBox:
        combo = QComboBox()
        for name, text in choices.items():
            combo.addItem(text, name)
        combo.setCurrentIndex(max(0, combo.findData(current)))
        return combo

    @property
    def precision(self) -> str:
        return self.precision_combo.currentData()

    @property
    def memory_mode(self) -> str:
        return self.memory_combo.currentData()

    def show_device(self, text: str) -> None:
        self.device_label.setText(text)

    def _emit(self) -> None:
        self.changed.emit(self.precision, self.memory_mode)
