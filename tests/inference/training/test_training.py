"""Teaching the tiny model from a few photos: it learns (the denoising loss on the photos falls),
the LoRA file works in Kiln and in diffusers, a cancelled run resumes to the same weights, and
bad inputs get messages. CPU, offline, random weights."""

from __future__ import annotations

import errno
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inference.cli.generate import run_one_job
from inference.core.api import JobCancelled, JobFailed, Mode
from inference.core.training_requests import TrainingFinished, TrainingProgress, TrainingRequest, TrainingSample
from inference.engine.engine import Engine
from inference.hardware.devices import choose_device
from inference.models.loading import load_model
from inference.training.dataset import load_examples
from inference.training.jobs import run_training_job
from inference.training.lora_training import LoraTrainer

pytestmark = pytest.mark.usefixtures("one_torch_thread")
RED = (205, 40, 50)


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):  # one simple pattern: a red field, a little different each time
        rgb = np.zeros((80, 96, 3), np.uint8)
        rgb[...] = RED
        rgb[:, :, 1] += np.uint8(i * 5)
        Image.fromarray(rgb).save(folder / f"red{i}.png")
    return folder


def request(tiny_model_dir, photos, tmp_path, **changes) -> TrainingRequest:
    values = dict(job_id=0, model_ref=str(tiny_model_dir), images=(str(photos),), out=str(tmp_path / "red.safetensors"),
                  run_dir=str(tmp_path / "red.run"), steps=6, rank=4, lr=1e-2, resolution=64, seed=3,
                  warmup_steps=2, checkpoint_every=100)
    values.update(changes)
    return TrainingRequest(**values)


def train(req: TrainingRequest, cancel_after: int | None = None):
    """Run ``req`` as a job of the job runner; ``cancel_after``: Stop when that step is reported."""
    cancel, events = threading.Event(), []

    def on_event(event):
        events.append(event)
        if cancel_after is not None and isinstance(event, TrainingProgress) and event.step == cancel_after:
            cancel.set()

    engine = Engine(choose_device(precision="fp32"), budget_side_px=64)
    return run_one_job(engine, req, on_event, cancel, run=run_training_job), events


def denoising_error(trainer: LoraTrainer) -> float:
    """Noise-prediction error on the training photos at fixed timesteps and noise (the objective)."""
    generator = torch.Generator().manual_seed(123)
    latents, text = torch.cat(trainer.latents), torch.cat(trainer.captions)
    total = 0.0
    with torch.no_grad():
        for t in (100, 300, 500, 700, 900):
            noise = torch.randn(latents.shape, generator=generator)
            steps = torch.full((latents.shape[0],), t)
            noisy = trainer.noise_scheduler.add_noise(latents, noise, steps)
            total += float(((trainer.unet(noisy, steps, text).sample - noise) ** 2).mean())
    return total / 5


def picture(model, prompt="a photo of sks", seed=9) -> np.ndarray:
    pipe = model.pipeline_for(Mode.TXT2IMG)
    with torch.no_grad():
        return pipe(prompt, num_inference_steps=3, height=64, width=64, guidance_scale=1.0, output_type="np",
                    generator=torch.Generator().manual_seed(seed)).images[0]


def generated_latents(model, steps=10) -> torch.Tensor:
    """What the model generates from the trigger prompt, in its own latent space (where it learns:
    the tiny model's random VAE decodes most latents to much the same pixels)."""
    pipe = model.pipeline_for(Mode.TXT2IMG)
    with torch.no_grad():
        return pipe("a photo of sks", num_inference_steps=steps, height=64, width=64, guidance_scale=1.0,
                    output_type="latent", generator=torch.Generator().manual_seed(9)).images


def test_it_learns_the_photos(tiny_model_dir, photos, tmp_path):
    req = request(tiny_model_dir, photos, tmp_path, steps=80, rank=16, snr_gamma=0.0, warmup_steps=10)
    examples, notes = load_examples(list(req.images), 64, req.trigger, req.caption_template)
    assert len(examples) == 4 and notes == []
    trainer = LoraTrainer(load_model(req.model_ref, choose_device(precision="fp32"), memory=None), req, examples)
    photos_latents = torch.cat(trainer.latents)
    trainer.unet.disable_adapters()
    base_error, base_picture = denoising_error(trainer), picture(trainer.model)
    base_distance = float(((generated_latents(trainer.model) - photos_latents) ** 2).mean())
    trainer.unet.enable_adapters()
    losses = [trainer.train_step() for _ in range(req.steps)]
    taught_error, taught_picture = denoising_error(trainer), picture(trainer.model)
    taught_distance = float(((generated_latents(trainer.model) - photos_latents) ** 2).mean())
    target = np.asarray(RED, np.float32) / 255
    print(f"\ngenerated from the trigger, distance to the photos (latent MSE): base {base_distance:.3f}, "
          f"taught {taught_distance:.3f}; in pixels (mean |difference| to their colour): base "
          f"{np.abs(base_picture - target).mean():.4f}, taught {np.abs(taught_picture - target).mean():.4f}; "
          f"denoising error on the photos: base {base_error:.4f}, taught {taught_error:.4f}; "
          f"training loss first 20 steps {np.mean(losses[:20]):.4f}, last 20 {np.mean(losses[-20:]):.4f}")
    assert taught_distance < 0.98 * base_distance
    assert taught_error < base_error - 0.02
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.02


