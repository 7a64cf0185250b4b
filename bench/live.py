"""Live mode latency: stroke end → first step preview and → final image, measured in one run
(not a pass/fail test).

    python bench/live.py [--strokes 10] [--size 256] [--steps 4] [--strength 0.6]
    python bench/live.py --headless [...]                      (no Qt needed: GPU machines)
    python bench/live.py --headless --full-size-random --device cuda --size 512 --steps 4

Model: without --model a tiny random-weight SD1.5-architecture model is built in a temp folder
(``inference.tiny_model.make_test_model``); ``--full-size-random`` builds the full-size SD1.5
architecture from the bundled configs (``resources/model-configs/sd15``: UNet, VAE, CLIP ViT-L
text encoder) with random weights, written as a diffusers folder in fp16 and loaded by the engine
like any folder (fp16 on CUDA, fp32 on the CPU). Nothing is downloaded.

Settings: live mode's "Fast" preset (``gui.live_mode.fast_preset``: 4 steps, guidance 1, the
"lcm" scheduler) with ``--steps`` and ``--strength`` on a size×size photo, fixed seed. Every live
job is image-to-image, so it runs about ⌊steps × strength⌋ denoising steps (the header line
prints the real count: 4 steps at strength 0.6 run 2; use --strength 1 for all of them).

What is measured (``time.perf_counter`` in this process; every job is a real engine run):
 1. Stroke → preview / image, live mode idle before the stroke. A paint stroke is drawn into
    the document and ended with ``Document.end_stroke()`` (what a mouse release does); the clock
    starts just before that call. Live mode then starts a job (timer 0 → ``generate(live=True)``
    → worker thread). (a) stroke → first preview drawn: the first canvas viewport paint event
    (its start) after the controller put the job's first step preview on the canvas;
    (b) stroke → image shown: the same after the live result was shown (``result_shown(True)``).
 2. Bare ``Engine.run`` of the same request (same engine, same loaded model, called in this
    thread while the worker is idle), interleaved with (1) so drift hits both alike: run → first
    preview callback, run → return. GUI − bare is the GUI's overhead (timer, request building,
    thread hand-off, queued events, drawing); bare ÷ GUI is the pipeline's share.
 3. Stroke during a running job: a stroke starts job A; at A's JobStarted (its first UNet call)
    plus a delay spread over 5 % … 75 % of the bare runs' time from there to the image, another
    stroke is drawn and ended. Live mode cancels A at the stroke's first segment and starts B
    when A's terminal event has arrived.
    Measured: stroke end → B's first preview drawn and → B's image shown; stroke start → A's
    terminal event; how many A were cancelled, or finished before the cancel could stop them
    (the VAE decode cannot be interrupted).

``--headless`` measures the same without Qt, driving ``inference.engine`` the way
``gui/worker.py`` and ``gui/live_mode.py`` do (see ``HeadlessLive``): "drawn" and "shown" are
then the moments the engine emits the preview ("emitted") and JobFinished ("ready"), before
any GUI work.

Target (the issue): stroke → image ≤ 250 ms for a 4-step 512×512 job on full-size SD1.5, fp16,
CUDA. ``--threads N`` sets torch's CPU threads (the tests use 1 on two shared cores).
"""

from __future__ import annotations

import argparse
import itertools
import os
import queue
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gui.generation_params import GenerationParams, build_request  # noqa: E402  (numpy only, no Qt)
from inference.api import JobCancelled, JobFailed, JobFinished, JobStarted, StepPreview  # noqa: E402
from inference.cli import quiet_libraries  # noqa: E402
from inference.engine import Engine, run_job  # noqa: E402
from inference.schedulers import scheduler_names  # noqa: E402

TARGET_MS = 250  # the issue: stroke → image, 4 steps, 512 px, full-size SD1.5, fp16, CUDA
COLORS = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 200, 30), (120, 40, 160)]
now = time.perf_counter


# --- shared pieces --------------------------------------------------------------------------------


