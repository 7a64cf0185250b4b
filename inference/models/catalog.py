"""Models Kiln recommends, grouped by what they are for.

Plain data, no network and no heavy imports: the model manager lists these before anything is
downloaded. ``download_size_bytes`` is what Kiln fetches (the fp16 safetensors variant where the
repo has one, the diffusers component folders only, no pickles, no single-file duplicates), as
listed on the hub when this table was written: informational, rounded to the megabyte. The exact
total comes from the hub's file list when a download starts.
"""

from __future__ import annotations

from dataclasses import dataclass

# Purpose keys, in the order the model manager shows them, with their headings.
PURPOSES: tuple[tuple[str, str], ...] = (
    ("restoration", "Photo restoration"),
    ("general", "General"),
    ("fast", "Fast and live"),
)


@dataclass(frozen=True)
class CatalogEntry:
    """One recommended hub repository.

    kind: "model" (a diffusers pipeline Kiln loads by its repo id) or "lora" (a small adapter
    applied on top of a base model, ``base`` names which). purpose: a key of ``PURPOSES``.
    """

    repo_id: str
    name: str
    purpose: str
    description: str
    download_size_bytes: int
    license_name: str
    kind: str = "model"
    base: str = ""


CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry(
        repo_id="stable-diffusion-v1-5/stable-diffusion-inpainting",
        name="Stable Diffusion 1.5 Inpainting",
        purpose="restoration",
        description="Fills scratches, tears and missing areas so they match the rest of the photo.",
        download_size_bytes=2_742_000_000,
        license_name="CreativeML OpenRAIL-M",
    ),
    CatalogEntry(
        repo_id="stable-diffusion-v1-5/stable-diffusion-v1-5",
        name="Stable Diffusion 1.5",
        purpose="general",
        description="The all-round 512 px model: text to image, sketches and retouching; runs on modest GPUs.",
        download_size_bytes=2_742_000_000,
        license_name="CreativeML OpenRAIL-M",
    ),
    CatalogEntry(
        repo_id="stabilityai/stable-diffusion-xl-base-1.0",
        name="Stable Diffusion XL 1.0",
        purpose="general",
        description="Higher quality at 1024 px; needs about 8 GB of GPU memory.",
        download_size_bytes=6_938_000_000,
        license_name="CreativeML Open RAIL++-M",
    ),
    CatalogEntry(
        repo_id="stabilityai/sd-turbo",
        name="SD-Turbo",
        purpose="fast",
        description="One to four steps per image at 512 px, fast enough to follow your brush live.",
        download_size_bytes=2_580_000_000,
        license_name="Stability AI Community License",
    ),
    CatalogEntry(
        repo_id="latent-consistency/lcm-lora-sdv1-5",
        name="LCM-LoRA for SD 1.5",
        purpose="fast",
        description="Makes any SD 1.5 model draw in four to eight steps; a small add-on, not a model of its own.",
        download_size_bytes=135_000_000,
        license_name="CreativeML Open RAIL++-M",
        kind="lora",
        base="stable-diffusion-v1-5/stable-diffusion-v1-5",
    ),
)


def entries_for(purpose: str) -> list[CatalogEntry]:
    """The catalog entries for one purpose key, in catalog order."""
    return [entry for entry in CATALOG if entry.purpose == purpose]


def find_entry(repo_id: str) -> CatalogEntry | None:
    """The catalog entry for ``repo_id``, or ``None`` when it is not a recommended model."""
    return next((entry for entry in CATALOG if entry.repo_id == repo_id), None)
