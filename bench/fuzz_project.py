"""Fuzz Kiln's project reader: a damaged .kiln file may only ever raise ``KilnError``, and a
project it accepts must reopen in the editor without an error.

    python bench/fuzz_project.py --seconds 60 [--seed 7]
    python bench/fuzz_project.py --replay crashes-project/

Not part of the test run; Linux only (peak memory is read from /proc). The seed is a small real
project (a photo, mask and paint strokes, a filled region, an accepted result in a group, an
extended canvas, an inverted mask, a result in the history). Each input is one of: random byte
edits of the whole zip (``bench/fuzz_loader.py``'s mutator), a structural edit of
``project.json`` (a value replaced by another type, a huge or negative number, a list, null; a
key removed), byte edits of one entry inside the zip, or an attack (several references to one
entry, an entry or description that expands to ~48 MB, texts of a megabyte with control
characters, numbers past int64, a thousand results). It is given to
``inference.files.project_read.load_project``; an accepted project is then rebuilt in a
``gui.session.document.Document`` (what opening it in the editor does) and its values checked against
what the widgets take. Anything but ``KilnError`` from loading, any error from rebuilding, or
opening that raised the process's peak memory by more than 32 MiB, is a crash, saved to
``crashes-project/<sha1>.kiln`` with the traceback beside it.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import random
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from fuzz_loader import save_input  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def seed_project(folder: Path) -> bytes:
    """A small project made through the editor's own document and project code."""
    import numpy as np
    from PySide6.QtWidgets import QApplication

    QApplication.instance() or QApplication([])
    from gui.session.document import Document
    from gui.session.project_state import snapshot
    from inference.files.project_file import save_project

    doc = Document()
    yy, xx = np.mgrid[0:40, 0:48]
    doc.load(np.stack([xx * 5, yy * 6, (xx + yy) * 3], -1).astype(np.uint8), "photo.png")
    doc.begin_stroke()
    doc.paint_segment(4, 4, 40, 30, 4)
    doc.end_stroke()
    doc.begin_stroke(layer="paint", color=(200, 30, 60), opacity=0.6)
    doc.paint_segment(10, 30, 30, 5, 3)
    doc.end_stroke()
    doc.fill_paint(1, 1, (0, 255, 0), 0.5)
    doc.undo_stack.beginMacro("Apply result")
    doc.apply_image(255 - np.array(doc.image))
    doc.clear_mask()
    doc.undo_stack.endMacro()
    doc.resize_layers(np.zeros((40, 56, 3), np.uint8), np.zeros((40, 56), np.uint8), np.zeros((40, 56, 4), np.uint8),
                      "Extend canvas")
    doc.invert_mask()

    from gui.session.generation_params import GenerationParams
    from gui.session.results import HistoryEntry, ResultsModel
    from inference.core.api import Mode

    results = ResultsModel()
    results.add(HistoryEntry(3, np.zeros((40, 48, 3), np.uint8), Mode.INPAINT, 5, "a prompt\nSteps: 3"), show=False)
    state = snapshot(doc, results, GenerationParams(prompt="old photo"), with_layers=True)
    save_project(folder / "seed.kiln", state)
    return (folder / "seed.kiln").read_bytes()


ODD_VALUES = [None, True, -1, 0, 1, 2**31, 2**63, -(2**40), 1e308, float("nan"), "", "x", "../../x", "/etc/passwd",
              [], [0], [1, 2, 3, 4], [-5, -5, 1, 1], [0, 0, 10**9, 10**9], {}, {"empty": [3, 3]},
              {"empty": [10**6, 10**6, 4]}, "undo/a1.npy", "layers/image.png", "project.json"]


