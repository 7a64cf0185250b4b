"""``main.py train-lora``: teach a model a person, a place or a style from a folder of photos.

A progress bar shows the step, the loss and the ETA; samples (``--sample-every``) and
checkpoints go into the run folder (``OUT.run`` beside the LoRA, or the one given to
``--resume``). Ctrl+C stops within a training step and keeps a checkpoint; ``--resume RUN``
continues it exactly. Exit status: 0 with the LoRA written, 1 on an error, 130 on Ctrl+C.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from inference.cli.generate import EXIT_CANCELLED, EXIT_OK, cancel_on_ctrl_c, fail, run_one_job
from inference.core.api import JobCancelled, JobFailed, JobNotice
from inference.core.errors import InvalidRequest, KilnError
from inference.core.training_requests import TrainingFinished, TrainingProgress, TrainingRequest, TrainingSample
from inference.files.output_names import same_file_key
from inference.models.quiet import quiet_libraries


def build_training_request(args) -> TrainingRequest:
    """The request the arguments describe; raises ``InvalidRequest`` saying what to fix."""
    from inference.files.photo_inputs import collect_inputs

    out = Path(args.out)
    photos, problems = collect_inputs(args.images)
    if not photos:
        raise InvalidRequest(" ".join(problems) or f"No photos found in {', '.join(args.images)}.")
    if any(same_file_key(out) == same_file_key(p) for p in photos):
        raise InvalidRequest(f"--out '{out}' is one of the training photos: Kiln never writes over an original.")
    if args.resume and not Path(args.resume).is_dir():
        raise InvalidRequest(f"--resume '{args.resume}' is not a run folder (it is OUT.run beside a LoRA).")
    run_dir = Path(args.resume) if args.resume else out.with_suffix(".run")
    return TrainingRequest(
        job_id=0, model_ref=args.model, images=tuple(str(p) for p in photos), out=str(out), run_dir=str(run_dir),
        trigger=args.trigger, caption_template=args.caption, steps=args.steps, rank=args.rank, lr=args.lr,
        resolution=args.resolution, batch=args.batch, seed=args.seed, flip=args.flip,
        train_text_encoder=args.text_encoder, layout=args.layout,
        checkpoint_every=args.checkpoint_every, sample_every=args.sample_every or 0,
        sample_prompt=args.sample_prompt or "", resume=bool(args.resume))


def train_lora_command(args) -> int:
    from inference.hardware.devices import choose_device
    from inference.engine.engine import Engine
    from inference.training.jobs import run_training_job

    try:
        request = build_training_request(args)
    except KilnError as exc:
        return fail(str(exc))
    quiet_libraries()
    try:
        engine = Engine(choose_device(precision=getattr(args, "precision", None)))
    except KilnError as exc:
        return fail(str(exc))
    print(f"kiln: teaching '{args.model}' from {len(request.images)} photos on {engine.device_plan.description}; "
          f"run folder {request.run_dir}", file=sys.stderr)
    cancel = threading.Event()
    restore_ctrl_c = cancel_on_ctrl_c(cancel)
    progress = _Progress(request)
    try:
        final = run_one_job(engine, request, progress.on_event, cancel, run=run_training_job)
    finally:
        restore_ctrl_c()
        progress.close()
    if isinstance(final, JobFailed):
        return fail(final.message)
    if isinstance(final, JobCancelled):
        print(f"kiln: stopped after step {final.step}; the checkpoint is kept: continue with "
              f"--resume {request.run_dir}", file=sys.stderr)
        return EXIT_CANCELLED
    assert isinstance(final, TrainingFinished)
    for note in final.notes:
        print(f"kiln: {note}", file=sys.stderr)
    print(f"kiln: wrote {final.path} ({final.steps} steps, loss {final.final_loss:.4f}, {final.elapsed_s:.0f} s); "
          f"use it with the trigger word '{request.trigger}'")
    return EXIT_OK


class _Progress:
    """A tqdm bar over the training steps, the loss beside it; sample files named as they come."""

    def __init__(self, request: TrainingRequest):
        self._request, self._bar = request, None

    def on_event(self, event) -> None:
        from tqdm import tqdm

        if isinstance(event, TrainingProgress):
            if self._bar is None:
                self._bar = tqdm(total=event.total, initial=event.step - 1, unit="step", desc="kiln train",
                                 file=sys.stderr)
            self._bar.update(event.step - self._bar.n)
            self._bar.set_postfix_str(f"loss {event.loss:.4f}")
        elif isinstance(event, JobNotice):
            (tqdm.write if self._bar else print)(f"kiln: note: {event.message}", file=sys.stderr)
        elif isinstance(event, TrainingSample) and event.final:
            path = Path(self._request.run_dir) / "samples" / f"step_{event.step:06d}.png"
            (tqdm.write if self._bar else print)(f"kiln: sample after step {event.step}: {path}", file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