def fast_params(args, model_ref: str) -> GenerationParams:
    """The panel's params after the Fast preset, with --steps, --strength, a fixed seed.

    Uses ``gui.live_mode.fast_preset`` where PySide6 is installed; without it (headless on a
    GPU machine) the same three settings, copied from gui/live_mode.py."""
    params = GenerationParams(model_ref=model_ref, prompt=args.prompt, strength=args.strength,
                              seed=1, random_seed=False, width_px=args.size, height_px=args.size)
    try:
        from gui.live_mode import fast_preset
    except ImportError:  # no PySide6: FAST_STEPS, FAST_GUIDANCE, FAST_SCHEDULER of gui/live_mode.py
        params.guidance = 1.0
        if "lcm" in scheduler_names():
            params.scheduler = "lcm"
    else:
        params = fast_preset(params)
    params.steps = args.steps
    return params


def photo(size: int) -> np.ndarray:
    """A smooth size×size RGB 'photo' (a gradient): the live picture starts from it."""
    ramp = np.linspace(0, 255, size)
    yy, xx = np.meshgrid(ramp, ramp, indexing="ij")
    return np.stack([xx, yy, (xx + yy) / 2], axis=-1).round().astype(np.uint8)


def stroke_line(k: int, size: int) -> tuple[float, list[float], float]:
    """Stroke ``k``: a horizontal line (y, x points, brush radius) somewhere in the picture."""
    y = size * (0.15 + 0.7 * ((k * 0.37) % 1.0))
    return y, list(np.linspace(0.1 * size, 0.9 * size, 5)), max(2.0, size / 40)


def bare_run(engine: Engine, request) -> dict:
    """``Engine.run`` of ``request`` in this thread: seconds to JobStarted (first UNet call), to
    the first preview, to the last step's end, to the image; and the real step count."""
    marks: dict = {}

    def on_step(event):
        if isinstance(event, JobStarted):
            marks.setdefault("started", now() - t0)
            marks["steps"] = event.total_steps
        elif isinstance(event, StepPreview):
            if event.rgb is not None:
                marks.setdefault("preview", now() - t0)
            if event.step == event.total:
                marks["last_step"] = now() - t0

    t0 = now()
    result = engine.run(request, on_step, threading.Event())
    marks["image"] = now() - t0
    if not isinstance(result, JobFinished):
        raise RuntimeError(f"bare run did not finish: {result}")
    return marks


@dataclass
class StrokeTimes:
    """One measured stroke; seconds from the stroke's end (mouse release) unless noted."""

    request: object = None  # the live job's request (for the bare run)
    submitted: float = 0.0  # job handed to the worker
    preview: float = 0.0  # first step preview handed to the canvas (GUI) / emitted (headless)
    preview_drawn: float = 0.0  # ... and painted in the canvas viewport (headless: = preview)
    image_drawn: float = 0.0  # final image shown and painted (headless: JobFinished emitted)
    stale_stopped: float | None = None  # stale job's terminal event, from the stroke's *start*
    stale_outcome: str = ""  # "cancelled" / "finished" (the cancel came too late) / "idle"


# --- GUI driver: the real editor, offscreen ---------------------------------------------------------


