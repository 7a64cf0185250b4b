"""LoRA adapters on a loaded model, switched between jobs without reloading the base model.

A request names its LoRAs as ``(path, weight)`` pairs (``GenerationRequest.loras``). The engine
calls ``apply_loras`` before each job: files no longer wanted are unloaded, new ones loaded,
and the weights set (cheap: a scale per adapter). Adapters live in the modules every pipeline
of the model shares, so every mode sees them. With no LoRA the adapter layers are removed
altogether, so the model computes exactly what it did before any LoRA was loaded; weight 0
also gives the base model's image exactly (the adapter adds zero).

Files are judged by their bytes (``inference.models.checkpoint_format.check_checkpoint_file``) and
read with safetensors only, then handed to diffusers as a state dict: a pickle renamed
``.safetensors`` is refused unopened, and diffusers never gets a path it could unpickle.
diffusers converts the common layouts (diffusers/PEFT, kohya ``lora_unet_…``) itself.
LoRA needs the ``peft`` package (diffusers' adapter backend).

LCM-LoRA: load it like any LoRA and pick the "lcm" scheduler, guidance 0–1 and 4–8 steps.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from inference.models.checkpoint_format import check_checkpoint_file
from inference.core.errors import ModelError, UnsafeCheckpoint

if TYPE_CHECKING:
    from inference.models.loading import LoadedModel

FileKey = tuple[str, int, int]  # resolved path, size in bytes, modification time in ns


@dataclass
class AdapterSet:
    """The LoRA adapters loaded into one model.

    names: file key → adapter name in the model (a file changed on disk gets a new key, so it
    is reloaded). active: the (file key, weight) pairs last set, in request order.
    """

    names: dict[FileKey, str] = field(default_factory=dict)
    active: tuple[tuple[FileKey, float], ...] = ()
    loaded_count: int = 0  # adapter names are never reused: peft keeps per-name state


def apply_loras(model: LoadedModel, loras: tuple[tuple[str, float], ...]) -> None:
    """Make ``model`` run with exactly ``loras`` ((path, weight) pairs) — none: the base model.

    Loads and unloads only what changed; changing weights alone reloads nothing. Any offload
    hooks are taken off first (``inference.hardware.memory.release_placement``; the job's memory plan
    places the model again), since adapters must be injected into real, resident weights.
    Raises ``UnsafeCheckpoint`` for a pickle (by content), ``ModelError`` for a file that is
    missing, damaged, or not a LoRA for this model's family.
    """
    state = model.loras
    wanted = [(_file_key(path), Path(path), float(weight)) for path, weight in loras]
    active = tuple((key, weight) for key, _, weight in wanted)
    if active == state.active:
        return
    pipe = model.base
    keys = [key for key, _, _ in wanted]
    if set(keys) != set(state.names):
        # 1. Judge every new file by its bytes before the model is touched
        new = [(key, path) for key, path, _ in wanted if key not in state.names]
        for _, path in new:
            try:
                check_checkpoint_file(path)
            except ModelError as exc:  # a pickle (UnsafeCheckpoint), or a damaged file
                raise type(exc)(f"LoRA refused: {exc}") from None
        if model.memory is not None and model.memory.offloads:
            from inference.hardware.memory import release_placement

            release_placement(model)
        # 2. Unload what is no longer wanted; with none wanted, remove the adapter layers too
        state.active = ()
        if not keys:
            pipe.unload_lora_weights()
            state.names.clear()
        else:
            stale = {key: name for key, name in state.names.items() if key not in keys}
            if stale:
                pipe.delete_adapters(list(stale.values()))
                for key in stale:
                    del state.names[key]
        # 3. Load what is new
        for key, path in new:
            name = f"kiln_lora_{state.loaded_count}"
            state.loaded_count += 1
            _load(pipe, path, name)
            state.names[key] = name
    # 4. The weights (a scale on each adapter's layers)
    if keys:
        pipe.set_adapters([state.names[key] for key in keys], adapter_weights=[w for _, _, w in wanted])
    state.active = active


def _file_key(path: str) -> FileKey:
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise ModelError(f"cannot read the LoRA '{path}': {exc.strerror or exc}. Check the path.") from None
    return str(resolved), stat.st_size, stat.st_mtime_ns


def _load(pipe, path: Path, name: str) -> None:
    """Load the LoRA file ``path`` (already judged safe) into ``pipe`` as adapter ``name``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state_dict = load_file(str(path))  # safetensors: no code runs, whatever the file holds
    except (OSError, SafetensorError) as exc:
        raise ModelError(f"cannot read the LoRA '{path.name}': {_first_line(exc)}. Download it again.") from None
    try:
        with _diffusers_quiet():
            pipe.load_lora_weights(state_dict, adapter_name=name)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        _forget(pipe, name)
        reason = "its layer sizes do not match this model's" if "size mismatch" in str(exc) else _first_line(exc)
        raise ModelError(
            f"'{path.name}' is not a LoRA this model can use ({reason}). A LoRA works only with "
            "the model family it was trained for (SD1.5, SD2 or SDXL)."
        ) from None
    if not any(name in names for names in pipe.get_list_adapters().values()):
        _forget(pipe, name)
        raise ModelError(
            f"'{path.name}' holds no weights for this model's layers: it is not a LoRA, or it was made for "
            "another model family (SD1.5, SD2 or SDXL)."
        )


@contextlib.contextmanager
def _diffusers_quiet():
    """Keep diffusers' log quiet while a LoRA loads: it warns for every component a LoRA has no
    weights for (most LoRAs touch only the UNet) and logs a failed load's full error, which
    Kiln reports in one sentence instead."""
    logger = logging.getLogger("diffusers")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            # peft's note that a model holds several adapters: that is what Kiln asked for.
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            yield
    finally:
        logger.setLevel(level)


def _forget(pipe, name: str) -> None:
    """Remove whatever part of adapter ``name`` a failed load left behind; with no adapter left,
    the (empty) adapter layers too, so the model is exactly the base model again."""
    if any(name in names for names in pipe.get_list_adapters().values()):
        pipe.delete_adapters([name])
    if not any(pipe.get_list_adapters().values()):
        pipe.unload_lora_weights()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
