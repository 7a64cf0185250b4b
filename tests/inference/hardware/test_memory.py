"""Memory plans, device reports, precision choice, and the out-of-memory retry on a tiny model.

The machine here has no GPU: out-of-memory is simulated by raising torch.OutOfMemoryError from
a UNet hook, and offloading (meaningless on the CPU) is exercised by placing hooks with the CPU
as the "device", which checks the bookkeeping, not any memory saved.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np
import pytest
import torch
from diffusers.models.attention_processor import SlicedAttnProcessor

from inference.core.api import GenerationRequest, JobFailed, JobFinished, JobNotice, Mode, StepPreview
from inference.hardware.devices import DeviceInfo, choose_device, device_info, memory_budget
from inference.engine.engine import Engine, run_job
from inference.core.errors import InvalidRequest, ModelError
from inference.hardware.memory import (
    LADDER,
    MODEL_OFFLOAD,
    NO_SAVINGS,
    SLICING,
    MemoryPlan,
    OutOfMemory,
    auto_memory_plan,
    is_out_of_memory,
    lighter_plan,
    memory_plan_for_mode,
    run_with_memory_fallback,
    use_memory_plan,
)

GiB = 2**30
SIZE = 64


# --- plans ----------------------------------------------------------------------------------


def test_the_ladder_gets_lighter_one_step_at_a_time_and_skips_offload_on_the_cpu():
    assert [lighter_plan(plan, "cuda") for plan in LADDER] == [*LADDER[1:], None]
    assert lighter_plan(NO_SAVINGS, "cpu") == SLICING
    assert lighter_plan(SLICING, "cpu") is None  # offloading to system memory from system memory saves nothing
    # An explicit plan keeps its own savers and gains the next ones.
    assert lighter_plan(MODEL_OFFLOAD, "cuda") == LADDER[2]
    assert lighter_plan(LADDER[2], "mps") == LADDER[3]
    assert LADDER[3].sequential_offload and not LADDER[3].model_offload
    with pytest.raises(ValueError):
        MemoryPlan(model_offload=True, sequential_offload=True)
    assert LADDER[2].describe() == "VAE tiling, VAE slicing, attention slicing and model offload"
    assert NO_SAVINGS.describe() == "no memory savings"


def test_memory_modes_are_validated_with_a_reason():
    assert memory_plan_for_mode("auto", "cpu") is None
    assert memory_plan_for_mode("slicing", "cpu") == SLICING
    assert memory_plan_for_mode("offload", "cuda") == MODEL_OFFLOAD
    with pytest.raises(InvalidRequest, match="on the CPU they are already in system memory"):
        memory_plan_for_mode("sequential", "cpu")
    with pytest.raises(InvalidRequest, match="unknown memory mode 'tiny'"):
        memory_plan_for_mode("tiny", None)
    with pytest.raises(InvalidRequest, match="already in system memory"):
        Engine(choose_device("cpu"), memory_mode="offload")


@pytest.mark.parametrize(
    "family, free_gib, total_gib, side_px, dtype, expected",
    [
        ("sd1", 7.5, 8, 512, torch.float16, NO_SAVINGS),  # 2 GB of weights + ~1 GB at work fit easily
        ("sd1", 3.7, 4, 512, torch.float16, NO_SAVINGS),  # just: 2 + 0.75 + the 0.7 GiB margin
        ("sd1", 2.5, 3, 512, torch.float16, LADDER[3]),  # not even the UNet and its work fit: layer by layer
        ("sd1", 6.0, 6.5, 512, torch.float32, LADDER[2]),  # 4.3 GB of fp32 weights don't; the UNet alone does
        ("sdxl", 23, 24, 1024, torch.float16, NO_SAVINGS),
        ("sdxl", 16, 16.5, 1536, torch.float16, SLICING),  # a tiled decode is what makes 1536² fit
        ("sdxl", 11.5, 12, 1024, torch.float16, LADDER[2]),
        ("sdxl", 7.5, 8, 1024, torch.float16, LADDER[3]),
    ],
)
def test_auto_plan_from_free_memory_and_image_size(family, free_gib, total_gib, side_px, dtype, expected):
    plan = auto_memory_plan(int(free_gib * GiB), total_gib * GiB, family, side_px, side_px, dtype)
    assert plan == expected, plan.describe()


def test_auto_plan_is_monotonic_and_never_offloads_on_the_cpu():
    order = list(LADDER)
    previous = 0
    for free_gib in (40, 12, 8, 6, 5, 4, 3, 2, 1):
        plan = auto_memory_plan(free_gib * GiB, 48 * GiB, "sdxl", 1024, 1024, torch.float16)
        assert order.index(plan) >= previous  # less memory never gives a heavier plan
        previous = order.index(plan)
    assert previous == 3
    assert auto_memory_plan(GiB // 4, GiB, "sdxl", 2048, 2048, torch.float32, device="cpu") == NO_SAVINGS
    assert auto_memory_plan(None, None, "sd1", 512, 512, torch.float16) == NO_SAVINGS  # unknown: the retry guards
    # A small real model fits where the family's released size would not.
    assert auto_memory_plan(GiB, 2 * GiB, "sd1", 256, 256, torch.float16, weights_bytes=20_000_000) == NO_SAVINGS


# --- devices and precision -----------------------------------------------------------------


def test_device_report_for_the_panel():
    info = device_info("cpu")
    assert isinstance(info, DeviceInfo) and info.device == "cpu" and info.threads == torch.get_num_threads()
    assert info.total_bytes > 0 and 0 < info.free_bytes <= info.total_bytes
    assert "GiB RAM free" in info.summary() and info.name in info.summary()
    available, total = memory_budget("cpu")
    assert 0 < available <= total


def test_precision_is_chosen_per_engine_and_taught():
    assert choose_device("cpu").dtype == torch.float32  # auto on the CPU
    assert choose_device("cpu", precision="bf16").dtype == torch.bfloat16
    assert choose_device("cpu", precision="fp32").description.endswith(", fp32")
    with pytest.raises(ModelError, match="fp16 on the CPU is very slow.*use fp32"):
        choose_device("cpu", precision="fp16")
    with pytest.raises(ModelError, match="unknown precision 'fp8'"):
        choose_device("cpu", precision="fp8")


# --- the out-of-memory retry, alone ----------------------------------------------------------


def test_out_of_memory_is_recognised_by_type_and_by_mps_text():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB)"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_out_of_memory(ValueError("out of memory"))


def _raise_in_a_cycle():
    """Raise out-of-memory the way library code often does: with the error kept in a local of a
    frame its own traceback holds, a reference cycle that plain reference counting never frees."""
    try:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 16.00 MiB")
    except torch.OutOfMemoryError as error:
        kept = error  # noqa: F841 — the cycle: error → traceback → this frame → kept → error
        raise


def test_fallback_frees_the_failed_attempts_tensors_before_retrying():
    refs, alive_at_retry, plans, notices = [], [], [], []

    def attempt(plan):
        plans.append(plan)
        if len(plans) == 1:
            big = torch.zeros(2_000_000)  # held only by this frame, so only by the traceback
            refs.append(weakref.ref(big))
            _raise_in_a_cycle()
        alive_at_retry.append(refs[0]() is not None)
        return "image"

    result, notice = run_with_memory_fallback(attempt, NO_SAVINGS, "cpu", notices.append)
    assert result == "image" and plans == [NO_SAVINGS, SLICING]
    assert alive_at_retry == [False]
    assert notices == [notice] and "retried this job with VAE tiling" in notice


def test_fallback_gives_up_after_one_retry_or_when_nothing_is_lighter():
    calls = []

    def always_out(plan):
        calls.append(plan)
        raise torch.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(OutOfMemory, match="even after a retry with VAE tiling.*sequential offload memory mode"):
        run_with_memory_fallback(always_out, NO_SAVINGS, "cuda", lambda _m: None)
    assert calls == [NO_SAVINGS, SLICING]
    calls.clear()
    with pytest.raises(OutOfMemory, match="Try a smaller image") as caught:
        run_with_memory_fallback(always_out, LADDER[3], "cuda", lambda _m: None)
    assert calls == [LADDER[3]] and "sequential offload memory mode" not in str(caught.value)
    with pytest.raises(KeyError):  # anything else passes through untouched, and is not retried
        run_with_memory_fallback(lambda _p: {}["x"], NO_SAVINGS, "cuda", lambda _m: None)


# --- the retry in the engine, on the tiny model ------------------------------------------------


@pytest.fixture(scope="module")
def engine():
    return Engine(choose_device("cpu"))


def _request(model_dir, job_id=1):
    return GenerationRequest(job_id=job_id, mode=Mode.TXT2IMG, prompt="a house", model_ref=str(model_dir),
                             width_px=SIZE, height_px=SIZE, steps=2, seed=5)


def _slicing_applied(model) -> dict:
    procs = model.base.unet.attn_processors.values()
    return {
        "attention_slicing": all(isinstance(p, SlicedAttnProcessor) for p in procs),
        "vae_tiling": model.base.vae.use_tiling,
        "vae_slicing": model.base.vae.use_slicing,
    }


class _OutOfMemory:
    """Simulated out-of-memory: each attempt (one ``_denoise`` call) records the plan applied as
    it starts and whether earlier attempts' big tensors are still alive; a UNet forward-pre-hook
    allocates a big tensor in its own frame and raises torch.OutOfMemoryError in the first
    ``failures`` attempts."""

    def __init__(self, model, monkeypatch, failures=1):
        import inference.engine.engine as engine_module

        self.model, self.failures = model, failures
        self.attempts, self.refs, self.seen = 0, [], []
        real_denoise = engine_module._denoise

        def denoise(*args, **kwargs):
            self.attempts += 1
            self.seen.append((model.memory, _slicing_applied(model), [r() is not None for r in self.refs]))
            return real_denoise(*args, **kwargs)

        monkeypatch.setattr(engine_module, "_denoise", denoise)
        self.handle = model.base.unet.register_forward_pre_hook(self.in_unet)

    def in_unet(self, _module, _args):
        if self.attempts <= self.failures:
            big = torch.zeros(4_000_000)  # 16 MB that only this frame (so only the traceback) holds
            self.refs.append(weakref.ref(big))
            _raise_in_a_cycle()


def test_an_out_of_memory_job_is_retried_lighter_and_the_next_job_is_normal(engine, tiny_model_dir, monkeypatch):
    model = engine.model(str(tiny_model_dir))
    hook = _OutOfMemory(model, monkeypatch)
    events = []
    try:
        final = run_job(engine, _request(tiny_model_dir), events.append, threading.Event())
    finally:
        hook.handle.remove()
    # 1. The job finished, and says how
    assert isinstance(final, JobFinished) and final.image.shape == (SIZE, SIZE, 3)
    assert final.notice and "retried this job with VAE tiling, VAE slicing and attention slicing" in final.notice
    notices = [e for e in events if isinstance(e, JobNotice)]
    assert [n.message for n in notices] == [final.notice]
    kinds = [type(e).__name__ for e in events if not isinstance(e, StepPreview)]
    assert kinds[-3:] == ["JobNotice", "JobStarted", "JobFinished"]  # progress starts over after the notice
    # 2. The first attempt ran in the normal plan, the retry with slicing and tiling applied
    (plan_1, applied_1, _), (plan_2, applied_2, alive) = hook.seen
    assert plan_1 == NO_SAVINGS and not any(applied_1.values())
    assert plan_2 == SLICING and all(applied_2.values())
    # 3. Nothing of the failed attempt was alive when the retry started
    assert alive == [False]
    # 4. The next job runs in the normal plan again
    monkeypatch.undo()
    events.clear()
    final = run_job(engine, _request(tiny_model_dir, job_id=2), events.append, threading.Event())
    assert isinstance(final, JobFinished) and final.notice is None
    assert model.memory == NO_SAVINGS and not any(_slicing_applied(model).values())
    assert not any(isinstance(e, JobNotice) for e in events)


def test_a_second_out_of_memory_fails_the_job_with_advice_and_the_engine_goes_on(engine, tiny_model_dir, monkeypatch):
    model = engine.model(str(tiny_model_dir))
    hook = _OutOfMemory(model, monkeypatch, failures=2)
    events = []
    try:
        final = run_job(engine, _request(tiny_model_dir, job_id=3), events.append, threading.Event())
    finally:
        hook.handle.remove()
        monkeypatch.undo()
    assert isinstance(final, JobFailed) and final.job_id == 3
    assert final.message.startswith("Out of memory even after a retry with VAE tiling")
    assert "Try a smaller image" in final.message
    assert isinstance(events[-1], JobFailed) and sum(isinstance(e, JobNotice) for e in events) == 1
    assert hook.attempts == 2 and not any(r() is not None for r in hook.refs)
    final = run_job(engine, _request(tiny_model_dir, job_id=4), events.append, threading.Event())
    assert isinstance(final, JobFinished) and final.notice is None and model.memory == NO_SAVINGS


def test_a_fixed_memory_mode_is_applied_and_kept(tiny_model_dir):
    engine = Engine(choose_device("cpu"), memory_mode="slicing")
    final = engine.run(_request(tiny_model_dir), lambda _e: None, threading.Event())
    model = engine.model(str(tiny_model_dir))
    assert isinstance(final, JobFinished) and model.memory == SLICING and all(_slicing_applied(model).values())
    engine.set_memory_mode("none")
    engine.run(_request(tiny_model_dir), lambda _e: None, threading.Event())
    assert model.memory == NO_SAVINGS and not any(_slicing_applied(model).values())


def test_model_offload_hooks_follow_the_pipeline_that_runs_and_come_off_completely(tiny_model_dir):
    # Offload on the CPU moves nothing anywhere; it checks the hook bookkeeping across the
    # pipelines that share one set of modules.
    engine = Engine(choose_device("cpu"))
    model = engine.model(str(tiny_model_dir))
    txt2img, img2img = model.pipeline_for(Mode.TXT2IMG), model.pipeline_for(Mode.IMG2IMG)
    kwargs = dict(prompt="x", num_inference_steps=2, height=SIZE, width=SIZE, output_type="np")

    use_memory_plan(model, LADDER[2], txt2img)
    assert txt2img._all_hooks and hasattr(model.base.unet, "_hf_hook")
    txt2img(**kwargs, generator=torch.Generator().manual_seed(1))
    use_memory_plan(model, LADDER[2], img2img)  # another pipeline gets hooks of its own
    assert img2img._all_hooks
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    img2img(prompt="x", image=image, num_inference_steps=2, strength=0.5, output_type="np")

    assert all(_slicing_applied(model).values())
    use_memory_plan(model, NO_SAVINGS, txt2img)
    assert model.memory == NO_SAVINGS and not any(_slicing_applied(model).values())
    assert not any(hasattr(module, "_hf_hook") for module in model.base.components.values())
    assert all(pipe._all_hooks == [] for pipe in model.pipelines())  # no pipeline re-installs offload
    final = engine.run(_request(tiny_model_dir), lambda _e: None, threading.Event())
    assert isinstance(final, JobFinished)
    assert not hasattr(model.base.unet, "_hf_hook")


def test_sequential_offload_parks_the_weights_and_releasing_brings_them_back_unchanged(tiny_model_dir):
    # Only the placement is checked here: running under sequential offload needs a GPU
    # (accelerate's hooks fail with the CPU as execution device).
    engine = Engine(choose_device("cpu"))
    before = engine.run(_request(tiny_model_dir), lambda _e: None, threading.Event()).image
    model = engine.model(str(tiny_model_dir))
    weights = {k: v.clone() for k, v in model.base.unet.state_dict().items()}

    use_memory_plan(model, LADDER[3], model.pipeline_for(Mode.TXT2IMG))
    assert model.base.unet.conv_in.weight.device.type == "meta"  # parked, loaded layer by layer

    use_memory_plan(model, NO_SAVINGS, model.pipeline_for(Mode.TXT2IMG))
    assert all(torch.equal(weights[k], v) for k, v in model.base.unet.state_dict().items())
    after = engine.run(_request(tiny_model_dir), lambda _e: None, threading.Event()).image
    assert np.array_equal(before, after)