class GuiLive:
    """The real editor from ``gui.app.build_editor`` (settings file in a temp dir), in live mode,
    with probes: viewport paint events, worker events, submissions and shown results."""

    def __init__(self, args, engine: Engine, params: GenerationParams, picture: np.ndarray, tmp: Path):
        from PySide6.QtCore import QEvent, QEventLoop, QObject, QTimer
        from PySide6.QtWidgets import QApplication, QMessageBox

        from gui.app import build_editor
        from gui.settings import Settings

        self.app = QApplication.instance() or QApplication([])
        self._wait_flag = QEventLoop.ProcessEventsFlag.WaitForMoreEvents
        self._wake = QTimer(singleShot=True)  # wakes a wait at its deadline or end of a sleep
        self.args = args
        # A failing job would open a modal dialog and hang an offscreen run: fail loudly instead.
        self.errors: list[str] = []
        QMessageBox.warning = staticmethod(lambda _parent, _title, text, *a: self.errors.append(text))
        # The engine the worker would make itself, kept so the bare runs use the same one.
        self.ed = build_editor(Settings(str(tmp / "settings.ini")), engine_factory=lambda: engine)
        self.ed.window.show()

        class PaintProbe(QObject):
            """Stamps every paint event of the widget it filters (when painting starts)."""

            def __init__(self, parent):
                super().__init__(parent)
                self.stamps: list[float] = []

            def eventFilter(self, _obj, event):  # noqa: N802
                if event.type() == QEvent.Type.Paint:
                    self.stamps.append(now())
                return False

        probe = PaintProbe(self.ed.canvas)
        self.ed.canvas.viewport().installEventFilter(probe)
        self.paints = probe.stamps  # canvas viewport paints
        self.submitted: list[tuple[float, object]] = []  # (time, request)
        self.first_step, self.started, self.terminal, self.shown = {}, {}, {}, {}  # job id → time
        worker, controller = self.ed.worker, self.ed.controller
        submit = worker.submit  # instrumented, not replaced: every submission is stamped
        worker.submit = lambda request: (self.submitted.append((now(), request)), submit(request))
        # Connected after the controller's own slots: they run once the canvas has the preview.
        worker.started.connect(lambda e: self.started.setdefault(e.job_id, now()))
        worker.step.connect(lambda e: self.first_step.setdefault(e.job_id, now()) if e.rgb is not None else None)
        for signal in (worker.finished, worker.cancelled, worker.failed):
            signal.connect(lambda e: self.terminal.setdefault(e.job_id, (now(), type(e).__name__)))
        controller.result_shown.connect(
            lambda on: self.shown.setdefault(controller.shown_entry().job_id, now()) if on else None)

        # The document and the panel, set as a person would (the Fast button applies the preset).
        doc, panel = self.ed.document, self.ed.panel
        doc.load(picture)
        panel.model_combo.setEditText(params.model_ref)
        panel.prompt_edit.setPlainText(params.prompt)
        panel.random_check.setChecked(False)
        panel.seed_spin.setValue(params.seed)
        panel.strength_spin.setValue(params.strength)
        panel.set_fast(True)
        panel.steps_spin.setValue(params.steps)
        self.params = panel.params

    # -- waiting without blocking the event loop --

    def wait_until(self, condition, timeout_s: float = 900.0, wake_s: float | None = None) -> None:
        """Run the event loop (as app.exec would) until ``condition()``; the stamps are taken
        in the slots and the paint probe, not here, so this loop adds no latency."""
        deadline = now() + timeout_s
        self._wake.start(int((wake_s if wake_s is not None else timeout_s) * 1000))
        while not condition():
            if self.errors:
                raise RuntimeError(f"live job failed: {self.errors[0]}")
            if now() > deadline:
                raise TimeoutError("live mode did not get there in time")
            self.app.processEvents(self._wait_flag)
        self._wake.stop()

    def sleep_until(self, t: float) -> None:
        self.wait_until(lambda: now() >= t, wake_s=max(0.0, t - now()))

    def settled(self) -> bool:
        live, controller = self.ed.live, self.ed.controller
        return not controller.busy and not live._dirty and not live._timer.isActive()

    def job_after(self, t: float):
        """The first request submitted at or after ``t`` (None yet)."""
        return next((r for s, r in self.submitted if s >= t), None)

    def drawn_after(self, t: float | None) -> float | None:
        return next((p for p in self.paints if t is not None and p >= t), None)

    def stroke(self, k: int) -> float:
        """Draw stroke ``k`` into the paint layer and end it; returns the time just before the end."""
        doc = self.ed.document
        y, xs, radius = stroke_line(k, self.args.size)
        doc.begin_stroke(layer="paint", color=COLORS[k % len(COLORS)])
        doc.paint_dab(xs[0], y, radius)
        for x0, x1 in itertools.pairwise(xs):
            doc.paint_segment(x0, y, x1, y, radius)
        t0 = now()
        doc.end_stroke()
        return t0

    def _times_of(self, t0: float) -> StrokeTimes:
        """Wait for the job the stroke that ended at ``t0`` started, shown and drawn."""
        self.wait_until(lambda: (r := self.job_after(t0)) is not None and r.job_id in self.shown
                        and self.drawn_after(self.shown[r.job_id]) is not None)
        request = self.job_after(t0)
        job = request.job_id
        submitted = next(s for s, r in self.submitted if r is request)
        return StrokeTimes(request, submitted - t0, self.first_step[job] - t0,
                           self.drawn_after(self.first_step[job]) - t0, self.drawn_after(self.shown[job]) - t0)

    # -- the three things measured --

    def warm_up(self) -> None:
        self.ed.live.set_enabled(True)  # the first live job starts at once (and loads the model)
        self.wait_until(lambda: self.settled() and self.ed.controller.shown_entry() is not None)

    def idle_stroke(self, k: int) -> StrokeTimes:
        self.wait_until(self.settled)
        return self._times_of(self.stroke(k))

    def stale_stroke(self, k: int, delay_s: float) -> StrokeTimes:
        self.wait_until(self.settled)
        t_a = self.stroke(k)
        self.wait_until(lambda: (r := self.job_after(t_a)) is not None and r.job_id in self.started)
        job_a = self.job_after(t_a).job_id
        self.sleep_until(self.started[job_a] + delay_s)
        t_start = now()
        t0 = self.stroke(k + 1)  # its first segment cancels A
        times = self._times_of(t0)
        stopped_at, kind = self.terminal[job_a]
        times.stale_stopped = stopped_at - t_start
        times.stale_outcome = "idle" if stopped_at < t_start else kind.removeprefix("Job").lower()
        return times

    def close(self) -> None:
        self.ed.worker.shutdown()


