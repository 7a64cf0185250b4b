"""The generation panel: model, prompt and settings, and the live-mode switch. Each widget writes
one field of ``GenerationParams``; the panel holds no other state that matters (the settings the
fast preset replaced are kept only to put them back)."""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.session.generation_params import SEED_MAX, GenerationParams, denoising_steps, effective_steps, mode_label
from gui.session.live_mode import fast_preset
from inference.core.api import MAX_SIDE_PX, Mode
from inference.engine.schedulers import scheduler_names
from inference.engine.step_count import passes_for


class GenerationPanel(QWidget):
    """The settings form; ``action_bar`` (the mode line, Generate, Stop and Live) is a separate
    widget for the window to place where it is always visible.

    Signals: ``generate_requested``, ``cancel_requested``, ``browse_model_requested(kind)``,
    ``size_changed(width_px, height_px)`` (the text-to-image size, edited by the user),
    ``live_toggled(bool)`` (the Live box, ticked by the user), ``fast_changed(bool)`` (the fast
    preset was applied or taken back)."""

    generate_requested = Signal()
    cancel_requested = Signal()
    browse_model_requested = Signal(str)  # "file" or "folder"
    size_changed = Signal(int, int)
    live_toggled = Signal(bool)
    fast_changed = Signal(bool)

    def __init__(self, params: GenerationParams, parent: QWidget | None = None):
        super().__init__(parent)
        self.params = params
        self._mode = Mode.TXT2IMG
        self._before_fast: GenerationParams | None = None  # what the fast preset replaced
        self._build()
        self._bind()
        self.set_mode(Mode.TXT2IMG)
        self.set_busy(False)

    # --- building -----------------------------------------------------------------------

    def _build(self) -> None:
        self.model_combo = QComboBox(editable=True)
        self.model_combo.setToolTip("Hub id (owner/name), diffusers folder or .safetensors checkpoint")
        self.model_combo.lineEdit().setPlaceholderText("No model: choose one…")
        self.model_combo.currentTextChanged.connect(self._set_model)
        browse = QToolButton(text="…", toolTip="Choose a model folder or .safetensors file")
        browse.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(browse)
        menu.addAction(".safetensors checkpoint…", lambda: self.browse_model_requested.emit("file"))
        menu.addAction("Diffusers folder…", lambda: self.browse_model_requested.emit("folder"))
        browse.setMenu(menu)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_combo, 1)
        model_row.addWidget(browse)

        self.prompt_edit = QPlainTextEdit(placeholderText="Describe the picture, e.g. “old photo of a farmhouse”")
        self.prompt_edit.setFixedHeight(80)
        self.prompt_edit.textChanged.connect(lambda: setattr(self.params, "prompt", self.prompt_edit.toPlainText()))
        self.negative_edit = QPlainTextEdit(placeholderText="What to avoid (optional)")
        self.negative_edit.setFixedHeight(48)
        self.negative_edit.textChanged.connect(
            lambda: setattr(self.params, "negative_prompt", self.negative_edit.toPlainText())
        )

        self.steps_spin = QSpinBox(minimum=1, maximum=150, toolTip="Denoising steps")
        self.steps_spin.valueChanged.connect(self._set_steps)
        self.guidance_spin = QDoubleSpinBox(minimum=0.0, maximum=30.0, singleStep=0.5, decimals=1)
        self.guidance_spin.setToolTip("How closely to follow the prompt")
        self.guidance_spin.valueChanged.connect(lambda v: setattr(self.params, "guidance", v))
        self.strength_spin = QDoubleSpinBox(minimum=0.05, maximum=1.0, singleStep=0.05, decimals=2)
        self.strength_spin.setToolTip("How much of the picture may change (image modes)")
        self.strength_spin.valueChanged.connect(self._set_strength)
        self.steps_label = QLabel(toolTip="Image modes run only the last steps × strength steps; "
                                          "steps are raised so that at least one runs")
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_spin, 1)
        strength_row.addWidget(self.steps_label)

        self.seed_spin = QSpinBox(minimum=0, maximum=SEED_MAX, toolTip="Same seed + same settings = same picture")
        self.seed_spin.valueChanged.connect(lambda v: setattr(self.params, "seed", v))
        self.random_check = QCheckBox("Random", toolTip="A new seed for every run")
        self.random_check.toggled.connect(self._set_random)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed_spin, 1)
        seed_row.addWidget(self.random_check)

        self.scheduler_combo = QComboBox()
        self.scheduler_combo.addItems(scheduler_names())
        self.scheduler_combo.currentTextChanged.connect(self._set_scheduler)

        self.width_spin = QSpinBox(minimum=64, maximum=MAX_SIDE_PX, singleStep=8, suffix=" px")
        self.height_spin = QSpinBox(minimum=64, maximum=MAX_SIDE_PX, singleStep=8, suffix=" px")
        for spin in (self.width_spin, self.height_spin):
            spin.setKeyboardTracking(False)
            spin.editingFinished.connect(self._emit_size)
        size_row = QHBoxLayout()
        size_row.addWidget(self.width_spin)
        size_row.addWidget(QLabel("×"))
        size_row.addWidget(self.height_spin)

        self.colorize_check = QCheckBox("Colourize gray photos", toolTip="Off: a grayscale photo stays grayscale")
        self.colorize_check.toggled.connect(lambda v: setattr(self.params, "colorize", v))
        self.prefill_check = QCheckBox("Pre-fill with Heal",
                                       toolTip="Heal under the mask before generating: helps models that are not inpainting models")
        self.prefill_check.toggled.connect(lambda v: setattr(self.params, "prefill_heal", v))
        self.prefill_fill_check = QCheckBox(
            "Pre-fill with Fill hole", toolTip="Fill under the mask with the learned fill model (File → Models… → "
                                               "Restoration) before generating: a good start for large holes")
        self.prefill_fill_check.toggled.connect(lambda v: setattr(self.params, "prefill_fill", v))
        for one, other in ((self.prefill_check, self.prefill_fill_check), (self.prefill_fill_check, self.prefill_check)):
            one.toggled.connect(lambda on, other=other: other.setChecked(False) if on else None)  # one pre-fill
        options_row = QVBoxLayout()
        options_row.addWidget(self.colorize_check)
        prefill_row = QHBoxLayout()
        prefill_row.addWidget(self.prefill_check)
        prefill_row.addWidget(self.prefill_fill_check)
        options_row.addLayout(prefill_row)

        form = QFormLayout()
        form.addRow("Model", model_row)
        form.addRow("Prompt", self.prompt_edit)
        form.addRow("Negative", self.negative_edit)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Guidance", self.guidance_spin)
        form.addRow("Strength", strength_row)
        self._strength_row = strength_row
        form.addRow("Seed", seed_row)
        form.addRow("Sampler", self.scheduler_combo)
        form.addRow("Size", size_row)
        self._size_row = size_row
        form.addRow("Photo", options_row)
        self._options_row = options_row
        self._form = form

        self.mode_label = QLabel(wordWrap=True)
        self.mode_label.setObjectName("modeLabel")
        self.generate_button = QPushButton("Generate", toolTip="Generate (Ctrl+Enter)")
        self.generate_button.setDefault(True)
        self.generate_button.clicked.connect(self.generate_requested)
        self.cancel_button = QPushButton("Stop", toolTip="Stop (Esc)")
        self.cancel_button.clicked.connect(self.cancel_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)

        self.live_check = QCheckBox("Live", toolTip="Regenerate after every stroke, one job at a time (Ctrl+L)")
        self.live_check.toggled.connect(self.live_toggled)
        self.fast_button = QPushButton("Fast (Turbo / LCM)", checkable=True, visible=False)
        self.fast_button.setToolTip("Few-step settings for Turbo and LCM models: 4 steps, guidance 1, the LCM "
                                    "sampler where available (Ctrl+Shift+L). Untick to get your settings back.")
        self.fast_button.toggled.connect(self.set_fast)
        live_row = QHBoxLayout()
        live_row.addWidget(self.live_check)
        live_row.addWidget(self.fast_button, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addStretch(1)
        # The main action is not in the panel's own layout: the window keeps it in sight below
        # the panels, however far they scroll.
        self.action_bar = QWidget(objectName="generateActions")
        actions = QVBoxLayout(self.action_bar)
        actions.addWidget(self.mode_label)
        actions.addLayout(buttons)
        actions.addLayout(live_row)

    # --- one field per slot ---------------------------------------------------------------

    def _set_model(self, text: str) -> None:
        self.params.model_ref = text.strip()

    def _set_steps(self, steps: int) -> None:
        self.params.steps = steps
        self._show_steps()

    def _set_scheduler(self, name: str) -> None:
        self.params.scheduler = name
        self._show_steps()

    def _set_strength(self, strength: float) -> None:
        self.params.strength = strength
        self._show_steps()

    def _set_random(self, checked: bool) -> None:
        self.params.random_seed = checked
        self.seed_spin.setEnabled(not checked)

    def _emit_size(self) -> None:
        width, height = self.width_spin.value() // 8 * 8, self.height_spin.value() // 8 * 8
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)
        if (width, height) != (self.params.width_px, self.params.height_px):
            self.params.width_px, self.params.height_px = width, height
            self.size_changed.emit(width, height)

    # --- shown state ----------------------------------------------------------------------

    def _bind(self) -> None:
        """Params → widgets, one field each (widgets → params: their slots above). A widget that
        already shows the value is left alone: its cursor and selection stay."""
        def show(name, read, write):
            def on_change(value):
                if shiboken6.isValid(self) and read() != value:
                    write(value)
            self.params.watch(name, on_change)
            write(getattr(self.params, name))

        p = self
        show("model_ref", lambda: p.model_combo.currentText().strip(), p.model_combo.setEditText)
        show("prompt", p.prompt_edit.toPlainText, p.prompt_edit.setPlainText)
        show("negative_prompt", p.negative_edit.toPlainText, p.negative_edit.setPlainText)
        show("steps", p.steps_spin.value, p.steps_spin.setValue)
        show("guidance", p.guidance_spin.value, p.guidance_spin.setValue)
        show("strength", p.strength_spin.value, p.strength_spin.setValue)
        show("seed", p.seed_spin.value, lambda seed: p.seed_spin.setValue(min(seed, SEED_MAX)))
        show("random_seed", p.random_check.isChecked, lambda on: (p.random_check.setChecked(on), p._set_random(on)))
        show("scheduler", p.scheduler_combo.currentText, p.scheduler_combo.setCurrentText)
        show("width_px", p.width_spin.value, p.width_spin.setValue)
        show("height_px", p.height_spin.value, p.height_spin.setValue)
        show("colorize", p.colorize_check.isChecked, p.colorize_check.setChecked)
        show("prefill_heal", p.prefill_check.isChecked, p.prefill_check.setChecked)
        show("prefill_fill", p.prefill_fill_check.isChecked, p.prefill_fill_check.setChecked)

    def set_recent_models(self, refs: list[str]) -> None:
        current = self.params.model_ref
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItems(refs)
        self.model_combo.setEditText(current)
        self.model_combo.blockSignals(False)

    def use_seed(self, seed: int) -> None:
        """Lock the seed to ``seed`` (reuse a result's seed)."""
        self.random_check.setChecked(False)
        self.seed_spin.setValue(min(seed, SEED_MAX))

    def set_mode(self, mode: Mode, sketch: bool = False) -> None:
        """Show the mode the next Generate runs; ``sketch``: visible paint is part of its image."""
        self._mode = mode
        self.mode_label.setText(f"Mode: {mode_label(mode, sketch)}")
        image_mode = mode is not Mode.TXT2IMG
        self._form.setRowVisible(self._strength_row, image_mode)
        self._form.setRowVisible(self._size_row, not image_mode)
        self._form.setRowVisible(self._options_row, image_mode)
        self._show_steps()

    def _show_steps(self) -> None:
        """The denoising steps the image modes really run, and why when the count was raised."""
        params = self.params
        runs = denoising_steps(params.steps, params.strength, self._mode)
        raised = effective_steps(params.steps, params.strength)
        passes = passes_for(params.scheduler, runs)  # the progress count: Heun makes two passes a step
        self.steps_label.setText((f"runs {runs} of {raised} steps" if raised != params.steps else f"runs {runs} steps")
                                 + (f" ({passes} model passes)" if passes != runs else ""))

    def set_live(self, on: bool) -> None:
        """Show live mode's state (not re-emitted). The fast preset is offered while live mode is
        on, and stays in sight while applied, so it can be taken back."""
        self.live_check.blockSignals(True)
        self.live_check.setChecked(on)
        self.live_check.blockSignals(False)
        self.fast_button.setVisible(on or self._before_fast is not None)

    def set_fast(self, on: bool) -> None:
        """Apply the fast few-step preset (``gui.session.live_mode.fast_preset``), or put back the steps,
        guidance and sampler it replaced."""
        if on == (self._before_fast is not None):
            return
        if on:
            self._before_fast, source = self.params.copy(), fast_preset(self.params)
        else:
            source, self._before_fast = self._before_fast, None
        self.params.steps, self.params.guidance, self.params.scheduler = source.steps, source.guidance, source.scheduler
        self.fast_button.blockSignals(True)
        self.fast_button.setChecked(on)
        self.fast_button.blockSignals(False)
        self.fast_button.setVisible(on or self.live_check.isChecked())
        self.fast_changed.emit(on)

    def set_busy(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)

