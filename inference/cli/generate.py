"""The headless commands behind ``main.py generate`` and ``main.py make-test-model``.

User errors print one line, ``kiln: error: …``, and exit 1; Ctrl+C cancels within a step and
exits 130. Nothing here imports Qt, so these commands run on machines without a display.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from pathlib import Path

from inference.core.api import (
    GenerationRequest,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobNotice,
    JobStarted,
    Mode,
    StepPreview,
)
from inference.core.errors import ImageFileError, InvalidRequest, KilnError
from inference.files.output_names import OutputNames, same_file_key
from inference.models.quiet import quiet_libraries
from inference.engine.step_count import passes_note, planned_steps

EXIT_OK, EXIT_ERROR, EXIT_CANCELLED = 0, 1, 130


def fail(message: str) -> int:
    print(f"kiln: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def build_generate_request(args) -> GenerationRequest:
    """The request ``generate``'s arguments describe. Raises KilnError for bad inputs."""
    from inference.files.image_io import load_mask, load_rgb

    image = load_rgb(args.image) if args.image else None
    mask = None
    if args.mask:
        if image is None:
            raise InvalidRequest("--mask needs --image: the mask says which part of that image to regenerate.")
        mask = load_mask(args.mask)
    mode = Mode.INPAINT if mask is not None else Mode.IMG2IMG if image is not None else Mode.TXT2IMG
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    return GenerationRequest(
        job_id=1,
        mode=mode,
        prompt=args.prompt,
        model_ref=args.model,
        negative_prompt=args.negative or "",
        image=image,
        mask=mask,
        width_px=args.width,
        height_px=args.height,
        steps=args.steps,
        guidance=args.guidance,
        strength=args.strength,
        seed=seed,
        scheduler=args.scheduler,
        preview_every=1 if args.save_steps else 0,
        loras=tuple(parse_lora_arg(text) for text in getattr(args, "lora", None) or ()),
    )


def parse_lora_arg(text: str) -> tuple[str, float]:
    """``--lora PATH[:WEIGHT]`` → (path, weight); the weight defaults to 1.

    Only a last ``:`` followed by a number is a weight, so Windows paths (``C:\\loras\\x``) and
    names with colons stay whole. Raises InvalidRequest for an empty path.
    """
    path, weight = text, 1.0
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            path, weight = head, float(tail)
        except ValueError:
            pass  # not a weight: the colon belongs to the path
    if not path.strip():
        raise InvalidRequest(f"--lora takes PATH or PATH:WEIGHT (e.g. style.safetensors:0.8), got '{text}'.")
    return path, weight


def check_output_path(out: Path, inputs: list[str | None]) -> None:
    """Refuse to write over an input (the user's original) or into a missing folder."""
    for given in inputs:
        if given and same_file_key(out) == same_file_key(given):
            raise InvalidRequest(f"--out '{out}' is one of the input files: Kiln never writes over an original.")
    if out.suffix.lower() != ".png":
        raise InvalidRequest(f"--out must be a .png file (it keeps the generation parameters), got '{out.name}'.")
    if not out.parent.is_dir():
        raise ImageFileError(f"cannot save '{out}': the folder '{out.parent}' does not exist.")


def generate_command(args) -> int:
    """``main.py generate``: one image from the command line, with a progress bar."""
    cancel = threading.Event()
    restore_ctrl_c = cancel_on_ctrl_c(cancel)
    try:
        return _generate(args, cancel, restore_ctrl_c)
    finally:
        restore_ctrl_c()


