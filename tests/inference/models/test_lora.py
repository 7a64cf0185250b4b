"""LoRA adapters on the tiny model: weights, switching between jobs without reloading the base
model, refusing pickles by content, LCM, and requests that say what to fix."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pytest
import torch

from inference.core.api import GenerationRequest, JobFailed, JobFinished, Mode, StepPreview
from inference.hardware.devices import choose_device
from inference.engine.engine import Engine, run_job
from inference.core.errors import InvalidRequest
from tiny_lora import save_unet_lora

SIZE = 64


@pytest.fixture(scope="module")
def tiny_lora(tmp_path_factory):
    from inference.models.tiny_model import build_tiny_pipeline

    return save_unet_lora(build_tiny_pipeline().unet, tmp_path_factory.mktemp("lora"))


@pytest.fixture(scope="module")
def other_lora(tmp_path_factory):
    from inference.models.tiny_model import build_tiny_pipeline

    return save_unet_lora(build_tiny_pipeline().unet, tmp_path_factory.mktemp("lora2"), seed=1)


@pytest.fixture(scope="module")
def engine():
    return Engine(choose_device("cpu"))


def _request(model_dir, loras=(), job_id=1, **kw):
    base = dict(job_id=job_id, mode=Mode.TXT2IMG, prompt="a house", model_ref=str(model_dir),
                width_px=SIZE, height_px=SIZE, steps=2, seed=11, loras=loras)
    base.update(kw)
    return GenerationRequest(**base)


def _image(engine, request):
    final = run_job(engine, request, lambda _e: None, threading.Event())
    assert isinstance(final, JobFinished), final
    return final.image


def test_weight_zero_is_the_base_model_one_differs_and_unloading_returns_to_base(engine, tiny_model_dir, tiny_lora,
                                                                                  monkeypatch):
    import inference.engine.engine as engine_module

    loads = []
    real_load = engine_module.load_model
    monkeypatch.setattr(engine_module, "load_model", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    base = _image(engine, _request(tiny_model_dir))
    model = engine.model(str(tiny_model_dir))
    lora_loads = []
    real_lora_load = model.base.load_lora_weights
    monkeypatch.setattr(model.base, "load_lora_weights", lambda *a, **k: lora_loads.append(1) or real_lora_load(*a, **k))

    at_zero = _image(engine, _request(tiny_model_dir, ((str(tiny_lora), 0.0),)))
    at_one = _image(engine, _request(tiny_model_dir, ((str(tiny_lora), 1.0),)))
    at_half = _image(engine, _request(tiny_model_dir, ((str(tiny_lora), 0.5),)))
    assert np.array_equal(at_zero, base)
    assert np.abs(at_one.astype(int) - base).max() > 8
    assert not np.array_equal(at_half, at_one)
    assert lora_loads == [1]  # new weights only rescale the loaded adapter
    assert list(model.base.get_list_adapters().get("unet", [])) == ["kiln_lora_0"]

    after = _image(engine, _request(tiny_model_dir))
    assert np.array_equal(after, base)
    assert model.base.get_list_adapters() == {}
    assert not any("lora" in name for name, _ in model.base.unet.named_modules())  # adapter layers are gone
    assert loads == [] or loads == [1]  # the base model was never reloaded for a LoRA change
    again = _image(engine, _request(tiny_model_dir, ((str(tiny_lora), 1.0),)))
    assert np.array_equal(again, at_one)


def test_two_loras_and_swapping_one(engine, tiny_model_dir, tiny_lora, other_lora):
    one = _image(engine, _request(tiny_model_dir, ((str(tiny_lora), 1.0),)))
    both = _image(engine, _request(tiny_model_dir, ((str(tiny_lora), 1.0), (str(other_lora), 1.0))))
    other = _image(engine, _request(tiny_model_dir, ((str(other_lora), 1.0),)))
    assert not np.array_equal(one, both) and not np.array_equal(both, other)
    names = engine.model(str(tiny_model_dir)).base.get_list_adapters()["unet"]
    assert len(names) == 1  # the first LoRA was unloaded, the second kept
    _image(engine, _request(tiny_model_dir))


def test_lcm_lora_runs_with_the_lcm_scheduler_in_few_steps(engine, tiny_model_dir, tiny_lora):
    events = []
    request = _request(tiny_model_dir, ((str(tiny_lora), 1.0),), scheduler="lcm", guidance=1.0, steps=4)
    final = run_job(engine, request, events.append, threading.Event())
    assert isinstance(final, JobFinished)
    assert [e.step for e in events if isinstance(e, StepPreview)] == [1, 2, 3, 4]
    _image(engine, _request(tiny_model_dir))


def test_a_lora_change_takes_offload_hooks_off_first(tiny_model_dir, tiny_lora):
    # Offload on the CPU moves nothing; it checks that adapters go into real, hook-free modules
    # and that the job then places the model by its own plan.
    from inference.hardware.memory import LADDER, NO_SAVINGS, use_memory_plan

    fresh = Engine(choose_device("cpu"))
    model = fresh.model(str(tiny_model_dir))
    use_memory_plan(model, LADDER[2], model.pipeline_for(Mode.TXT2IMG))
    assert hasattr(model.base.unet, "_hf_hook")
    _image(fresh, _request(tiny_model_dir, ((str(tiny_lora), 1.0),)))
    assert model.memory == NO_SAVINGS and not hasattr(model.base.unet, "_hf_hook")
    assert model.base.get_list_adapters()["unet"] == ["kiln_lora_0"]


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_lora_is_refused_by_content_and_the_engine_goes_on(engine, tiny_model_dir, tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "lora.safetensors"
    evil.write_bytes(pickle.dumps(_Payload(str(marker))))
    final = run_job(engine, _request(tiny_model_dir, ((str(evil), 1.0),), job_id=5), lambda _e: None, threading.Event())
    assert isinstance(final, JobFailed) and final.job_id == 5
    assert "pickle" in final.message and "lora.safetensors" in final.message
    assert not marker.exists()
    assert engine.model(str(tiny_model_dir)).base.get_list_adapters() == {}
    _image(engine, _request(tiny_model_dir))


def test_a_lora_for_another_model_is_refused_with_the_reason(engine, tiny_model_dir, tmp_path):
    from inference.models.tiny_model import _unet

    # Same block layout, but made for a text encoder of another width: the shapes do not fit.
    unet = _unet(4)
    wide = type(unet)(**{**unet.config, "cross_attention_dim": 32})
    wrong = save_unet_lora(wide, tmp_path)
    final = run_job(engine, _request(tiny_model_dir, ((str(wrong), 1.0),)), lambda _e: None, threading.Event())
    assert isinstance(final, JobFailed)
    assert "its layer sizes do not match this model's" in final.message and "model family" in final.message
    assert engine.model(str(tiny_model_dir)).base.get_list_adapters() == {}
    _image(engine, _request(tiny_model_dir))

    from safetensors.torch import save_file

    unrelated = tmp_path / "not-a-lora.safetensors"
    save_file({"something.else": torch.zeros(2, 2)}, str(unrelated))
    final = run_job(engine, _request(tiny_model_dir, ((str(unrelated), 1.0),)), lambda _e: None, threading.Event())
    assert isinstance(final, JobFailed) and "not-a-lora.safetensors" in final.message
    _image(engine, _request(tiny_model_dir))


@pytest.mark.parametrize(
    "loras, message",
    [
        ((("LORA", 2.5),), "the LoRA weight must be between -2 and 2, got 2.5"),
        ((("LORA", float("nan")),), "the LoRA weight must be between"),
        ((("missing.safetensors", 1.0),), "the LoRA file 'missing.safetensors' does not exist"),
        ((("LORA", 1.0), ("LORA", 0.5)), "is listed twice"),
        (("LORA",), "loras must be (path, weight) pairs"),
    ],
)
def test_lora_requests_say_what_to_fix(tiny_lora, loras, message):
    loras = tuple(tuple(str(tiny_lora) if x == "LORA" else x for x in pair) if isinstance(pair, tuple) else pair
                  for pair in loras)
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="p", loras=loras)


def test_a_request_owns_its_lora_pairs(tiny_lora):
    request = GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="p", loras=[[tiny_lora, "-1.5"]])
    assert request.loras == ((str(tiny_lora), -1.5),)
