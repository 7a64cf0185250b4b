"""Training the denoiser: LoRA adapters on the UNet learn to predict the noise added to the user's
photos (the third stage of a diffusion model, after noising and denoising).

Each step: a batch from one shape bucket; its latents (encoded once, cached) noised at random
timesteps with the model's own training schedule (``DDPMScheduler`` from its config); the UNet,
with its frozen weights and trainable adapters on the attention projections (peft), predicts the
noise (or v for v-prediction models); the loss is the mean squared error, optionally min-SNR
weighted; AdamW with a linear learning-rate warm-up. Text embeddings are encoded once too (the
text encoder is frozen; SDXL's two encoders and pooled embedding, and its size conditioning,
likewise). All randomness comes from one generator seeded by the request and kept
in every checkpoint, so the same seed and photos give the same weights, and a resumed run
continues exactly. The frozen weights keep the device's precision; the adapters train in fp32.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from inference.core.api import JobCancelled, JobNotice
from inference.core.training_requests import TrainingProgress, TrainingRequest
from inference.training.checkpoints import Checkpoint, read_checkpoint, write_checkpoint
from inference.training.dataset import Example

ADAPTER = "kiln_train"
TARGET_MODULES = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2"]
TEXT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "out_proj"]  # the text encoders' attention


class LoraTrainer:
    """One training run of ``request`` on ``model`` (a ``LoadedModel`` of its own: the adapters
    stay in its UNet, and with ``train_text_encoder`` in its text encoders) from ``examples``."""

    def __init__(self, model, request: TrainingRequest, examples: list[Example]):
        from diffusers import DDPMScheduler
        from peft import LoraConfig, inject_adapter_in_model

        self.request, self.model = request, model
        pipe = model.base
        self.pipe, self.unet, self.vae = pipe, pipe.unet, pipe.vae
        self.sdxl = model.family == "sdxl"
        encoders = [pipe.text_encoder] + ([pipe.text_encoder_2] if self.sdxl else [])
        self.device, self.dtype = torch.device(model.plan.device), model.plan.dtype
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        for module in (self.unet, self.vae, *encoders):
            module.to(self.device).requires_grad_(False)
        torch.manual_seed(request.seed)  # the adapters' initial weights
        # What learns, by the key prefix its weights carry in the LoRA file.
        self.adapted = {"unet": self.unet}
        if request.train_text_encoder:
            self.adapted.update(zip(["text_encoder", "text_encoder_2"], encoders))
        for name, module in self.adapted.items():
            targets = TARGET_MODULES if name == "unet" else TEXT_TARGET_MODULES
            config = LoraConfig(r=request.rank, lora_alpha=request.rank, init_lora_weights="gaussian",
                                target_modules=targets)
            if name == "unet":
                module.add_adapter(config, adapter_name=ADAPTER)
            else:  # peft itself, as diffusers loads text-encoder LoRAs (transformers' wrapper wants a newer peft)
                inject_adapter_in_model(config, module, adapter_name=ADAPTER)
        if self.device.type == "cuda":
            self.unet.enable_gradient_checkpointing()  # activations recomputed: less memory
        self.params = [p for m in self.adapted.values() for p in m.parameters() if p.requires_grad]
        for param in self.params:
            param.data = param.data.float()
        self.optimizer = torch.optim.AdamW(self.params, lr=request.lr, weight_decay=1e-2)
        self.generator = torch.Generator().manual_seed(request.seed)
        self.step, self.losses, self.batch = 0, [], request.batch
        self._cache(examples)
        self.identity = {"model": request.model_ref, "images": sorted(str(e.path) for e in examples),
                         "rank": request.rank, "resolution": request.resolution, "seed": request.seed,
                         "batch": request.batch, "lr": request.lr, "trigger": request.trigger,
                         "text_encoder": request.train_text_encoder}

    # --- the data, encoded once ---------------------------------------------------------------

    @torch.no_grad()
    def _cache(self, examples: list[Example]) -> None:
        """Latents (and their mirror images with ``flip``) and one text embedding per caption
        (for SDXL also its pooled embedding and the size conditioning of its bucket)."""
        scale = self.vae.config.scaling_factor
        self.latents, self.flipped, self.captions, self.pooled, self.time_ids, self.buckets = [], [], [], [], [], {}
        embeddings: dict[str, tuple] = {}
        for index, example in enumerate(examples):
            pixels = torch.from_numpy(np.array(example.rgb)).permute(2, 0, 1)[None].float() / 127.5 - 1
            pixels = pixels.to(self.device, self.vae.dtype)
            self.latents.append(self.vae.encode(pixels).latent_dist.mean.float().cpu() * scale)
            if self.request.flip:
                self.flipped.append(self.vae.encode(pixels.flip(-1)).latent_dist.mean.float().cpu() * scale)
            if example.caption not in embeddings:  # the pipeline's own encoding, as at generation
                encoded = self.pipe.encode_prompt(prompt=example.caption, device=self.device, num_images_per_prompt=1,
                                                  do_classifier_free_guidance=False)
                embeddings[example.caption] = (encoded[0].float().cpu(),
                                               encoded[2].float().cpu() if self.sdxl else None)
            text, pooled = embeddings[example.caption]
            self.captions.append(example.caption if self.request.train_text_encoder else text)
            if self.sdxl:  # original size, crop corner, target size: the bucket, uncropped
                height, width = example.rgb.shape[:2]
                self.pooled.append(pooled)
                self.time_ids.append(torch.tensor([[height, width, 0, 0, height, width]], dtype=torch.float32))
            self.buckets.setdefault(tuple(self.latents[-1].shape), []).append(index)

    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, dict | None]:
        """Latents, text embeddings and (SDXL) added conditions of one batch: a random photo and
        others of its shape."""
        g, n = self.generator, len(self.latents)
        first = int(torch.randint(n, (1,), generator=g))
        same = self.buckets[tuple(self.latents[first].shape)]
        picks = [first] + [same[int(i)] for i in torch.randint(len(same), (self.batch - 1,), generator=g)]
        flips = torch.rand(len(picks), generator=g) < 0.5 if self.request.flip else [False] * len(picks)
        latents = torch.cat([(self.flipped if flip else self.latents)[i] for i, flip in zip(picks, flips)])
        added = None
        if self.sdxl:
            added = {"text_embeds": torch.cat([self.pooled[i] for i in picks]),
                     "time_ids": torch.cat([self.time_ids[i] for i in picks])}
        if self.request.train_text_encoder:  # encoded in the step, through the learning encoders
            encoded = self.pipe.encode_prompt(prompt=[self.captions[i] for i in picks], device=self.device,
                                              num_images_per_prompt=1, do_classifier_free_guidance=False)
            if self.sdxl:
                added["text_embeds"] = encoded[2]
            return latents, encoded[0], added
        return latents, torch.cat([self.captions[i] for i in picks]), added

    # --- training -----------------------------------------------------------------------------

    def train_step(self) -> float:
        """One optimisation step; returns its loss."""
        request, scheduler, g = self.request, self.noise_scheduler, self.generator
        latents, text, added = self._batch()
        noise = torch.randn(latents.shape, generator=g)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=g)
        noisy = scheduler.add_noise(latents, noise, timesteps)
        v_prediction = scheduler.config.prediction_type == "v_prediction"
        target = scheduler.get_velocity(latents, noise, timesteps) if v_prediction else noise
        for module in self.adapted.values():
            module.train()
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=self.device.type == "cuda"):
            if added is not None:
                added = {name: value.to(self.device, self.dtype) for name, value in added.items()}
            predicted = self.unet(noisy.to(self.device, self.dtype), timesteps.to(self.device),
                                  text.to(self.device, self.dtype), added_cond_kwargs=added).sample.float()
        per_item = ((predicted - target.to(self.device)) ** 2).mean(dim=(1, 2, 3))
        if request.snr_gamma > 0:
            snr = _snr(scheduler, timesteps).to(self.device)
            weight = torch.clamp(snr, max=request.snr_gamma) / (snr + 1 if v_prediction else snr)
            per_item = per_item * weight
        loss = per_item.mean()
        for group in self.optimizer.param_groups:  # a linear warm-up, then constant
            group["lr"] = request.lr * min(1.0, (self.step + 1) / max(1, request.warmup_steps))
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        value = loss.item()
        self.losses.append(value)
        return value

    def run(self, emit, cancel, on_sample=None) -> JobCancelled | None:
        """Train to ``request.steps``, emitting ``TrainingProgress`` per step: a checkpoint every
        ``checkpoint_every`` steps, and on cancel (checked before each step), which returns
        ``JobCancelled`` for the caller to emit; ``on_sample(step)`` every ``sample_every`` steps."""
        request, started = self.request, time.perf_counter()
        while self.step < request.steps:
            if cancel.is_set():
                self.save_checkpoint()
                return JobCancelled(request.job_id, self.step)
            loss = self._step_or_lighten(emit)
            emit(TrainingProgress(request.job_id, self.step, request.steps, loss, time.perf_counter() - started))
            if self.step % request.checkpoint_every == 0 and self.step < request.steps:
                self.save_checkpoint()
            if on_sample is not None and request.sample_every and self.step % request.sample_every == 0:
                on_sample(self.step)
        return None

    def _step_or_lighten(self, emit) -> float:
        """One step; out of memory once, the batch becomes 1 (gradient checkpointing is on
        already on a GPU) and the step is tried again, and the user is told."""
        try:
            return self.train_step()
        except torch.OutOfMemoryError:
            if self.batch == 1:
                raise
            self.optimizer.zero_grad(set_to_none=True)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
            self.batch = 1
            emit(JobNotice(self.request.job_id, "The GPU ran out of memory: teaching goes on with one photo per "
                                                "step (slower, and not bit-identical to a run with the batch asked)."))
            return self.train_step()

    # --- checkpoints and the adapter weights ----------------------------------------------------

    def adapter_state(self) -> dict:
        """Every adapter weight, named as in the LoRA file (``unet.…``, ``text_encoder.…``)."""
        from peft.utils import get_peft_model_state_dict

        return {f"{prefix}.{name}": value for prefix, module in self.adapted.items()
                for name, value in get_peft_model_state_dict(module, adapter_name=ADAPTER).items()}

    def save_checkpoint(self) -> None:
        write_checkpoint(Path(self.request.run_dir), Checkpoint(
            self.step, self.adapter_state(), self.optimizer.state_dict(), self.generator.get_state(),
            self.losses, self.identity))

    def resume(self) -> None:
        """Continue from the run directory's checkpoint (``InvalidRequest`` if it is of another run)."""
        from peft.utils import set_peft_model_state_dict

        checkpoint = read_checkpoint(Path(self.request.run_dir), self.identity)
        for prefix, module in self.adapted.items():
            own = {k[len(prefix) + 1:]: v.to(self.device) for k, v in checkpoint.adapter.items()
                   if k.startswith(prefix + ".")}
            set_peft_model_state_dict(module, own, adapter_name=ADAPTER)
        for param in self.params:
            param.data = param.data.float()
        self.optimizer.load_state_dict(checkpoint.optimizer)
        self.generator.set_state(checkpoint.rng_state)
        self.step, self.losses = checkpoint.step, list(checkpoint.losses)


def _snr(scheduler, timesteps: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio α²/σ² of ``timesteps`` in the training schedule."""
    alphas = scheduler.alphas_cumprod[timesteps].float()
    return alphas / (1 - alphas)
