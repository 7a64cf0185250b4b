"""Image → Upscale…: the factor, the whole picture or only its masked area, the size it gives, and
why it cannot be made (before any work)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QRadioButton,
    QWidget,
)

FACTORS = (2, 3, 4)
DETAIL_STRENGTH = 0.3  # low: texture, not a new picture
MODEL_LINE_MAX_PX = 600  # the model's line fits on one line up to this wide, then wraps


class UpscaleDialog(QDialog):
    """Asks for the factor (×2, ×3, ×4); ``factor()`` is the one chosen.

    ``problem(width, height, factor) -> str`` says why ×factor of a width×height area cannot be
    made ("" when it can): it is shown under the sizes and OK is disabled meanwhile. With
    ``masked_size`` (the masked area's (width, height) px; None when nothing is masked, and the
    choice is disabled) "Only the masked area" may be ticked: the sizes and the problem are then
    the area's, and ``only_masked_area()`` is true. ``set_model(text, native_scale, problem)``
    fills in what the model file turned out to be (it is opened in the background): its native
    scale becomes the factor unless the user already chose one, and a wrong kind of model
    disables OK too."""

    def __init__(self, width_px: int, height_px: int, model_name: str, problem: Callable[[int, int, int], str],
                 factor: int = 2, parent: QWidget | None = None, detail_model: str = "",
                 masked_size: tuple[int, int] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Upscale")
        self._size, self._problem, self._masked_size = (width_px, height_px), problem, masked_size
        self._model_problem = ""
        self._chosen_by_user = False
        row = QHBoxLayout()
        self.buttons = QButtonGroup(self)
        for value in FACTORS:
            button = QRadioButton(f"×{value}")
            button.setToolTip(f"Enlarge the picture {value} times in width and height")
            self.buttons.addButton(button, value)
            row.addWidget(button)
        row.addStretch(1)
        self.buttons.button(factor if factor in FACTORS else 2).setChecked(True)
        self.buttons.idClicked.connect(self._on_clicked)
        self.masked_check = QCheckBox("Only the masked area (crop to it)")
        self.masked_check.setEnabled(masked_size is not None)
        self.masked_check.setToolTip(
            "Enlarge only the box around the masked pixels (with a small margin), for example one face of a "
            "group photo: the picture becomes that area, enlarged (undo with Ctrl+Z)" if masked_size is not None
            else "Paint the mask over the area to enlarge first (for example one face of a group photo): "
                 "then this enlarges only that area")
        self.masked_check.toggled.connect(lambda *_: self._refresh())
        self.size_label = QLabel()
        self.model_label = QLabel(f"{model_name} · opening…", wordWrap=True)
        self.model_label.setToolTip("Choose another in File → Models… → Restoration")
        self._fit_model_label()
        self.problem_label = QLabel(wordWrap=True, visible=False)
        self.problem_label.setStyleSheet("color: #c62828;")
        self.problem_label.setMinimumWidth(360)
        self.detail_check = QCheckBox(f"Then add detail with the diffusion model (strength {DETAIL_STRENGTH:.2f})")
        self.detail_check.setEnabled(bool(detail_model))
        self.detail_check.setToolTip(
            f"A low-strength pass of {detail_model} over the enlarged picture, tile by tile at full resolution, "
            "for texture an upscaler cannot invent; the result is shown to accept or discard" if detail_model
            else "Choose a diffusion model in the Model box first")
        self.box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.box.button(QDialogButtonBox.StandardButton.Ok).setText("Upscale")
        self.box.accepted.connect(self.accept)
        self.box.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Factor", row)
        form.addRow(self.masked_check)
        form.addRow("Size", self.size_label)
        form.addRow("Model", self.model_label)
        form.addRow(self.problem_label)
        form.addRow(self.detail_check)
        form.addRow(self.box)
        self.buttons.idToggled.connect(lambda *_: self._refresh())
        self._refresh()

    def wants_detail(self) -> bool:
        return self.detail_check.isEnabled() and self.detail_check.isChecked()

    def only_masked_area(self) -> bool:
        return self.masked_check.isEnabled() and self.masked_check.isChecked()

    def factor(self) -> int:
        return self.buttons.checkedId()

    def set_factor(self, factor: int) -> None:
        self.buttons.button(factor).setChecked(True)

    def can_start(self) -> bool:
        return self.box.button(QDialogButtonBox.StandardButton.Ok).isEnabled()

    def set_model(self, text: str, native_scale: int | None, problem: str = "") -> None:
        """What the model is ("RealESRGAN ×4 — an upscaler (permissive licence)"), its native
        scale (the default factor when 2–4) and why it cannot upscale ("" if it can)."""
        self.model_label.setText(text)
        self._model_problem = problem
        if native_scale in FACTORS and not self._chosen_by_user:
            self.set_factor(native_scale)
        self._refresh()
        self._fit_model_label()
        self.adjustSize()  # the row gets the height its text needs (it was laid out for "opening…")

    def _fit_model_label(self) -> None:
        """Wide enough for the model's line on one line (up to ``MODEL_LINE_MAX_PX``; then it wraps)."""
        width = self.model_label.fontMetrics().horizontalAdvance(self.model_label.text()) + 4
        self.model_label.setMinimumWidth(min(width, MODEL_LINE_MAX_PX))

    def _on_clicked(self, _factor: int) -> None:
        self._chosen_by_user = True

    def _refresh(self) -> None:
        masked = self.only_masked_area()
        width, height = self._masked_size if masked else self._size
        factor = self.factor()
        self.size_label.setText(f"{width}×{height} → {width * factor}×{height * factor} px"
                                + (" (the masked area)" if masked else ""))
        problem = self._model_problem or self._problem(width, height, factor)
        self.problem_label.setText(problem)
        self.problem_label.setVisible(bool(problem))
        self.box.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