@pytest.mark.parametrize("text_encoder", [False, True])
def test_the_lora_file_works_in_kiln_and_in_diffusers(text_encoder, tiny_model_dir, photos, tmp_path):
    from safetensors import safe_open

    from inference.models.lora import apply_loras

    req = request(tiny_model_dir, photos, tmp_path, steps=4, sample_every=4, sample_prompt="a photo of sks",
                  train_text_encoder=text_encoder)
    final, events = train(req)
    assert isinstance(final, TrainingFinished), final
    assert [e.step for e in events if isinstance(e, TrainingProgress)] == [1, 2, 3, 4]
    samples = [e for e in events if isinstance(e, TrainingSample)]  # it forms step by step, then is shown whole
    assert [e.denoising for e in samples] == list(range(1, req.sample_steps + 1)) and samples[-1].final
    assert samples[0].rgb.shape == (8, 8, 3) and samples[-1].rgb.shape == (64, 64, 3)
    out = Path(final.path)
    with safe_open(out, "pt") as f:
        meta = f.metadata()
        prefixes = {key.split(".")[0] for key in f.keys()}
        assert prefixes == ({"unet", "text_encoder"} if text_encoder else {"unet"})
        learned = [f.get_tensor(k).abs().max() > 0 for k in f.keys() if "lora_B" in k]  # B starts at zero
        assert learned and all(learned)
    assert meta["kiln_trigger"] == "sks" and meta["kiln_rank"] == "4" and meta["kiln_images"] == "4"
    assert (Path(req.run_dir) / "samples" / "step_000004.png").is_file()
    assert (Path(req.run_dir) / "loss.csv").read_text().count("\n") == 5

    # In memory: the trained adapters; from the file: the same picture.
    examples, _ = load_examples(list(req.images), 64, req.trigger, req.caption_template)
    trainer = LoraTrainer(load_model(req.model_ref, choose_device(precision="fp32"), memory=None), req, examples)
    trainer.resume()  # the run's final checkpoint: the adapters the file was written from
    in_memory = picture(trainer.model)
    model = load_model(req.model_ref, choose_device(precision="fp32"))
    base = picture(model)
    apply_loras(model, ((str(out), 1.0),))
    assert np.abs(picture(model) - in_memory).max() < 1e-4
    assert np.abs(picture(model) - base).max() > 1e-3  # it changes the picture
    apply_loras(model, ((str(out), 0.0),))
    assert np.array_equal(picture(model), base)  # weight 0: the base model exactly

    fresh = load_model(req.model_ref, choose_device(precision="fp32"))
    fresh.base.load_lora_weights(str(out))  # diffusers' own loader reads it
    assert np.abs(picture(fresh) - in_memory).max() < 1e-4


def test_a_cancelled_run_resumes_to_the_weights_of_an_uninterrupted_one(tiny_model_dir, photos, tmp_path):
    from safetensors.torch import load_file

    whole, _ = train(request(tiny_model_dir, photos, tmp_path / "a", steps=8))
    assert isinstance(whole, TrainingFinished)
    req = request(tiny_model_dir, photos, tmp_path / "b", steps=8, checkpoint_every=2)
    stopped, events = train(req, cancel_after=5)
    # Stop pressed when step 5 was reported: the step running then is the last one.
    assert isinstance(stopped, JobCancelled) and stopped.step in (5, 6)
    assert max(e.step for e in events if isinstance(e, TrainingProgress)) == stopped.step
    assert not Path(req.out).exists()
    resumed, events = train(request(tiny_model_dir, photos, tmp_path / "b", steps=8, checkpoint_every=2, resume=True))
    assert isinstance(resumed, TrainingFinished), resumed
    assert [e.step for e in events if isinstance(e, TrainingProgress)] == list(range(stopped.step + 1, 9))
    a, b = load_file(whole.path), load_file(resumed.path)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    again, _ = train(request(tiny_model_dir, photos, tmp_path / "c", steps=8))
    assert all(torch.equal(a[k], v) for k, v in load_file(again.path).items())  # same seed, same weights