# --- headless driver: inference.engine the way the GUI drives it -----------------------------------------


class HeadlessLive:
    """``gui/worker.py`` + ``gui/live_mode.py`` without Qt, for machines without PySide6.

    One worker thread runs ``inference.engine.run_job`` for one request at a time (as
    ``_Worker.run``). A stroke that ends builds a request from the picture at that moment with
    ``gui.generation_params.build_request`` (as ``GenerationController.generate``) and submits
    it. A stroke during a job sets that job's cancel event at its first segment and the new job is
    submitted once the stale job's terminal event has arrived (``LiveMode``'s policy). Strokes are
    painted straight into the composite picture (a band of colour; their look does not matter).
    """

    def __init__(self, args, engine: Engine, params: GenerationParams, picture: np.ndarray):
        self.args, self.engine, self.params = args, engine, params
        self.picture = picture.copy()  # the document's composite: photo + paint so far
        self.events: dict[int, dict] = {}  # job id → {"started"|"preview"|"terminal": time (, event)}
        self._cond = threading.Condition()
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="kiln-inference", daemon=True)
        self._thread.start()

    def _serve(self) -> None:  # the worker thread
        while (item := self._jobs.get()) is not None:
            request, cancel = item
            if cancel.is_set():
                self._on_event(JobCancelled(request.job_id, 0))
                continue
            run_job(self.engine, request, self._on_event, cancel)

    def _on_event(self, event) -> None:  # the worker thread
        t = now()
        with self._cond:
            marks = self.events.setdefault(event.job_id, {})
            if isinstance(event, JobStarted):
                marks.setdefault("started", t)
            elif isinstance(event, StepPreview) and event.rgb is not None:
                marks.setdefault("preview", t)
            elif isinstance(event, (JobFinished, JobCancelled, JobFailed)):
                marks["terminal"] = (t, event)
            self._cond.notify_all()

    def _wait(self, job_id: int, key: str, timeout_s: float = 900.0):
        """The time job ``job_id`` reached ``key`` (for "terminal": (time, event))."""
        with self._cond:
            marks = self.events.setdefault(job_id, {})
            if not self._cond.wait_for(lambda: key in marks or "terminal" in marks, timeout_s):
                raise TimeoutError(f"job {job_id} never reached '{key}'")
            terminal = marks.get("terminal")
            if terminal and isinstance(terminal[1], JobFailed):
                raise RuntimeError(f"live job failed: {terminal[1].message}")
            if key not in marks:
                raise RuntimeError(f"job {job_id} ended ({terminal[1]}) before '{key}'")
            return marks[key]

    def paint(self, k: int) -> None:
        y, xs, radius = stroke_line(k, self.args.size)
        top, bottom = int(max(0, y - radius)), int(min(self.args.size, y + radius + 1))
        self.picture[top:bottom, int(xs[0]): int(xs[-1]) + 1] = COLORS[k % len(COLORS)]

    def submit(self):
        """What the live timer does once idle: a request from the picture now, to the worker."""
        mask = np.zeros(self.picture.shape[:2], np.uint8)
        request = build_request(next(self._ids), self.params, self.picture, mask, False, True)
        self._cancel = threading.Event()
        self._jobs.put((request, self._cancel))
        return request

    def _times_of(self, t0: float, request, submitted: float) -> StrokeTimes:
        preview = self._wait(request.job_id, "preview") - t0
        image = self._wait(request.job_id, "terminal")[0] - t0
        return StrokeTimes(request, submitted - t0, preview, preview, image)

    # -- the three things measured --

    def warm_up(self) -> None:
        self._wait(self.submit().job_id, "terminal")

    def idle_stroke(self, k: int) -> StrokeTimes:
        self.paint(k)
        t0 = now()  # the stroke ended
        request = self.submit()
        return self._times_of(t0, request, now())

    def stale_stroke(self, k: int, delay_s: float) -> StrokeTimes:
        self.paint(k)
        job_a = self.submit().job_id
        started = self._wait(job_a, "started")
        time.sleep(max(0.0, started + delay_s - now()))
        t_start = now()
        self._cancel.set()  # the stroke's first segment: A is stale
        self.paint(k + 1)
        t0 = now()  # the stroke ended
        stopped_at, event = self._wait(job_a, "terminal")  # B starts only after A's terminal event
        request = self.submit()
        times = self._times_of(t0, request, now())
        times.stale_stopped = stopped_at - t_start
        times.stale_outcome = "idle" if stopped_at < t_start else type(event).__name__.removeprefix("Job").lower()
        return times

    def close(self) -> None:
        self._cancel.set()
        self._jobs.put(None)
        self._thread.join(60)


