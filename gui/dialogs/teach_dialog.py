"""File → Teach the model…: photos in (drop them or add them), a caption per photo, a preset,
Start; then the loss curve, the latest sample, step i/N with the ETA, Stop and Resume. A view of
``gui.session.training.TrainingSession``; the editor stays usable while it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QImageReader, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
                               QLineEdit, QListView, QListWidget, QListWidgetItem, QProgressBar, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from gui.canvas.qimage import array_qimage
from gui.session.generation import format_eta
from gui.session.training import PRESETS, TrainingSession

THUMB_PX = 72
SAMPLE_PX = 200


class LossPlot(QWidget):
    """The training loss per step (thin) and its running mean (thick): falling means learning."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.losses: list[float] = []
        self.setMinimumSize(260, 130)
        self.setToolTip("Training loss per step; the thick line is its running mean")

    def set_losses(self, losses: list[float]) -> None:
        self.losses = list(losses)
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        painter.setPen(self.palette().mid().color())
        painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        values = np.asarray(self.losses, np.float64)
        if values.size < 2:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "The loss curve appears here")
            return
        window = max(1, values.size // 20)
        mean = np.convolve(values, np.ones(window) / window, mode="valid")
        low, high = float(values.min()), float(values.max())
        span = (high - low) or 1.0
        w, h, pad = self.width(), self.height(), 6

        def path(series: np.ndarray, offset: int) -> QPainterPath:
            line = QPainterPath()
            for i, value in enumerate(series):
                x = pad + (i + offset) / (values.size - 1) * (w - 2 * pad)
                y = h - pad - (value - low) / span * (h - 2 * pad)
                (line.lineTo if i else line.moveTo)(QPointF(x, y))
            return line

        painter.setPen(QPen(QColor(120, 150, 200), 1))
        painter.drawPath(path(values, 0))
        painter.setPen(QPen(QColor(30, 90, 200), 2.5))
        painter.drawPath(path(mean, window - 1))
        painter.setPen(self.palette().text().color())
        painter.drawText(pad + 2, pad + 12, f"loss {values[-1]:.4f}")


class TeachDialog(QDialog):
    """The Teach dialog over ``session``. Non-modal: painting and looking go on meanwhile."""

    def __init__(self, session: TrainingSession, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Teach the model")
        self.setAcceptDrops(True)
        self.session = session
        self._build()
        session.photos_changed.connect(self._show_photos)
        session.state_changed.connect(self._show_state)
        session.progress.connect(self._show_progress)
        session.sample.connect(self._show_sample)
        session.message.connect(self.status.setText)
        self._show_photos()
        self._show_settings()
        self._show_state(session.state)

    # --- building -----------------------------------------------------------------------

    def _build(self) -> None:
        self.photo_list = QListWidget(viewMode=QListView.ViewMode.IconMode, iconSize=QSize(THUMB_PX, THUMB_PX),
                                      movement=QListView.Movement.Static, resizeMode=QListView.ResizeMode.Adjust)
        self.photo_list.setMinimumWidth(330)
        self.photo_list.setToolTip("Drop photos or folders here: 5 to 30 photos of one person, place or style")
        self.photo_list.currentRowChanged.connect(self._show_caption)
        add, remove = QPushButton("Add photos…"), QPushButton("Remove")
        add.clicked.connect(self._add_dialog)
        remove.clicked.connect(lambda: self.session.remove_photo(self.photo_list.currentRow()))
        self.caption_edit = QLineEdit()
        self.caption_edit.textEdited.connect(lambda text: self.session.set_caption(self.photo_list.currentRow(), text))
        left = QVBoxLayout()
        left.addWidget(QLabel("Photos (drop them here)"))
        left.addWidget(self.photo_list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        left.addLayout(buttons)
        left.addWidget(QLabel("Caption of the selected photo"))
        left.addWidget(self.caption_edit)

        self.preset_combo = QComboBox()
        self.preset_combo.addItems([p.name for p in PRESETS])
        self.preset_combo.currentTextChanged.connect(self._use_preset)
        self.trigger_edit = QLineEdit(toolTip="A rare word that will call up what was taught, e.g. sks")
        self.trigger_edit.textEdited.connect(self._set_trigger)
        self.steps_spin = QSpinBox(minimum=10, maximum=20000, singleStep=50)
        self.steps_spin.valueChanged.connect(lambda v: setattr(self.session, "steps", v))
        self.rank_spin = QSpinBox(minimum=1, maximum=128, toolTip="Capacity (and file size) of the LoRA")
        self.rank_spin.valueChanged.connect(lambda v: setattr(self.session, "rank", v))
        self.resolution_combo = QComboBox(toolTip="Training size: the model's own (512 for SD 1.x, 768 for SD 2.x)")
        self.resolution_combo.addItems(["256", "384", "512", "640", "768", "1024"])
        self.resolution_combo.currentTextChanged.connect(lambda v: setattr(self.session, "resolution", int(v)))
        form = QFormLayout()
        form.addRow("Preset", self.preset_combo)
        form.addRow("Trigger word", self.trigger_edit)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Rank", self.rank_spin)
        form.addRow("Resolution", self.resolution_combo)
        self.text_encoder_check = QCheckBox("Also teach the text encoder",
                                            toolTip="Helps a new trigger word; needs more memory, a bigger file")
        self.text_encoder_check.toggled.connect(lambda on: setattr(self.session, "train_text_encoder", on))
        form.addRow("", self.text_encoder_check)
        self.out_label = QLabel(wordWrap=True)
        form.addRow("Writes", self.out_label)

        self.start_button, self.stop_button = QPushButton("Start teaching"), QPushButton("Stop")
        self.resume_button = QPushButton("Resume")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(lambda: self.session.start())
        self.stop_button.clicked.connect(self.session.stop)
        self.resume_button.clicked.connect(lambda: self.session.start(resume=True))
        run_buttons = QHBoxLayout()
        for button in (self.start_button, self.stop_button, self.resume_button):
            run_buttons.addWidget(button)
        self.bar = QProgressBar(textVisible=False)
        self.progress_label = QLabel("Not started")
        self.plot = LossPlot()
        self.sample_label = QLabel("The latest sample appears here", alignment=Qt.AlignmentFlag.AlignCenter)
        self.sample_label.setFixedSize(SAMPLE_PX, SAMPLE_PX)
        self.sample_label.setStyleSheet("border: 1px solid palette(mid)")
        self.status = QLabel(wordWrap=True)
        right = QGridLayout()
        right.addLayout(form, 0, 0, 1, 2)
        right.addLayout(run_buttons, 1, 0, 1, 2)
        right.addWidget(self.bar, 2, 0, 1, 2)
        right.addWidget(self.progress_label, 3, 0, 1, 2)
        right.addWidget(self.plot, 4, 0)
        right.addWidget(self.sample_label, 4, 1)
        right.addWidget(self.status, 5, 0, 1, 2)
        layout = QHBoxLayout(self)
        layout.addLayout(left, 1)
        layout.addLayout(right, 1)
        self.resize(900, 560)

    # --- user → session -------------------------------------------------------------------

    def _add_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Photos to learn from", "",
                                                "Photos (*.png *.jpg *.jpeg *.webp *.tif *.tiff *.bmp)")
        if paths:
            self.session.add_photos(paths)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        added = self.session.add_photos(paths)
        self.status.setText(f"Added {added} photos." if added else "No new photos in what was dropped.")

    def _use_preset(self, name: str) -> None:
        self.session.use_preset(name)
        self._show_settings()
        self._show_state(self.session.state)  # another LoRA: another run to resume, or none

    def _set_trigger(self, text: str) -> None:
        self.session.trigger = text
        self._show_caption(self.photo_list.currentRow())
        self.out_label.setText(str(self.session.out_path()))
        self._show_state(self.session.state)

    # --- session → view -------------------------------------------------------------------

    def _show_settings(self) -> None:
        s = self.session
        self.preset_combo.setCurrentText(s.preset.name)
        self.trigger_edit.setText(s.trigger)
        self.steps_spin.setValue(s.steps)
        self.rank_spin.setValue(s.rank)
        self.resolution_combo.setCurrentText(str(s.resolution))
        self.text_encoder_check.setChecked(s.train_text_encoder)
        self.out_label.setText(str(s.out_path()))
        self._show_caption(self.photo_list.currentRow())

    def _show_photos(self) -> None:
        row = self.photo_list.currentRow()
        self.photo_list.clear()
        for path, _caption in self.session.photos:
            reader = QImageReader(path)
            reader.setAutoTransform(True)
            size = reader.size()
            if size.isValid():
                reader.setScaledSize(size.scaled(THUMB_PX, THUMB_PX, Qt.AspectRatioMode.KeepAspectRatio))
            item = QListWidgetItem(Path(path).name)
            item.setIcon(QPixmap.fromImage(reader.read()))
            item.setToolTip(path)
            self.photo_list.addItem(item)
        self.photo_list.setCurrentRow(min(max(row, 0), self.photo_list.count() - 1))
        self._show_state(self.session.state)

    def _show_caption(self, row: int) -> None:
        has = 0 <= row < len(self.session.photos)
        self.caption_edit.setEnabled(has)
        self.caption_edit.setText(self.session.photos[row][1] if has else "")
        self.caption_edit.setPlaceholderText(self.session.caption_shown(row) if has else "Select a photo")

    def _show_state(self, state: str) -> None:
        running = state == "running"
        self.start_button.setEnabled(not running and bool(self.session.photos))
        self.stop_button.setEnabled(running)
        self.resume_button.setEnabled(self.session.can_resume())
        for widget in (self.preset_combo, self.trigger_edit, self.steps_spin, self.rank_spin, self.resolution_combo,
                       self.text_encoder_check):
            widget.setEnabled(not running)
        if running:
            self.progress_label.setText("Loading the model…")
            self.plot.set_losses(self.session.losses)
        elif state == "finished":
            self.progress_label.setText(f"Done: {self.session.step} steps")

    def _show_progress(self, step: int, total: int, loss: float, eta_s: float) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(step)
        self.progress_label.setText(f"Step {step}/{total} · loss {loss:.4f} · ETA {format_eta(eta_s)}")
        self.plot.set_losses(self.session.losses)

    def _show_sample(self, event) -> None:
        pixmap = QPixmap.fromImage(array_qimage(np.ascontiguousarray(event.rgb)).copy())
        self.sample_label.setPixmap(pixmap.scaled(SAMPLE_PX, SAMPLE_PX, Qt.AspectRatioMode.KeepAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation))
        forming = "" if event.final else f", forming: {event.denoising}/{event.denoising_total}"
        self.sample_label.setToolTip(f"Sample after training step {event.step}{forming}")
