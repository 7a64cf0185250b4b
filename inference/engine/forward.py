"""The forward-diffusion view: the current picture noised to the level a strength starts from.

Image-to-image at strength s does not "change s of the picture": it noises the picture's latents
to the timestep the model's own scheduler starts from at that strength, then denoises. This
module shows that starting point. The noising is the variance-preserving one every Stable
Diffusion scheduler is trained with, x_t = √ᾱ_t · x_0 + √(1 − ᾱ_t) · ε, read from the model's
own ``alphas_cumprod`` (Euler-style schedulers write the same state as x_0 + σ·ε and divide by
√(σ² + 1) before the UNet: the same picture). Strength 0 is the picture itself, untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from inference.restore.regions import image_size


@dataclass(frozen=True)
class ForwardView:
    """rgb: h×w×3 uint8 (at most the model's pixel budget; the picture's aspect).
    timestep: the scheduler timestep shown (0 … num_train_timesteps − 1; None for strength 0).
    noise_fraction: √(1 − ᾱ_t), how much of the state is noise (0 … 1)."""

    rgb: np.ndarray
    timestep: int | None
    noise_fraction: float


def start_timestep(scheduler, steps: int, strength: float) -> int | None:
    """The timestep image-to-image starts denoising from with ``steps`` and ``strength`` on
    ``scheduler`` (a configured diffusers scheduler; its timesteps are set here), exactly as the
    diffusers img2img pipelines choose it; None when no step would run (strength × steps < 1)."""
    scheduler.set_timesteps(steps)
    init_steps = min(int(steps * strength), steps)
    if init_steps == 0:
        return None
    t_start = max(steps - init_steps, 0)
    return int(scheduler.timesteps[t_start * scheduler.order])


def noised_latents(latents: torch.Tensor, alphas_cumprod: torch.Tensor, timestep: int, generator: torch.Generator) -> torch.Tensor:
    """x_t = √ᾱ_t · latents + √(1 − ᾱ_t) · ε with ε ~ N(0, I) from ``generator`` (on the CPU, so a
    seed gives the same noise on every device). ``latents``: 1×4×h×w, already scaled."""
    noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(latents.device, latents.dtype)
    alpha_bar = float(alphas_cumprod[timestep])
    return alpha_bar**0.5 * latents + (1 - alpha_bar) ** 0.5 * noise


@torch.no_grad()
def forward_view(pipe, image: np.ndarray, strength: float, steps: int, seed: int, budget_side: int,
                 scheduler=None) -> ForwardView:
    """``image`` (H×W×3 uint8) as img2img with ``strength`` and ``steps`` on ``pipe`` (a loaded
    diffusers pipeline: its VAE and scheduler) starts it: encoded, noised, decoded.

    scheduler: a fresh configured scheduler whose timesteps choose the level (the one the job
    would run with); ``None``: a new one of ``pipe``'s own class. Its timesteps are set here.
    The picture is scaled to at most ``budget_side``² px first (this is a view, not a result).
    Strength 0 (or strength × steps < 1) returns the picture itself.
    """
    if scheduler is None:
        scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    timestep = start_timestep(scheduler, steps, strength)
    height, width = image.shape[:2]
    size = image_size(width, height, budget_side)
    picture = Image.fromarray(image)
    if picture.size != size:
        picture = picture.resize(size, Image.LANCZOS)
    if timestep is None:
        return ForwardView(np.array(picture), None, 0.0)
    vae = pipe.vae
    # Where the VAE runs: with offloading its weights wait elsewhere until a hook moves them.
    device, dtype = pipe._execution_device, vae.dtype
    pixels = torch.from_numpy(np.array(picture)).permute(2, 0, 1)[None].to(device, torch.float32) / 127.5 - 1
    scaling = vae.config.scaling_factor
    latents = vae.encode(pixels.to(dtype)).latent_dist.mean * scaling
    alphas = scheduler.alphas_cumprod
    noised = noised_latents(latents, alphas, timestep, torch.Generator("cpu").manual_seed(seed))
    decoded = vae.decode(noised / scaling).sample
    rgb = ((decoded[0].float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return ForwardView(rgb, timestep, float((1 - alphas[timestep]) ** 0.5))