def _paths(node, prefix=()):
    """Every (path, value) inside a JSON document."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _entry_slots(manifest: dict) -> list[tuple[list | dict, object]]:
    """(container, key) of every place the description names an entry."""
    slots = [(manifest["base"], "image")] + [(manifest.get("layers") or {}, k) for k in (manifest.get("layers") or {})]
    slots += [(r, "image") for r in manifest.get("results", [])]
    for edit in manifest.get("edits", []):
        for node in [edit, *edit.get("children", [])]:
            arrays = node.get("arrays", [])
            slots += [(arrays, i) for i, name in enumerate(arrays) if isinstance(name, str)]
    return slots


BOMB_BYTES = 48 << 20  # what a bombed entry expands to: far more than the seed picture's layers


def _hostile(manifest: dict, entries: dict, rng: random.Random) -> None:
    """One attack: an entry shared by several references, an entry that expands far beyond what
    its description holds, a huge or impossible text or number, or an oversize result."""
    import numpy as np

    from hostile_projects import npy, png_zeros

    slots = _entry_slots(manifest)
    attack = rng.randrange(5)
    if attack == 0:  # shared: several references to one entry
        source = rng.choice(slots)
        for container, key in rng.sample(slots, min(len(slots), rng.randint(1, 12))):
            container[key] = source[0][source[1]]
    elif attack == 1:  # bombed: an entry far larger than its description says
        container, key = rng.choice(slots)
        name = container[key]
        side = int((BOMB_BYTES / 3) ** 0.5)
        if rng.random() < 0.4:
            entries[name] = entries.get(name, b"") + bytes(BOMB_BYTES)
        elif name.endswith(".png"):
            entries[name] = png_zeros(side, side, rng.choice(["L", "RGB", "RGBA"]))
        else:
            shape = rng.choice([(side, side, 3), (side * 2, side), (side, side // 2, 4)])
            entries[name] = npy(np.zeros(shape, np.uint8))
    elif attack == 2:  # bombed description
        manifest["pad"] = " " * rng.choice([1 << 20, 16 << 20, 64 << 20])
    elif attack == 3:  # huge and odd texts
        text = rng.choice(["\x00", "\x1b[2J", "\r", "x", "\u2028", "é"]) * rng.choice([1 << 10, 1 << 18, 1 << 20])
        target = rng.choice([manifest.get("params") or {}, *manifest.get("results", []), *manifest.get("edits", [])])
        target[rng.choice(["prompt", "negative_prompt", "parameters", "text", "mode", "model_ref"])] = text
    else:  # numbers past int64, and many results
        for result in manifest.get("results", []):
            result[rng.choice(["job_id", "seed"])] = rng.choice([2**63, 2**70, -(2**63) - 1, 10**30])
        if rng.random() < 0.5 and manifest.get("results"):
            manifest["results"] *= rng.choice([2, 12, 1000])


def mutate_project(seed: bytes, rng: random.Random) -> bytes:
    from fuzz_loader import mutate

    kind = rng.randrange(4)
    if kind == 0:
        return mutate(seed, [seed], rng)
    with zipfile.ZipFile(io.BytesIO(seed)) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    if kind == 3:
        manifest = json.loads(entries["project.json"])
        _hostile(manifest, entries, rng)
        entries["project.json"] = json.dumps(manifest).encode()
    elif kind == 1:
        manifest = json.loads(entries["project.json"])
        for _ in range(rng.choice((1, 1, 2, 3))):
            path, _value = rng.choice(list(_paths(manifest))[1:])
            parent = manifest
            for key in path[:-1]:
                parent = parent[key]
            if rng.random() < 0.15 and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        entries["project.json"] = json.dumps(manifest).encode()
    else:
        name = rng.choice([n for n in entries if n != "project.json"])
        entries[name] = mutate(entries[name], list(entries.values()), rng)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


MAX_RISE_BYTES = 32 << 20  # the seed picture is 40×56: anything near a bomb's size is a finding


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith(field))


def _reset_peak() -> int:
    """Start the peak-memory mark (VmHWM) again from now (Linux); returns the memory in use."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return _status_bytes("VmRSS:")


