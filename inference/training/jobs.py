"""The training job as the job runner runs it: photos → a LoRA file, with progress, samples,
checkpoints and cancel (``run_training_job`` is the runner's ``run`` for ``TrainingRequest``)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from inference.core.api import JobFailed
from inference.core.errors import InvalidRequest, KilnError
from inference.core.training_requests import TrainingFinished, TrainingRequest, TrainingSample

log = logging.getLogger(__name__)


def run_training_job(engine, request: TrainingRequest, emit, cancel) -> None:
    """Run ``request`` on ``engine``'s device and emit its events, ending with exactly one
    terminal event. No exception escapes (the thread boundary)."""
    import torch

    try:
        final = _train(engine, request, emit, cancel)
    except KilnError as exc:
        final = JobFailed(request.job_id, str(exc))
    except torch.OutOfMemoryError:
        final = JobFailed(request.job_id, "The GPU ran out of memory while training: lower the batch or the "
                                          "resolution, or close other GPU programs. The last checkpoint is kept.")
    except Exception as exc:  # noqa: BLE001 - the runner must survive any bug to run the next job
        log.exception("training %s failed", request.job_id)
        final = JobFailed(request.job_id, f"training failed ({type(exc).__name__}: {exc}).")
    emit(final)


def _train(engine, request: TrainingRequest, emit, cancel):
    from inference.models.loading import load_model
    from inference.training.dataset import load_examples
    from inference.training.lora_file import save_lora_file
    from inference.training.lora_training import LoraTrainer

    started = time.perf_counter()
    examples, notes = load_examples(list(request.images), request.resolution, request.trigger,
                                    request.caption_template, forbidden_out=request.out,
                                    captions=dict(request.captions))
    engine.release_model()  # its memory is the training's now; the next generation loads afresh
    model = load_model(request.model_ref, engine.device_plan, memory=None)
    if model.inpainting:
        raise InvalidRequest("Teach the base model, not its inpainting variant: a LoRA trained on the base "
                             "model also works in inpainting.")
    trainer = LoraTrainer(model, request, examples)
    if request.resume:
        trainer.resume()
    run_dir = Path(request.run_dir)

    def on_sample(step: int) -> None:
        total = request.sample_steps
        preview = lambda i, rgb: emit(TrainingSample(request.job_id, step, rgb, i, total))  # noqa: E731
        rgb = sample(model, request, preview)
        _save_png(run_dir / "samples" / f"step_{step:06d}.png", rgb)
        emit(TrainingSample(request.job_id, step, rgb, total, total))

    cancelled = trainer.run(emit, cancel, on_sample=on_sample)
    _write_losses(run_dir, trainer.losses)
    if cancelled is not None:
        return cancelled
    metadata = {"kiln_base_model": request.model_ref, "kiln_trigger": request.trigger, "kiln_steps": request.steps,
                "kiln_rank": request.rank, "kiln_images": len(examples), "kiln_resolution": request.resolution,
                "kiln_seed": request.seed, "kiln_learning_rate": request.lr}
    save_lora_file(trainer.adapter_state(), Path(request.out), metadata, request.layout,
                   single_text_encoder=model.family != "sdxl")
    trainer.save_checkpoint()  # a later run with more steps resumes from here
    loss = trainer.losses[-1] if trainer.losses else float("nan")
    return TrainingFinished(request.job_id, request.out, trainer.step, loss, time.perf_counter() - started,
                            tuple(notes))


def sample(model, request: TrainingRequest, on_preview=None) -> np.ndarray:
    """A picture from the sample prompt and the run's seed with the adapters as trained so far;
    ``on_preview(i, rgb)`` after each denoising step i (the engine's cheap latent preview)."""
    import torch

    from inference.core.api import Mode
    from inference.engine.previews import LatentPreviewer

    pipe, previewer = model.pipeline_for(Mode.TXT2IMG), LatentPreviewer(model.family)

    def each_step(_pipe, i, _t, tensors):
        if on_preview is not None and i + 1 < request.sample_steps:  # the last one is the picture itself
            on_preview(i + 1, previewer.to_rgb(tensors["latents"][:1]))
        return tensors

    pipe.unet.eval()
    with torch.no_grad():
        images = pipe(request.sample_prompt, num_inference_steps=request.sample_steps, height=request.resolution,
                      width=request.resolution, generator=torch.Generator("cpu").manual_seed(request.seed),
                      output_type="np", callback_on_step_end=each_step).images
    pipe.unet.train()
    return (np.clip(images[0], 0, 1) * 255).round().astype(np.uint8)


def _save_png(path: Path, rgb: np.ndarray) -> None:
    from PIL import Image

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(path)
    except OSError as exc:
        log.warning("could not keep the sample %s: %s", path, exc)


def _write_losses(run_dir: Path, losses: list[float]) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "loss.csv").write_text("step,loss\n" + "".join(f"{i},{v:.6f}\n" for i, v in enumerate(losses, 1)))
    except OSError as exc:
        log.warning("could not keep the loss log in %s: %s", run_dir, exc)
