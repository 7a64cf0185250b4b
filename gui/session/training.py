"""Teaching the model from the user's photos, as the editor holds it: the photos and their
captions, the preset and settings, and the run (progress, losses, the latest sample) of a
``TrainingRequest`` on the editor's job runner. The Teach dialog only displays and edits this.

While a run goes on the editor stays usable for looking and painting; Generate waits (the
generation controller says why), since a generation would replace the training job.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, Signal

from inference.core.api import JobCancelled, JobFailed
from inference.core.errors import KilnError
from inference.core.training_requests import TrainingFinished, TrainingProgress, TrainingRequest, TrainingSample
from inference.files.photo_inputs import IMAGE_SUFFIXES, collect_inputs


@dataclass(frozen=True)
class Preset:
    name: str
    steps: int
    rank: int
    lr: float
    template: str


PRESETS = (
    Preset("Person or face", 800, 16, 1e-4, "a photo of {trigger} person"),
    Preset("Style", 1500, 32, 1e-4, "an image in {trigger} style"),
    Preset("Object or place", 600, 8, 1e-4, "a photo of {trigger}"),
)
SAMPLE_EVERY = 100


def lora_folder() -> Path:
    """Where taught LoRAs go: Kiln/loras in the user's data folder (~/.local/share,
    %LOCALAPPDATA%, ~/Library/Application Support), beside Kiln/recovery."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericDataLocation)
    return Path(base or Path.home()) / "Kiln" / "loras"


