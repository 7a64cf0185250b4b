"""A training run's checkpoint: adapter weights, optimizer state, step, random state and the
losses so far, written so that a failure (a full disk) leaves the previous one intact.

Layout of ``RUN_DIR/checkpoint/``: ``adapter.safetensors`` (the LoRA weights, fp32),
``optimizer.pt`` (AdamW's state, read back with ``torch.load(weights_only=True)``),
``rng.safetensors`` (the run's generator), ``state.json`` (step, seed, losses, what was trained).
A new checkpoint is written beside it and swapped in with renames.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from inference.core.errors import InvalidRequest, KilnError

CHECKPOINT = "checkpoint"


@dataclass
class Checkpoint:
    step: int
    adapter: dict = field(repr=False)  # name → tensor
    optimizer: dict = field(repr=False)
    rng_state: object = field(repr=False)  # torch.ByteTensor of the run's generator
    losses: list[float] = field(default_factory=list, repr=False)
    identity: dict = field(default_factory=dict)  # model, images, rank, resolution, seed, … : resume checks them


def write_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> None:
    """Write ``checkpoint`` as ``run_dir/checkpoint``; raises ``KilnError`` (the disk is full, …)
    with the previous checkpoint untouched."""
    import torch
    from safetensors.torch import save_file

    run_dir.mkdir(parents=True, exist_ok=True)
    final, fresh, old = run_dir / CHECKPOINT, run_dir / f".{CHECKPOINT}.new", run_dir / f".{CHECKPOINT}.old"
    shutil.rmtree(fresh, ignore_errors=True)
    try:
        fresh.mkdir()
        save_file({k: v.detach().to("cpu", torch.float32).contiguous() for k, v in checkpoint.adapter.items()},
                  fresh / "adapter.safetensors")
        torch.save(checkpoint.optimizer, fresh / "optimizer.pt")
        save_file({"generator": checkpoint.rng_state}, fresh / "rng.safetensors")
        state = {"step": checkpoint.step, "losses": checkpoint.losses, "identity": checkpoint.identity}
        (fresh / "state.json").write_text(json.dumps(state))
        for path in fresh.iterdir():
            with open(path, "rb+") as fh:
                os.fsync(fh.fileno())
    except OSError as exc:
        shutil.rmtree(fresh, ignore_errors=True)
        raise KilnError(f"Cannot write the training checkpoint in '{run_dir}' ({exc.strerror or exc}); "
                        "the previous checkpoint is kept.") from exc
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    fresh.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def read_checkpoint(run_dir: Path, identity: dict) -> Checkpoint:
    """The checkpoint in ``run_dir``. Raises ``InvalidRequest`` when there is none, it is damaged,
    or it belongs to another run (``identity``: model, images, rank, … must match)."""
    import torch
    from safetensors.torch import load_file

    folder = run_dir / CHECKPOINT
    if not (folder / "state.json").is_file():
        raise InvalidRequest(f"No training checkpoint to resume in '{run_dir}'.")
    try:
        state = json.loads((folder / "state.json").read_text())
        adapter = load_file(folder / "adapter.safetensors")
        optimizer = torch.load(folder / "optimizer.pt", weights_only=True)  # never a full unpickle
        rng = load_file(folder / "rng.safetensors")["generator"]
    except Exception as exc:  # noqa: BLE001 - any damage reads as one message
        raise InvalidRequest(f"The checkpoint in '{run_dir}' cannot be read ({type(exc).__name__}: {exc}).") from exc
    if state.get("identity") != identity:
        differs = sorted(k for k in identity if state.get("identity", {}).get(k) != identity[k])
        raise InvalidRequest(f"The checkpoint in '{run_dir}' is of another run (different {', '.join(differs)}): "
                             "start a new run, or resume with the same settings.")
    return Checkpoint(int(state["step"]), adapter, optimizer, rng, list(state.get("losses", [])), state["identity"])