def _peak() -> int:
    return _status_bytes("VmHWM:")


def _check_widget_values(state) -> None:
    """What the editor hands to Qt must fit it: numbers in range, texts of bounded length."""
    from inference.files.metadata import MAX_PARAMETERS_CHARS, MAX_PROMPT_CHARS

    for result in state.results:
        assert 0 <= result.job_id < 2**63 and 0 <= result.seed < 2**64, (result.job_id, result.seed)
        assert len(result.parameters) <= MAX_PARAMETERS_CHARS and result.image.shape[:2] in {
            state.base_image.shape[:2], *(e.arrays[3].shape[:2] for e in state.edits if e.kind == "resize")}
    for value in state.params.values():
        assert not isinstance(value, str) or len(value) <= MAX_PROMPT_CHARS
    assert all(len(e.text) <= 200 for e in state.edits)


class Harness:
    def __init__(self, workdir: Path, crash_dir: Path):
        from gui.session.document import Document
        from inference.core.errors import KilnError
        from inference.files.project_read import load_project

        self.load, self.KilnError, self.Document = load_project, KilnError, Document
        self.path, self.crash_dir = workdir / "input.kiln", crash_dir
        self.iterations = self.accepted = self.refused = self.crashes = 0
        self.max_s = 0.0
        self.max_rise_bytes = 0

    def run_one(self, data: bytes) -> None:
        self.iterations += 1
        self.path.write_bytes(data)
        start = time.perf_counter()
        rss_before = _reset_peak()
        try:
            state = self.load(self.path, max_megapixels=4)
        except self.KilnError as exc:
            self.refused += 1
            if not str(exc).strip():
                self._crash(data, "empty KilnError message")
        except Exception:  # noqa: BLE001 — every escape is a finding
            self._crash(data, traceback.format_exc())
        else:
            try:
                doc = self.Document()
                doc.restore((state.base_image, state.base_mask, state.base_paint, state.base_is_blank), state.edits,
                            state.undo_index, state.clean_index, state.paint_visible, state.original_path)
                _check_widget_values(state)
                self.accepted += 1
            except Exception:  # noqa: BLE001
                self._crash(data, "accepted, but the editor could not rebuild it:\n" + traceback.format_exc())
        rise = _peak() - rss_before
        self.max_rise_bytes = max(self.max_rise_bytes, rise)
        if rise > MAX_RISE_BYTES:
            self._crash(data, f"opening it took {rise / 2**20:.0f} MiB more memory")
        self.max_s = max(self.max_s, time.perf_counter() - start)

    def _crash(self, data: bytes, text: str) -> None:
        self.crashes += 1
        digest = save_input(self.crash_dir, data, text, ".kiln")
        print(f"  crash {digest}: {text.strip().splitlines()[-1][:160]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crash-dir", default="crashes-project")
    parser.add_argument("--replay", help="a folder of saved inputs to run again")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kiln-fuzz-project-"))
    seed = seed_project(workdir)
    harness = Harness(workdir, Path(args.crash_dir))
    started = time.monotonic()
    if args.replay:
        for path in sorted(Path(args.replay).glob("*.kiln")):
            harness.run_one(path.read_bytes())
    else:
        harness.run_one(seed)
        assert harness.accepted == 1, "the seed project itself must open"
        rng = random.Random(args.seed)
        while time.monotonic() - started < args.seconds:
            harness.run_one(mutate_project(seed, rng))
    elapsed = time.monotonic() - started
    print(f"{harness.iterations} inputs in {elapsed:.0f} s ({harness.iterations / elapsed:.0f}/s): "
          f"{harness.accepted} accepted and rebuilt, {harness.refused} refused with KilnError, "
          f"{harness.crashes} crashes; slowest {harness.max_s * 1000:.0f} ms; "
          f"largest memory rise {harness.max_rise_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