class TrainingSession(QObject):
    """Signals: ``photos_changed()``, ``state_changed(str)`` ("idle", "running", "stopped",
    "finished", "failed"), ``progress(step, total, loss, eta_s)``, ``sample(TrainingSample)`` (as it
    forms, then the picture),
    ``finished(path)`` (a LoRA was written), ``message(str)``."""

    photos_changed = Signal()
    state_changed = Signal(str)
    progress = Signal(int, int, float, float)
    sample = Signal(object)
    finished = Signal(str)
    message = Signal(str)

    def __init__(self, worker, params, parent: QObject | None = None):
        super().__init__(parent)
        self._worker, self._params = worker, params
        self.photos: list[tuple[str, str]] = []  # (path, caption; "" = the template)
        self.preset, self.trigger, self.resolution = PRESETS[0], "sks", 512
        self.steps, self.rank, self.lr = PRESETS[0].steps, PRESETS[0].rank, PRESETS[0].lr
        self.train_text_encoder = False
        self.state, self.losses, self.latest_sample = "idle", [], None
        self.step, self.total = 0, 0
        self._job: int | None = None
        self._last: TrainingRequest | None = None  # the run Resume continues
        worker.training.connect(self._on_event)
        worker.cancelled.connect(self._on_end)
        worker.failed.connect(self._on_end)
        worker.notice.connect(lambda event: self.message.emit(event.message) if event.job_id == self._job else None)

    # --- the photos and settings -----------------------------------------------------------

    def add_photos(self, paths: list[str]) -> int:
        """Add photos (and the photos in folders); returns how many were new."""
        known = {p for p, _ in self.photos}
        found, problems = collect_inputs(paths)
        new = [str(p) for p in found if p.suffix.lower() in IMAGE_SUFFIXES and str(p) not in known]
        if problems:
            self.message.emit(" ".join(problems))
        self.photos += [(p, "") for p in new]
        if new:
            self.photos_changed.emit()
        return len(new)

    def remove_photo(self, index: int) -> None:
        if 0 <= index < len(self.photos):
            del self.photos[index]
            self.photos_changed.emit()

    def set_caption(self, index: int, caption: str) -> None:
        if 0 <= index < len(self.photos):
            self.photos[index] = (self.photos[index][0], caption)

    def caption_shown(self, index: int) -> str:
        """The caption photo ``index`` trains with: its own, else the preset's with the trigger."""
        return self.photos[index][1] or self.preset.template.replace("{trigger}", self.trigger)

    def use_preset(self, name: str) -> None:
        preset = next(p for p in PRESETS if p.name == name)
        self.preset, self.steps, self.rank, self.lr = preset, preset.steps, preset.rank, preset.lr

    def out_path(self) -> Path:
        slug = "".join(c if c.isalnum() else "-" for c in self.trigger.strip().lower()) or "lora"
        return lora_folder() / f"{slug}-{self.preset.name.split()[0].lower()}.safetensors"

    # --- the run -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._job is not None

    def can_resume(self) -> bool:
        """A stopped run of these settings can continue: this session's, or one whose checkpoint
        is in the run folder of the LoRA these settings write (after a restart)."""
        if self.running:
            return False
        if self.state == "stopped":
            return True
        return bool(self.photos) and (self.out_path().with_suffix(".run") / "checkpoint" / "state.json").is_file()

    def start(self, resume: bool = False) -> bool:
        """Teach the panel's model from the photos (``resume``: continue the stopped run)."""
        if self.running:
            return False
        if self._worker.busy:
            self.message.emit("Wait for the running generation to finish, then teach.")
            return False
        try:
            request = self._last if resume and self.state == "stopped" and self._last else self._request()
        except KilnError as exc:
            self.message.emit(str(exc))
            return False
        request = self._worker.submit(dataclasses.replace(request, resume=resume))
        self._job, self._last, self._started = request.job_id, request, time.monotonic()
        self.losses, self.step, self.total = (self.losses if resume else []), 0, request.steps
        self._set_state("running")
        return True

    def stop(self) -> None:
        """Stop within a training step; the checkpoint is kept and Resume continues it."""
        if self.running:
            self._worker.cancel()

    def _request(self) -> TrainingRequest:
        out = self.out_path()
        captions = tuple((p, c) for p, c in self.photos if c.strip())
        return TrainingRequest(
            job_id=0, model_ref=self._params.model_ref, images=tuple(p for p, _ in self.photos), out=str(out),
            run_dir=str(out.with_suffix(".run")), trigger=self.trigger.strip() or "sks",
            caption_template=self.preset.template, steps=self.steps, rank=self.rank, lr=self.lr,
            resolution=self.resolution, seed=0, sample_every=min(SAMPLE_EVERY, max(1, self.steps // 4)),
            sample_prompt=self.preset.template.replace("{trigger}", self.trigger.strip() or "sks"),
            captions=captions, train_text_encoder=self.train_text_encoder)

    def _on_event(self, event) -> None:
        if event.job_id != self._job:
            return
        if isinstance(event, TrainingProgress):
            self.step, self.total = event.step, event.total
            self.losses.append(event.loss)
            done_here = max(1, len(self.losses))
            eta = (time.monotonic() - self._started) / done_here * (event.total - event.step)
            self.progress.emit(event.step, event.total, event.loss, eta)
        elif isinstance(event, TrainingSample):  # forming step by step, then the picture
            if event.final:
                self.latest_sample = np.asarray(event.rgb)
            self.sample.emit(event)
        elif isinstance(event, TrainingFinished):
            self._job = None
            self._set_state("finished")
            self.finished.emit(event.path)
            notes = " ".join(event.notes)
            self.message.emit(f"Taught: {Path(event.path).name} is in the LoRA list; use '{self._last.trigger}' "
                              f"in the prompt. {notes}".strip())

    def _on_end(self, event) -> None:
        if event.job_id != self._job:
            return
        self._job = None
        if isinstance(event, JobCancelled):
            self._set_state("stopped")
            self.message.emit(f"Stopped after step {event.step}; the checkpoint is kept: Resume continues it.")
        elif isinstance(event, JobFailed):
            self._set_state("failed")
            self.message.emit(f"Teaching failed: {event.message}")

    def _set_state(self, state: str) -> None:
        self.state = state
        self.state_changed.emit(state)
