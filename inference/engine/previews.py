"""Cheap per-step previews: the predicted clean latent through a linear latent→RGB map.

A VAE decode per step would cost about half the throughput; a 4×3 matrix on the latent costs
well under a millisecond and shows the picture's layout and colours as it forms.
"""

from __future__ import annotations

import numpy as np
import torch

# Rows: latent channels 0..3 → (R, G, B); output in [-1, 1]. Fitted for each family's VAE.
_LATENT_RGB = {
    "sd1": (
        [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]],
        [0.0, 0.0, 0.0],
    ),
    "sdxl": (
        [[0.3651, 0.4232, 0.4341], [-0.2533, -0.0042, 0.1068], [0.1076, 0.1111, -0.0362], [-0.3165, -0.2492, -0.2188]],
        [0.1084, -0.0175, -0.0011],
    ),
}
_LATENT_RGB["sd2"] = _LATENT_RGB["sd1"]  # SD2.x shares SD1.x's VAE


class LatentPreviewer:
    """Turns 1×4×h×w model-space latents into h×w×3 uint8 RGB for one model family."""

    def __init__(self, family: str):
        matrix, bias = _LATENT_RGB.get(family, _LATENT_RGB["sd1"])
        self._matrix = torch.tensor(matrix, dtype=torch.float32)
        self._bias = torch.tensor(bias, dtype=torch.float32)

    def to_rgb(self, latents: torch.Tensor) -> np.ndarray:
        """latents: 1×4×h×w on any device/dtype → h×w×3 uint8 (a fresh array, safe to keep)."""
        lat = latents[0].detach().to("cpu", torch.float32)  # 4×h×w, small: the copy is cheap
        rgb = torch.einsum("chw,cr->hwr", lat, self._matrix) + self._bias
        return ((rgb.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).numpy()


class X0Tap:
    """Keeps the scheduler's latest prediction of the clean latent (x0) for previews.

    Wraps ``scheduler.step`` on this one scheduler object. Schedulers that return
    ``pred_original_sample`` (DDIM, Euler, LCM…) give it directly; for the others (PNDM,
    DPM-Solver, UniPC) x0 is derived from the noise prediction with the schedule's
    alphas: x0 = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t (ε-prediction) or √ᾱ_t·x_t − √(1−ᾱ_t)·v.
    """

    def __init__(self, scheduler):
        self.x0: torch.Tensor | None = None
        self._scheduler = scheduler
        self._step = scheduler.step
        alphas = getattr(scheduler, "alphas_cumprod", None)
        self._alphas = alphas if getattr(scheduler, "init_noise_sigma", 1.0) == 1.0 else None
        self._prediction = scheduler.config.get("prediction_type", "epsilon")
        scheduler.step = self._tapped_step

    def _tapped_step(self, model_output, timestep, sample, *args, **kwargs):
        out = self._step(model_output, timestep, sample, *args, **kwargs)
        x0 = out[1] if isinstance(out, tuple) and len(out) > 1 else getattr(out, "pred_original_sample", None)
        if x0 is None:
            x0 = self._x0_from_alphas(model_output, timestep, sample)
        self.x0 = x0
        return out

    def _x0_from_alphas(self, model_output, timestep, sample) -> torch.Tensor | None:
        if self._alphas is None or self._prediction not in ("epsilon", "v_prediction"):
            return None
        t = int(timestep.item() if isinstance(timestep, torch.Tensor) else timestep)
        t = min(max(t, 0), len(self._alphas) - 1)
        a = self._alphas[t].to(sample.device, torch.float32)
        x, eps = sample.float(), model_output.float()
        if self._prediction == "epsilon":
            return (x - (1 - a).sqrt() * eps) / a.sqrt()
        return a.sqrt() * x - (1 - a).sqrt() * eps
