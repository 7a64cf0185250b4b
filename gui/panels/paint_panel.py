"""The Paint panel: the paint tools, their colour, size and opacity, and the paint layer's
visibility. Every control writes one setting of the canvas or the document and shows it back
from their signals; the panel holds no state of its own."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
)

from gui.canvas.view import MAX_BRUSH_PX, MIN_BRUSH_PX

# (tool name, button text, shortcut shown in the tooltip, what it does)
PAINT_TOOLS = (
    ("paint", "Paint", "P", "Paint in the colour at the opacity; one stroke never builds up past it"),
    ("paint eraser", "Erase", "Shift+P", "Remove paint (not the photo)"),
    ("fill", "Fill", "G", "Fill the area of similar colour under the click with the colour"),
)


class PaintPanel(QGroupBox):
    """Controls bound to a ``CanvasView`` (tool, paint colour, opacity, brush size — shared with
    the mask brush) and to its ``Document`` (paint visibility, clear, merge).
    Signals ``message(str)`` for the status bar."""

    message = Signal(str)

    def __init__(self, canvas, document, parent=None):
        super().__init__("Paint", parent)
        self._canvas, self._document = canvas, document
        self.tool_buttons = {}
        for name, text, key, tip in PAINT_TOOLS:
            button = QPushButton(text, checkable=True, toolTip=f"{tip} ({key})")
            button.clicked.connect(lambda _checked, tool=name: canvas.set_tool(tool))
            self.tool_buttons[name] = button
        self.color_button = QPushButton(toolTip="Choose the paint colour (C)")
        self.color_button.clicked.connect(self.choose_color)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.opacity_slider.setToolTip("Opacity of one stroke or fill")
        self.opacity_slider.valueChanged.connect(lambda value: setattr(canvas, "paint_opacity", value / 100))
        self.opacity_label = QLabel()
        self.opacity_label.setFixedWidth(self.opacity_label.fontMetrics().horizontalAdvance("100%") + 6)
        self.size_spin = QSpinBox(minimum=MIN_BRUSH_PX, maximum=MAX_BRUSH_PX, prefix="Size ", suffix=" px")
        self.size_spin.setToolTip("Brush diameter, shared with the mask brush ([ and ])")
        self.size_spin.valueChanged.connect(lambda value: setattr(canvas, "brush_size_px", value))
        self.visible_check = QCheckBox("Show paint", toolTip="Hidden paint is kept but not generated from (Shift+H)")
        self.visible_check.toggled.connect(self.set_paint_visible)
        clear = QPushButton("Clear", toolTip="Remove all paint (Ctrl+Shift+P)")
        clear.clicked.connect(self.clear_paint)
        merge = QPushButton("Merge", toolTip="Lay the paint into the picture itself (Ctrl+M)")
        merge.clicked.connect(self.merge_paint)

        grid = QGridLayout(self)
        for column, button in enumerate(self.tool_buttons.values()):
            grid.addWidget(button, 0, column)
        grid.addWidget(self.color_button, 0, 3)
        row = QHBoxLayout()  # opacity and size share a row: the Prompt stays in sight at 1280×800
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.opacity_slider, 1)
        row.addWidget(self.opacity_label)
        row.addWidget(self.size_spin)
        grid.addLayout(row, 1, 0, 1, 4)
        grid.addWidget(self.visible_check, 2, 0, 1, 2)
        grid.addWidget(clear, 2, 2)
        grid.addWidget(merge, 2, 3)
        grid.setVerticalSpacing(4)  # compact: the Prompt below stays in sight at 1280×800

        canvas.tool_changed.connect(self._show_tool)
        canvas.paint_color_changed.connect(self._show_color)
        canvas.paint_opacity_changed.connect(self._show_opacity)
        canvas.brush_size_changed.connect(self.size_spin.setValue)
        document.paint_visibility_changed.connect(self.visible_check.setChecked)
        document.replaced.connect(self._show_visible)
        self._show_tool(canvas.tool)
        self._show_color(canvas.paint_color)
        self._show_opacity(canvas.paint_opacity)
        self.size_spin.setValue(canvas.brush_size_px)
        self._show_visible()

    def choose_color(self) -> None:
        """Ask for the paint colour; choosing one also picks the paint brush unless the fill
        tool is in hand (picking a colour means painting next)."""
        color = QColorDialog.getColor(QColor(*self._canvas.paint_color), self, "Paint colour")
        if color.isValid():
            self._canvas.paint_color = (color.red(), color.green(), color.blue())
            if self._canvas.tool != "fill":
                self._canvas.set_tool("paint")

    def set_paint_visible(self, visible: bool) -> None:
        if visible != self._document.paint_visible:
            self._document.set_paint_visible(visible)
            self.message.emit("Paint shown." if visible else "Paint hidden: it is kept, and left out of Generate.")

    def clear_paint(self) -> None:
        cleared = self._document.clear_paint()
        self.message.emit("Paint cleared. Undo with Ctrl+Z." if cleared else "There is no paint to clear.")

    def merge_paint(self) -> None:
        merged = self._document.merge_paint()
        self.message.emit("The paint is now part of the picture. Undo with Ctrl+Z." if merged
                          else "There is no visible paint to merge.")

    def _show_visible(self) -> None:
        self.visible_check.setChecked(self._document.paint_visible)

    def _show_tool(self, tool: str) -> None:
        for name, button in self.tool_buttons.items():
            button.setChecked(name == tool)

    def _show_color(self, rgb: tuple) -> None:
        red, green, blue = rgb
        text = "white" if red * 0.299 + green * 0.587 + blue * 0.114 < 128 else "black"  # readable on it
        self.color_button.setText(f"#{red:02x}{green:02x}{blue:02x}")
        self.color_button.setStyleSheet(f"background-color: rgb({red}, {green}, {blue}); color: {text};")

    def _show_opacity(self, opacity: float) -> None:
        self.opacity_slider.blockSignals(True)  # 0.505 must not come back as 0.51
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_slider.blockSignals(False)
        self.opacity_label.setText(f"{opacity:.0%}")
