"""Generation parameters as the A1111-compatible ``parameters`` text other tools read and write.

Format (three lines, the second only with a negative prompt)::

    a prompt
    Negative prompt: a negative prompt
    Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: name, Denoising strength: 0.75
"""

from __future__ import annotations

import re

from inference.core.api import GenerationRequest, Mode

MAX_PROMPT_CHARS = 8_000  # far beyond what a text encoder reads (77 tokens a chunk), yet quick in a text field
MAX_PARAMETERS_CHARS = 20_000  # a whole ``parameters`` text: two prompts and the settings line
# Control characters other than tab and newline mean nothing in a prompt and can upset widgets.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff]")

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


def clean_text(text: str, max_chars: int) -> str:
    """``text`` as widgets may show it: carriage returns as newlines, other control characters
    removed, cut to ``max_chars`` (with "…" at the end when cut). Text read from files goes
    through this before it reaches a widget: setting a very long text in a field is slow."""
    text = _CONTROL.sub("", str(text).replace("\r\n", "\n").replace("\r", "\n"))
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


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
    width_px, height_px, strength, model. Unknown fields are ignored; never raises. Prompts are
    cut to ``MAX_PROMPT_CHARS`` and cleaned (``clean_text``), the settings line to 2,000
    characters (its pattern must not meet a megabyte of text).
    """
    lines = str(text).strip().splitlines()
    if not lines:
        return {}
    last = clean_text(lines[-1], 2_000)
    fields = dict(_FIELD.findall(last)) if "Steps:" in last else {}
    body = lines[:-1] if fields else lines
    prompt, negative = [], []
    target = prompt
    for line in body[:MAX_PROMPT_CHARS]:  # a line has at least one character: enough lines for a full prompt
        if line.startswith("Negative prompt:"):
            target = negative
            line = line[len("Negative prompt:"):].strip()
        target.append(line)
    out: dict = {"prompt": clean_text("\n".join(prompt).strip(), MAX_PROMPT_CHARS)}
    if negative:
        out["negative_prompt"] = clean_text("\n".join(negative).strip(), MAX_PROMPT_CHARS)
    fields = {k.strip(): v.strip().strip('"') for k, v in fields.items()}
    converters = {
        "Steps": ("steps", int),
        "CFG scale": ("guidance", float),
        "Seed": ("seed", int),
        "Denoising strength": ("strength", float),
        "Model": ("model", lambda v: clean_text(v, 500)),
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
