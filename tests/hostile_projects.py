"""Crafted Kiln projects: each is a real project written by Kiln's own writer, then edited the
way an attacker would (an entry that decompresses to far more than its description holds, one
entry referenced many times, results far larger than the picture, numbers past int64, texts of
a megabyte). Used by the tests and by ``bench/project_memory.py`` / ``bench/fuzz_project.py``.

``crafted(height_px, width_px, bomb_bytes)`` returns {name: project bytes}; every one must be
refused or opened with the memory its picture needs, never with the memory its bombs claim.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from inference.files.project_file import Edit, ProjectState, Result, save_project


def picture(height_px: int, width_px: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height_px, 0:width_px]
    return np.stack([xx * 7 % 256, yy * 5 % 256, (xx + yy) % 256], -1).astype(np.uint8)


def project_bytes(state: ProjectState) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "p.kiln"
        save_project(path, state)
        return path.read_bytes()


def base_state(height_px: int, width_px: int, patches: int = 1, results: int = 1) -> ProjectState:
    """A picture with ``patches`` mask strokes of 16×16 px and ``results`` results."""
    image = picture(height_px, width_px)
    edits = [Edit("patch", "Mask stroke", "mask", (i % (width_px - 16), i % (height_px - 16), 16, 16),
                  (np.zeros((16, 16), np.uint8), np.full((16, 16), 255, np.uint8))) for i in range(patches)]
    mask = np.zeros((height_px, width_px), np.uint8)
    for edit in edits:
        x, y, w, h = edit.rect
        mask[y:y + h, x:x + w] = 255
    return ProjectState(
        base_image=image, base_is_blank=False, image=image, mask=mask,
        paint=np.zeros((height_px, width_px, 4), np.uint8), edits=edits, undo_index=len(edits),
        results=[Result(i + 1, "img2img", 7, "a prompt\nSteps: 8", 255 - image) for i in range(results)],
        params={"prompt": "old photo"})


def rezip(data: bytes, change) -> bytes:
    """``data`` with ``change(manifest, entries)`` applied (entries: name → bytes), deflated at
    level 9 so that zeros compress about a thousandfold."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(entries.pop("project.json"))
    change(manifest, entries)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, blob in entries.items():
            archive.writestr(name, blob)
        archive.writestr("project.json", manifest if isinstance(manifest, (bytes, str)) else json.dumps(manifest))
    return out.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def png_zeros(height_px: int, width_px: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width_px, height_px)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def crafted(height_px: int = 64, width_px: int = 96, bomb_bytes: int = 64 << 20) -> dict[str, bytes]:
    """Hostile projects describing a ``height_px``×``width_px`` picture; bombs expand to about
    ``bomb_bytes``."""
    good = project_bytes(base_state(height_px, width_px, patches=12, results=1))
    side = int((bomb_bytes / 3) ** 0.5)  # a square RGB picture of about bomb_bytes
    big = np.zeros((side, side, 3), np.uint8)

    def bombed_manifest(m, e):
        m["pad"] = " " * bomb_bytes

    def bombed_patch_shape(m, e):
        e[m["edits"][0]["arrays"][0]] = npy(big)

    def bombed_patch_tail(m, e):
        name = m["edits"][0]["arrays"][0]
        e[name] = e[name] + bytes(bomb_bytes)

    def bombed_mask(m, e):  # under Pillow's own limit (~179 MP): only Kiln's checks stand in its way
        mask_side = int(min(bomb_bytes, 150_000_000) ** 0.5)
        e[m["layers"]["mask"]] = png_zeros(mask_side, mask_side)

    def shared_patch(m, e):
        name = "undo/big.npy"
        e[name] = npy(np.zeros((height_px, width_px, 3), np.uint8))
        for edit in m["edits"]:
            edit.update(layer="image", rect=[0, 0, width_px, height_px], arrays=[name, name])

    def oversize_results(m, e):
        template = m["results"][0]
        m["results"] = []
        for i in range(12):
            e[f"results/big{i}.png"] = png_zeros(side, side, "RGB")
            m["results"].append(dict(template, job_id=100 + i, image=f"results/big{i}.png"))

    def huge_job_id(m, e):
        m["results"][0]["job_id"] = 2**70

    def huge_texts(m, e):
        m["params"]["prompt"] = "\x1b[31mred\r" + "x" * (1 << 20)
        m["results"][0]["parameters"] = "\x00" * (300 << 10)
        m["edits"][0]["text"] = "y" * (1 << 20)

    def long_history(m, e):
        m["edits"] += [{"kind": "invert", "text": "Invert mask"}] * 12_000  # an even count: the layers still match
        m["undo_index"] = len(m["edits"])

    def many_steps(m, e):
        m["edits"] = [{"kind": "invert", "text": "Invert mask"}] * 1_000_000  # ~150 kB zipped
        m["undo_index"] = len(m["edits"])

    makers = {"bombed-manifest": bombed_manifest, "bombed-patch-shape": bombed_patch_shape,
              "bombed-patch-tail": bombed_patch_tail, "bombed-mask": bombed_mask, "shared-patch": shared_patch,
              "oversize-results": oversize_results, "huge-job-id": huge_job_id, "huge-texts": huge_texts,
              "long-history": long_history, "many-steps": many_steps}
    return {name: rezip(good, make) for name, make in makers.items()}


_MEASURE = r"""
import sys
from inference.core.errors import KilnError
from inference.files.project_read import load_project


def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) * 1024


with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the peak (VmHWM) starts again from here
before = status("VmRSS:")
try:
    state = load_project(sys.argv[1])
    outcome = "opened" + (" with notes" if getattr(state, "notes", None) else "")
except KilnError as exc:
    outcome = "refused: " + str(exc)[:300]
print(status("VmHWM:") - before, outcome)
"""


def opening_peak_bytes(path, root, env=None) -> tuple[int, str]:
    """Open the project at ``path`` in a fresh Python (the code under ``root``): the rise of its
    peak resident memory while ``load_project`` runs, in bytes, and what happened. Pillow
    decodes outside Python's allocator, so the process's own high-water mark is measured
    (Linux: VmHWM, reset through /proc/self/clear_refs)."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, cwd=root,
                          env={**os.environ, **(env or {})}, timeout=600)
    if done.returncode != 0:
        return -1, "crashed: " + done.stderr.strip()[-300:]
    peak, outcome = done.stdout.strip().split(" ", 1)
    return int(peak), outcome