def test_a_full_disk_at_a_checkpoint_keeps_the_previous_one(tiny_model_dir, photos, tmp_path, monkeypatch):
    req = request(tiny_model_dir, photos, tmp_path, steps=6, checkpoint_every=2)
    original, calls = torch.save, []

    def full_disk(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint, after step 4
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    final, _ = train(req)
    assert isinstance(final, JobFailed) and "previous checkpoint is kept" in final.message, final
    state = json.loads((Path(req.run_dir) / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2 and len(state["losses"]) == 2
    assert not any(p.name.startswith(".checkpoint") for p in Path(req.run_dir).iterdir())
    assert not Path(req.out).exists()


@pytest.mark.parametrize("case", ["empty", "tiny-and-broken", "output-is-a-photo", "pickle-model"])
def test_bad_inputs_get_a_message_and_change_nothing(case, tiny_model_dir, photos, tmp_path, capsys):
    import main

    folder, model, out, also = photos, str(tiny_model_dir), tmp_path / "lora.safetensors", ""
    if case == "empty":
        folder = tmp_path / "nothing"
        folder.mkdir()
        expected = "No photos found"
    elif case == "tiny-and-broken":
        folder = tmp_path / "bad"
        folder.mkdir()
        Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(folder / "small.png")
        (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
        expected = "Nothing to learn from: broken.jpg: skipped, it cannot be read"
        also = "small.png: skipped, 50×40 px is under 64 px a side."
    elif case == "output-is-a-photo":
        out = photos / "red0.png"
        expected = "is one of the training photos"
    else:
        import pickle

        marker = tmp_path / "payload-ran"

        class Payload:
            def __reduce__(self):
                import os

                return os.system, (f"touch {marker}",)

        model = str(tmp_path / "evil.safetensors")
        Path(model).write_bytes(pickle.dumps({"state_dict": Payload()}))
        expected = "pickle"
    before = sorted(p.name for p in Path(folder).iterdir())
    code = main.main(["train-lora", "--model", model, "--images", str(folder), "--out", str(out), "--steps", "2",
                      "--resolution", "64", "--rank", "4"])
    err = capsys.readouterr().err
    assert code == 1 and expected in err and also in err, err
    assert sorted(p.name for p in Path(folder).iterdir()) == before
    if case == "pickle-model":
        assert not (tmp_path / "payload-ran").exists()
    if case != "output-is-a-photo":
        assert not out.exists()


@pytest.mark.parametrize("family", ["sd2", "sdxl"])
def test_sd2_and_sdxl_models_are_taught_too(family, photos, tmp_path):
    from inference.models.lora import apply_loras
    from inference.models.tiny_families import make_tiny_family_model

    model_dir = make_tiny_family_model(tmp_path / family, family)
    final, events = train(request(model_dir, photos, tmp_path, steps=3))
    assert isinstance(final, TrainingFinished), final
    assert all(np.isfinite(e.loss) for e in events if isinstance(e, TrainingProgress))
    model = load_model(str(model_dir), choose_device(precision="fp32"))
    base = picture(model)
    apply_loras(model, ((final.path, 1.0),))
    assert np.abs(picture(model) - base).max() > 1e-4
    apply_loras(model, ((final.path, 0.0),))
    assert np.array_equal(picture(model), base)


def test_out_of_memory_goes_on_with_one_photo_per_step_and_says_so(tiny_model_dir, photos, tmp_path, monkeypatch):
    from diffusers import UNet2DConditionModel

    from inference.core.api import JobNotice

    forward, batches = UNet2DConditionModel.forward, []

    def tight_memory(self, sample, *args, **kwargs):
        batches.append(sample.shape[0])
        if sample.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(self, sample, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", tight_memory)
    final, events = train(request(tiny_model_dir, photos, tmp_path, steps=3, batch=2))
    assert isinstance(final, TrainingFinished), final
    notices = [e.message for e in events if isinstance(e, JobNotice)]
    assert len(notices) == 1 and "one photo per step" in notices[0]
    assert batches[0] == 2 and set(batches[1:]) == {1}


def test_the_kohya_layout_gives_the_same_picture(tiny_model_dir, photos, tmp_path):
    from safetensors import safe_open

    from inference.models.lora import apply_loras

    files = {}
    for layout in ("diffusers", "kohya"):
        final, _ = train(request(tiny_model_dir, photos, tmp_path / layout, steps=3, train_text_encoder=True,
                                 layout=layout))
        assert isinstance(final, TrainingFinished), final
        files[layout] = final.path
    with safe_open(files["kohya"], "pt") as f:
        keys = set(f.keys())
    assert {k.split("_")[1] for k in keys} == {"unet", "te"} and all(k.startswith("lora_") for k in keys)
    assert any(k.endswith(".alpha") for k in keys) and any(k.endswith(".lora_down.weight") for k in keys)
    model = load_model(str(tiny_model_dir), choose_device(precision="fp32"))
    base = picture(model)
    pictures = {}
    for layout, path in files.items():
        apply_loras(model, ((path, 1.0),))
        pictures[layout] = picture(model)
    assert np.abs(pictures["kohya"] - pictures["diffusers"]).max() < 1e-4
    assert np.abs(pictures["kohya"] - base).max() > 1e-4
