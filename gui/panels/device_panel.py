"""The device panel: where models run — this computer (GPU name and memory, or the CPU, in which
precision, how memory is saved) or a Kiln server (its address and token, and what it said). Choices are remembered (QSettings) and handed to the worker, which applies
them between jobs; the device line is filled in once the engine has started (torch is not
imported in the GUI thread, so the window opens at once).
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

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
RUN_ON = {False: "This computer", True: "A Kiln server"}


class DevicePanel(QGroupBox):
    """Device line, precision and memory mode. ``changed(precision, memory_mode)`` on a choice;
    ``server_changed(on, url, token)`` when Run on changes or Connect is pressed."""

    changed = Signal(str, str)
    server_changed = Signal(bool, str, str)

    def __init__(self, precision: str = "auto", memory_mode: str = "auto", parent=None):
        super().__init__("Device", parent)
        self.device_label = QLabel(NOT_STARTED, wordWrap=True)
        self.device_label.setToolTip("The GPU (name, free and total memory) or CPU that generates")
        self.precision_combo = self._combo(PRECISIONS, precision)
        self.precision_combo.setToolTip("Number format of the weights. Changing it loads the model again.")
        self.memory_combo = self._combo(MEMORY_MODES, memory_mode)
        self.memory_combo.setToolTip(
            "How to fit a model in GPU memory. Kiln retries a job that runs out of memory once in a lighter mode.")
        self.run_on_combo = self._combo(RUN_ON, False)
        self.run_on_combo.setToolTip("Where generation runs: here, or on a Kiln server (main.py serve) with a GPU")
        self.url_edit = QLineEdit(placeholderText="http://192.168.1.20:7860")
        self.url_edit.setToolTip("The Kiln server's address (main.py serve prints it)")
        self.token_edit = QLineEdit(placeholderText="token", echoMode=QLineEdit.EchoMode.Password)
        self.token_edit.setToolTip("The token the server was started with (empty for a server on this computer)")
        self.connect_button = QPushButton("Connect")
        self.server_status = QLabel(wordWrap=True)
        self.server_row = QWidget()
        row = QHBoxLayout(self.server_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.url_edit, 3)
        row.addWidget(self.token_edit, 2)
        row.addWidget(self.connect_button)
        layout = QFormLayout(self)
        layout.addRow("Run on", self.run_on_combo)
        layout.addRow(self.server_row)
        layout.addRow(self.server_status)
        layout.addRow(self.device_label)
        layout.addRow("Precision", self.precision_combo)
        layout.addRow("Memory", self.memory_combo)
        self.precision_combo.currentIndexChanged.connect(self._emit)
        self.memory_combo.currentIndexChanged.connect(self._emit)
        self.run_on_combo.currentIndexChanged.connect(self._server_choice_changed)
        self.connect_button.clicked.connect(self._emit_server)
        self.url_edit.returnPressed.connect(self._emit_server)
        self.token_edit.returnPressed.connect(self._emit_server)
        self._show_server_rows()

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

    @property
    def on_server(self) -> bool:
        return bool(self.run_on_combo.currentData())

    def set_server(self, on: bool, url: str, token: str) -> None:
        """Show a remembered choice (emits nothing)."""
        self.url_edit.setText(url)
        self.token_edit.setText(token)
        self.run_on_combo.blockSignals(True)
        self.run_on_combo.setCurrentIndex(max(0, self.run_on_combo.findData(on)))
        self.run_on_combo.blockSignals(False)
        self._show_server_rows()

    def show_server_status(self, text: str, ok: bool) -> None:
        self.server_status.setText(text)
        self.server_status.setStyleSheet("" if ok else "color: #b00020;")

    def show_device(self, text: str) -> None:
        self.device_label.setText(text)

    def _server_choice_changed(self) -> None:
        self._show_server_rows()
        if not self.on_server or self.url_edit.text().strip():
            self._emit_server()
        else:
            self.url_edit.setFocus()
            self.show_server_status("Type the server's address (and token), then Connect.", True)

    def _show_server_rows(self) -> None:
        on = self.on_server
        layout = self.layout()
        layout.setRowVisible(self.server_row, on)
        layout.setRowVisible(self.server_status, on)
        for widget in (self.device_label, self.precision_combo, self.memory_combo):  # this computer's
            layout.setRowVisible(widget, not on)
            widget.setEnabled(not on)

    def _emit_server(self) -> None:
        self.server_changed.emit(self.on_server, self.url_edit.text().strip(), self.token_edit.text().strip())

    def _emit(self) -> None:
        self.changed.emit(self.precision, self.memory_mode)
