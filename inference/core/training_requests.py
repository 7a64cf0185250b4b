"""Teaching the model: the LoRA training job's request and its events (a kind of job of the runner).

A ``TrainingRequest`` runs as one job: every step emits ``TrainingProgress`` (the loss, the
ETA); every ``sample_every`` steps a ``TrainingSample`` (a picture from the fixed prompt and
seed, so the user sees the model learn); a cancelled run keeps a checkpoint and ends with
``JobCancelled``; a finished one with ``TrainingFinished`` (the LoRA file written).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference.core.errors import InvalidRequest

MIN_IMAGE_SIDE_PX = 64  # smaller photos teach nothing: they are reported and skipped


@dataclass(frozen=True)
class TrainingRequest:
    """images: photo files (a folder is expanded by the caller); out: the ``.safetensors`` LoRA
    to write; run_dir: checkpoints, samples and the loss log (resume continues from its
    checkpoint); trigger: the word that calls up what was taught (captions without a sidecar
    ``.txt`` are ``caption_template`` with it); rank: the adapters' rank; lr: AdamW's learning
    rate after ``warmup_steps``; resolution: the long side of the training buckets (px, /64);
    snr_gamma: min-SNR weighting (0: plain MSE); train_text_encoder: adapters on the text
    encoders' attention too (better for a new word; the embeddings are then computed each step)."""

    job_id: int
    model_ref: str
    images: tuple[str, ...]
    out: str
    run_dir: str
    trigger: str = "sks"
    caption_template: str = "a photo of {trigger}"
    steps: int = 500
    rank: int = 8
    lr: float = 1e-4
    warmup_steps: int = 20
    resolution: int = 512
    batch: int = 1
    seed: int = 0
    flip: bool = False
    snr_gamma: float = 5.0
    train_text_encoder: bool = False
    layout: str = "diffusers"  # or "kohya" (AUTOMATIC1111, ComfyUI): inference.training.lora_file
    checkpoint_every: int = 100
    sample_every: int = 0  # 0: no samples
    sample_prompt: str = ""
    sample_steps: int = 20
    resume: bool = False
    captions: tuple[tuple[str, str], ...] = ()  # (photo path, caption): before sidecars and the template

    def __post_init__(self):
        checks = [
            (not self.model_ref.strip(), "Choose a base model to teach."),
            (not self.images, "Give at least one photo to learn from."),
            (not 1 <= self.steps <= 100_000, f"Training steps must be 1–100000, got {self.steps}."),
            (not 1 <= self.rank <= 256, f"The rank must be 1–256, got {self.rank}."),
            (not 0 < self.lr <= 1e-2, f"The learning rate must be above 0 and at most 0.01, got {self.lr}."),
            (not 1 <= self.batch <= 64, f"The batch must be 1–64, got {self.batch}."),
            (self.resolution % 64 or not 64 <= self.resolution <= 2048,
             f"The resolution must be a multiple of 64 from 64 to 2048, got {self.resolution}."),
            (self.sample_every < 0 or self.checkpoint_every < 1, "Sample and checkpoint intervals must be positive."),
            (self.sample_every and not self.sample_prompt.strip(), "Samples need a prompt (--sample-prompt)."),
            (not self.out.endswith(".safetensors"), f"The LoRA is written as .safetensors, not '{self.out}'."),
            (self.layout not in ("diffusers", "kohya"), f"The layout is diffusers or kohya, not '{self.layout}'."),
        ]
        for failed, message in checks:
            if failed:
                raise InvalidRequest(message)


@dataclass(frozen=True)
class TrainingProgress:
    """After each training step (1-based) of ``total``: its loss, and the seconds so far."""

    job_id: int
    step: int
    total: int
    loss: float
    elapsed_s: float


@dataclass(frozen=True)
class TrainingSample:
    """A picture from the sample prompt and seed after ``step`` training steps (H×W×3 uint8).
    While it forms, ``denoising`` is its denoising step of ``denoising_total`` (a cheap latent
    preview, as the canvas shows); the finished picture has ``denoising == denoising_total``."""

    job_id: int
    step: int
    rgb: np.ndarray
    denoising: int = 0
    denoising_total: int = 0

    @property
    def final(self) -> bool:
        return self.denoising == self.denoising_total


@dataclass(frozen=True)
class TrainingFinished:
    """The LoRA was written to ``path`` after ``steps`` steps; ``notes``: photos skipped and why."""

    job_id: int
    path: str
    steps: int
    final_loss: float
    elapsed_s: float
    notes: tuple[str, ...] = ()
