"""What is in the Hugging Face cache, without any network: complete and partial downloads,
models other tools fetched, LoRA files. The cache is huggingface_hub's own (``HF_HOME`` /
``HF_HUB_CACHE``); downloads into it are in ``inference.models.downloads``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants, scan_cache_dir
from huggingface_hub.errors import CacheNotFound
from huggingface_hub.file_download import repo_folder_name

_SHARD = re.compile(r"-\d{5}-of-\d{5}$")
_WEIGHTLESS_COMPONENT = re.compile(r"Scheduler|Tokenizer|FeatureExtractor|ImageProcessor|Processor")


def weight_variant(name: str) -> str | None:
    """"fp16" for "model.fp16.safetensors" or "model.fp16-00001-of-00002.safetensors", None for
    "diffusion_pytorch_model.safetensors"."""
    stem = _SHARD.sub("", name[: -len(".safetensors")])
    return stem.split(".", 1)[1] if "." in stem else None


@dataclass(frozen=True)
class CachedModel:
    """A diffusers model complete in the Hugging Face cache."""

    repo_id: str
    commit: str
    snapshot_path: Path
    size_on_disk_bytes: int


def cache_location(cache_dir: str | Path | None = None) -> Path:
    """Where hub models live: ``cache_dir``, else ``HF_HUB_CACHE`` (default ``$HF_HOME/hub``)."""
    return Path(cache_dir or constants.HF_HUB_CACHE).expanduser()


def snapshot_path(repo_id: str, revision: str = "main", cache_dir: str | Path | None = None) -> Path | None:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (a branch, tag or commit), or None."""
    storage = cache_location(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model")
    ref = storage / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    folder = storage / "snapshots" / commit
    return folder if folder.is_dir() else None


def download_state(repo_id: str, revision: str = "main", cache_dir: str | Path | None = None) -> str:
    """"complete", "partial" (something was fetched, not all of it) or "absent"."""
    folder = snapshot_path(repo_id, revision, cache_dir)
    if folder is not None and snapshot_is_complete(folder):
        return "complete"
    storage = cache_location(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model")
    blobs = storage / "blobs"
    return "partial" if blobs.is_dir() and any(blobs.iterdir()) else "absent"


def is_downloaded(repo_id: str, revision: str = "main", cache_dir: str | Path | None = None) -> bool:
    """Whether ``repo_id`` is complete in the cache, enough for Kiln to load it offline."""
    return download_state(repo_id, revision, cache_dir) == "complete"


def snapshot_is_complete(folder: Path) -> bool:
    """Whether a snapshot (or any diffusers folder) holds everything a pipeline loads.

    A diffusers folder: each component in model_index.json has its config and, unless it is a
    scheduler, tokenizer or processor, a complete set of safetensors weights (every shard of a
    sharded set). A LoRA/single-file repo: a top-level .safetensors file. Works for snapshots
    that other tools downloaded, not only Kiln's.
    """
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        return any(p.is_file() for p in folder.glob("*.safetensors"))
    try:
        model_index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    for name, value in model_index.items():
        if name.startswith("_") or not isinstance(value, list) or len(value) != 2 or None in value:
            continue
        component = folder / name
        if not any(p.is_file() for p in component.glob("*.json")) and not any(component.glob("*.model")):
            return False
        if not _WEIGHTLESS_COMPONENT.search(value[1]) and not _has_complete_weights(component):
            return False
    return True


def _has_complete_weights(component: Path) -> bool:
    weights = [p for p in component.glob("*.safetensors") if p.is_file()]  # is_file: a dangling link is not there
    if any(not _SHARD.search(p.name[: -len(".safetensors")]) for p in weights):
        return True
    present = {p.name for p in weights}
    for index in component.glob("*.safetensors.index*.json"):
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, AttributeError):
            continue
        if shards and shards <= present:
            return True
    return False


def cached_lora_file(repo_id: str, revision: str = "main", cache_dir: str | Path | None = None) -> Path | None:
    """The .safetensors file of a LoRA repo in the cache (what ``GenerationRequest.loras`` takes),
    or None when it is not downloaded. A repo with several takes the one diffusers loads by default."""
    folder = snapshot_path(repo_id, revision, cache_dir)
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file()) if folder is not None else []
    default = [p for p in files if p.name == "pytorch_lora_weights.safetensors"]
    return (default or files or [None])[0]


def weights_variant(folder: Path) -> str | None:
    """"fp16" when a diffusers folder's weights are the fp16 variant only, else None.

    ``DiffusionPipeline.from_pretrained`` must be given this as ``variant=``: without it, it looks
    for the plain file names and fails on a download that holds only ``*.fp16.safetensors``.
    """
    names = [p.name for p in Path(folder).glob("*/*.safetensors")]
    variants = {weight_variant(n) for n in names}
    return "fp16" if "fp16" in variants and None not in variants else None


def cached_models(cache_dir: str | Path | None = None) -> list[CachedModel]:
    """Diffusers models complete in the cache, by repo id (whoever downloaded them). No network."""
    try:
        info = scan_cache_dir(cache_location(cache_dir))
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        revisions = sorted(repo.revisions, key=lambda r: ("main" in r.refs, r.last_modified), reverse=True)
        for rev in revisions:
            if (rev.snapshot_path / "model_index.json").is_file() and snapshot_is_complete(rev.snapshot_path):
                found.append(CachedModel(repo.repo_id, rev.commit_hash, rev.snapshot_path, repo.size_on_disk))
                break
    return sorted(found, key=lambda m: m.repo_id.lower())