def _generate(args, cancel: threading.Event, restore_ctrl_c) -> int:
    from inference.files.image_save import save_image
    from inference.files.metadata import format_parameters
    from inference.models.model_ref import resolve_model_ref

    # 1. Check everything a person can get wrong before the heavy libraries load
    out = Path(args.out)
    try:
        check_output_path(out, [args.image, args.mask])
        request = build_generate_request(args)
        server = server_of(args)
        model_name = args.model if server else resolve_model_ref(args.model).display_name
    except KilnError as exc:
        return fail(str(exc))
    if args.save_steps:
        try:
            Path(args.save_steps).mkdir(parents=True, exist_ok=True)
        except (OSError, ValueError) as exc:
            return fail(f"cannot create '{args.save_steps}': {getattr(exc, 'strerror', None) or exc}.")

    # 2. Device, precision and memory mode: refused here, in one line, if this machine can't use them
    # (or the server, which does all of that on its side)
    run = None
    if server is not None:
        from inference.remote.client import run_remote_job

        engine, run, where = server, run_remote_job, f"the server at {server.url}"
    else:
        quiet_libraries()
        from inference.hardware.devices import choose_device
        from inference.engine.engine import Engine

        try:
            engine = Engine(choose_device(precision=getattr(args, "precision", None)),
                            memory_mode=getattr(args, "memory", None) or "auto")
        except KilnError as exc:
            return fail(str(exc))
        where = engine.device_plan.description
    if cancel.is_set():  # Ctrl+C while the libraries loaded
        print("kiln: cancelled before the first step; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED

    # 3. Run as a job of the job runner; Ctrl+C sets the cancel flag, and the run stops within a step
    print(f"kiln: {request.mode.value}, seed {request.seed}, loading model '{args.model}' on {where}…",
          file=sys.stderr)
    # Step previews never take the name of an input or of the output (they get step_001-2.png)
    names = OutputNames([args.image, args.mask, out])
    progress = _Progress(request, args.save_steps, names)
    final = run_one_job(engine, request, progress.on_event, cancel, run=run)
    restore_ctrl_c()
    progress.close()

    # 4. Save only a finished image
    if isinstance(final, JobFailed):
        return fail(final.message)
    if isinstance(final, JobCancelled):
        print(f"kiln: cancelled after step {final.step}; nothing was written.", file=sys.stderr)
        return EXIT_CANCELLED
    try:
        save_image(out, final.image, format_parameters(request, model_name))
    except KilnError as exc:
        return fail(str(exc))
    print(f"kiln: wrote {out} ({final.image.shape[1]}×{final.image.shape[0]}, seed {final.seed}, {final.elapsed_s:.1f} s)")
    return EXIT_OK


def server_of(args):
    """The ``ServerClient`` for ``--server`` (or KILN_SERVER), checked to be a Kiln server; None
    when the job runs on this computer. Raises KilnError."""
    from inference.remote.client import ServerClient

    client = ServerClient.from_environment(getattr(args, "server", None), getattr(args, "token", None))
    if client is not None:
        client.health()
    return client


def run_one_job(engine, request, on_event, cancel: threading.Event, poll_s: float = 0.02, run=None):
    """Run ``request`` as one job of the job runner (``inference.core.jobs``) and wait for its
    terminal event, which is returned (``run``: the kind's run function, by default the engine's).
    ``on_event`` sees every event on the worker thread;
    ``cancel`` (set by Ctrl+C) cancels the job within a step. The runner's thread has ended when
    this returns, so the process never exits under a running torch op."""
    from inference.core.jobs import TERMINAL_EVENTS, JobRunner
    from inference.engine.jobs import run_engine_job

    outcome: list = []
    ended = threading.Event()

    def listen(event) -> None:
        on_event(event)
        if isinstance(event, TERMINAL_EVENTS):
            outcome.append(event)
            ended.set()

    runner = JobRunner(lambda: engine, listen, run=run or run_engine_job, thread_name="kiln-generate")
    runner.submit(request)
    while not ended.wait(poll_s):  # the SIGINT handler never raises: this waits for the very end
        if cancel.is_set():
            runner.cancel()
    runner.close(timeout_s=3600)
    return outcome[0]


def cancel_on_ctrl_c(cancel: threading.Event):
    """Make Ctrl+C (SIGINT) set ``cancel`` instead of raising KeyboardInterrupt; → a function that
    puts the previous handler back (calling it again does nothing).

    Why not KeyboardInterrupt: raised inside ``Thread.join`` it marks a still-running worker as
    finished (CPython 3.11/3.12), so the process would exit under a thread busy in torch and
    abort. A second Ctrl+C ends the process at once, for a model that is slow to load (nothing
    has been written then: the handler is put back before the image is saved).
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    import signal

    def on_sigint(_signum, _frame):
        if cancel.is_set():
            print("\nkiln: stopped at once; nothing was written.", file=sys.stderr)
            os._exit(EXIT_CANCELLED)  # skips interpreter shutdown, which would wait for the worker
        cancel.set()
        print("\nkiln: cancelling… (Ctrl+C again stops at once)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    restored = []

    def restore() -> None:
        if not restored:
            signal.signal(signal.SIGINT, previous)
            restored.append(True)

    return restore


class _Progress:
    """A tqdm bar over the real step count; optionally saves each step's preview."""

    def __init__(self, request: GenerationRequest, steps_dir: str | None, names: OutputNames):
        self._request = request
        self._names = names
        self._dir = Path(steps_dir) if steps_dir else None
        self._bar = None

    def on_event(self, event) -> None:
        from tqdm import tqdm

        if isinstance(event, JobStarted):
            self.close()  # a retry after running out of memory starts its progress over
            if self._request.mode is not Mode.INPAINT:  # inpainting counts the steps of every window
                note = passes_note(self._request.scheduler, planned_steps(self._request), event.total_steps)
                if note:
                    print(f"kiln: note: {note}", file=sys.stderr)
            self._bar = tqdm(total=event.total_steps, unit="step", desc="kiln", file=sys.stderr, leave=True)
        elif isinstance(event, JobNotice):
            self.close()
            print(f"kiln: note: {event.message}", file=sys.stderr)
        elif isinstance(event, StepPreview):
            if self._bar is not None:
                self._bar.update(event.step - self._bar.n)
            if self._dir is not None and event.rgb is not None:
                self._save_step(event)

    def _save_step(self, event: StepPreview) -> None:
        from PIL import Image

        size = (self._request.width_px, self._request.height_px)
        preview = Image.fromarray(event.rgb).resize(size, Image.BILINEAR)
        preview.save(self._names.claim(self._dir / f"step_{event.step:03d}.png"))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def make_test_model_command(args) -> int:
    """``main.py make-test-model OUT``: a tiny random-weight model, no download needed."""
    started = time.perf_counter()  # before the imports: loading torch is most of the wait
    quiet_libraries()
    if getattr(args, "restoration", None):
        return _make_restoration_test_model(args, started)
    from inference.models.tiny_model import make_test_model

    try:
        path = make_test_model(Path(args.out), inpainting=args.inpainting, single_file=args.single_file)
    except OSError as exc:
        return fail(f"cannot write '{args.out}': {exc.strerror or exc}.")
    kind = "inpainting model" if args.inpainting else "model"
    form = "single-file checkpoint" if args.single_file else "diffusers folder"
    print(f"kiln: wrote tiny test {kind} ({form}) to {path} in {time.perf_counter() - started:.1f} s")
    return EXIT_OK



def _make_restoration_test_model(args, started: float) -> int:
    from inference.restoration_models.random_models import make_restoration_test_model

    try:
        if args.restoration == "detect":
            from inference.restoration_models.yunet_architecture import write_face_finder_onnx

            path = write_face_finder_onnx(Path(args.out))
        else:
            path = make_restoration_test_model(Path(args.out), args.restoration)
    except KilnError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot write '{args.out}': {exc.strerror or exc}.")
    what = {"upscale": "upscaler (RRDBNet ×4)", "face": "face restorer (GFPGAN)", "fill": "fill model (LaMa)",
            "detect": "face detector (YuNet)"}
    print(f"kiln: wrote random-weight test {what[args.restoration]} to {path} "
          f"in {time.perf_counter() - started:.1f} s")
    return EXIT_OK
