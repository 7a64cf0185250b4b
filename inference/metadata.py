"""Generation parameters as the A1111-compatible ``parameters`` text other tools read and write.

Format (three lines, the second only with a negative prompt)::

    a prompt
    Negative prompt: a negative prompt
    Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: name, Denoising strength: 0.75
"""

from __future__ import annotations

import re

from inference.api import GenerationRequest, Mode

# Kiln scheduler names ↔ the sampler names A1111-style tools write.
_SAMPLER_NAMES = {
    "ddim": "DDIM",
    "pndm": "PLMS",
    "euler": "Euler",
    "euler_a": "Euler a",
    "heun": "Heun",
    "dpm++_2m": "DPM++ 2M",
    "dpm++_2m_karras": "DPM++ 2M Karras",
    "dpm++_sde_karras": "DPM++ SDE Karras",
    "unipc": "UniPC",
    "lcm": "LCM",
    "default": "Default",
}
_SCHEDULERS_BY_SAMPLER = {v.lower(): k for k, v in _SAMPLER_NAMES.items()}
_FIELD = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^"])*"|[^,]*)(?:,|$)')


def format_parameters(request: GenerationRequest, model_name: str) -> str:
    """The ``parameters`` text for an image made by ``request`` with model ``model_name``."""
    fields = [
        f"Steps: {request.steps}",
        f"Sampler: {_SAMPLER_NAMES.get(request.scheduler, request.scheduler)}",
        f"CFG scale: {request.guidance:g}",
        f"Seed: {request.seed}",
        f"Size: {request.width_px}x{request.height_px}",
        f"Model: {model_name.replace(',', ' ')}",
    ]
    if request.mode is not Mode.TXT2IMG:
        fields.append(f"Denoising strength: {request.strength:g}")
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    lines.append(", ".join(fields))
    return "\n".join(lines)


def parse_parameters(text: str) -> dict:
    """Read a ``parameters`` text (Kiln's or another tool's) into request fields.

    Returns a dict with any of: prompt, negative_prompt, steps, guidance, seed, scheduler,
    width_px, height_px, strength, model. Unknown fields are ignored; never raises.
    """
    lines = text.strip().splitlines()
    if not lines:
        return {}
    last = lines[-1]
    fields = dict(_FIELD.findall(last)) if "Steps:" in last else {}
    body = lines[:-1] if fields else lines
    prompt, negative = [], []
    target = prompt
    for line in body:
        if line.startswith("Negative prompt:"):
            target = negative
            line = line[len("Negative prompt:"):].strip()
        target.append(line)
    out: dict = {"prompt": "\n".join(prompt).strip()}
    if negative:
        out["negative_prompt"] = "\n".join(negative).strip()
    fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
    converters = {
        "Steps": ("steps", int),
        "CFG scale": ("guidance", float),
        "Seed": ("seed", int),
        "Denoising strength": ("strength", float),
        "Model": ("model", str),
    }
    for key, (name, convert) in converters.items():
        try:
            if key in fields:
                out[name] = convert(fields[key])
        except ValueError:
            pass
    if "Sampler" in fields:
        scheduler = _SCHEDULERS_BY_SAMPLER.get(fields["Sampler"].lower())
        if scheduler:
            out["scheduler"] = scheduler
    size = re.fullmatch(r"(\d+)x(\d+)", fields.get("Size", ""))
    if size:
        out["width_px"], out["height_px"] = int(size.group(1)), int(size.group(2))
    return out