# --- the full-size random model ------------------------------------------------------------------


def build_full_size_random(out: Path) -> Path:
    """SD1.5's full-size architecture (the bundled ``sd15`` configs) with random weights (seed 0),
    saved as a diffusers folder in fp16 (the engine loads it in its own precision), ~2 GB."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from inference.resources import model_config_dir, tokenizer_dir

    folder = model_config_dir("sd15")
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
        text_encoder=CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        tokenizer=CLIPTokenizer.from_pretrained(str(tokenizer_dir())),
        unet=UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
        scheduler=PNDMScheduler.from_config(PNDMScheduler.load_config(folder / "scheduler")),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.to(torch.float16)
    pipe.save_pretrained(str(out), safe_serialization=True)
    return out


# --- measuring and reporting -------------------------------------------------------------------------


def measure(driver, engine: Engine, args) -> tuple[list[StrokeTimes], list[dict], list[StrokeTimes]]:
    # 1. Warm up: the first live job loads the model; one more stroke and a bare run warm the rest
    driver.warm_up()
    bare_run(engine, driver.idle_stroke(0).request)

    # 2. Strokes with live mode idle, each followed by a bare Engine.run of the same request
    idle, bare = [], []
    for k in range(1, args.strokes + 1):
        idle.append(driver.idle_stroke(k))
        bare.append(bare_run(engine, idle[-1].request))

    # 3. Strokes during a running job, at 5 % … 75 % of its time from the first UNet call to the image
    run_s = statistics.median(b["image"] - b["started"] for b in bare)
    n = args.strokes
    stale = [driver.stale_stroke(100 + 2 * j, (0.05 + 0.7 * j / max(1, n - 1)) * run_s) for j in range(n)]
    return idle, bare, stale


def report(idle: list[StrokeTimes], bare: list[dict], stale: list[StrokeTimes], gui: bool) -> None:
    ms = 1000.0

    def row(name: str, values: list[float]) -> None:
        print(f"{name:<58}{statistics.median(values) * ms:>10.1f}{max(values) * ms:>10.1f}")

    drawn = "drawn" if gui else "emitted"
    shown = "shown" if gui else "ready"
    print(f"{'measure (ms)':<58}{'median':>10}{'max':>10}")
    row("stroke → job submitted", [t.submitted for t in idle])
    if gui:
        row("stroke → first preview on the canvas", [t.preview for t in idle])
    row(f"stroke → first preview {drawn}", [t.preview_drawn for t in idle])
    row(f"stroke → image {shown}", [t.image_drawn for t in idle])
    row("bare Engine.run → first preview", [b["preview"] for b in bare])
    row("bare Engine.run → last step done", [b["last_step"] for b in bare])
    row("bare Engine.run → image", [b["image"] for b in bare])
    overhead = [t.image_drawn - b["image"] for t, b in zip(idle, bare)]
    row("overhead, stroke → image minus bare (per stroke)", overhead)
    ratio = statistics.median(t.image_drawn for t in idle) / statistics.median(b["image"] for b in bare)
    print(f"{'ratio stroke → image / bare run (medians)':<58}{ratio:>10.3f}")
    print(f"{'pipeline share of stroke → image':<58}{100 / ratio:>9.1f}%")
    row(f"stroke during a job → new job's first preview {drawn}", [t.preview_drawn for t in stale])
    row(f"stroke during a job → new job's image {shown}", [t.image_drawn for t in stale])
    stopped = [t.stale_stopped for t in stale if t.stale_outcome != "idle"]
    if stopped:
        row("stroke start → stale job's terminal event", stopped)
    outcomes = {kind: sum(t.stale_outcome == kind for t in stale) for kind in ("cancelled", "finished", "idle")}
    print(f"stale jobs: {outcomes['cancelled']} cancelled, {outcomes['finished']} finished before the cancel "
          f"could stop them, {outcomes['idle']} already over when the stroke began")
    median_image = statistics.median(t.image_drawn for t in idle) * ms
    print(f"target (full-size SD1.5, 512 px, 4 steps, fp16, CUDA): stroke → image <= {TARGET_MS} ms; "
          f"here {median_image:.0f} ms median ({'met' if median_image <= TARGET_MS else 'not met'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="model reference (default: a tiny test model)")
    source.add_argument("--full-size-random", action="store_true",
                        help="full-size SD1.5 architecture with random weights, built offline")
    parser.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--strength", type=float, default=0.6)
    parser.add_argument("--strokes", type=int, default=10, help="strokes per measure (idle, and during a job)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--headless", action="store_true", help="no Qt: drive inference.engine directly")
    parser.add_argument("--prompt", default="a lighthouse on a cliff, oil painting")
    args = parser.parse_args()
    quiet_libraries()
    if args.threads:
        torch.set_num_threads(args.threads)

    # 1. Device, model and the engine every run uses
    from inference.devices import choose_device

    plan = choose_device(args.device)
    tmp = Path(tempfile.mkdtemp(prefix="kiln-bench-live-"))
    started = now()
    if args.full_size_random:
        model_ref, model_name = str(build_full_size_random(tmp / "sd15-random")), "full-size SD1.5, random weights"
    elif args.model:
        model_ref = model_name = args.model
    else:
        from inference.tiny_model import make_test_model

        model_ref, model_name = str(make_test_model(tmp / "tiny")), "tiny SD1.5-architecture test model"
    built_s = now() - started
    engine = Engine(plan)
    params = fast_params(args, model_ref)

    # 2. The driver: the real editor offscreen, or the engine alone
    if args.headless:
        driver = HeadlessLive(args, engine, params, photo(args.size))
    else:
        driver = GuiLive(args, engine, params, photo(args.size), tmp)
        params = driver.params
    try:
        idle, bare, stale = measure(driver, engine, args)
    finally:
        driver.close()
        shutil.rmtree(tmp, ignore_errors=True)  # the full-size model is ~2 GB

    # 3. Report
    mode = "headless (inference.engine on a worker thread)" if args.headless else "GUI (real editor, offscreen Qt)"
    built = f" (built in {built_s:.1f} s)" if args.full_size_random else ""
    print(f"live mode, {mode}; device: {plan.description}; torch threads: {torch.get_num_threads()}")
    print(f"model: {model_name}{built}; {args.size}×{args.size} img2img, {params.steps} steps × strength "
          f"{params.strength} → {bare[0]['steps']} denoising steps, guidance {params.guidance}, scheduler "
          f"{params.scheduler}; {args.strokes} strokes per measure")
    report(idle, bare, stale, gui=not args.headless)


if __name__ == "__main__":
    main()
