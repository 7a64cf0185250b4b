"""``main.py restore``: repair many scans without the GUI — the old-photo recipe in batch.

Each input goes through the steps asked for, in this order, and is written to ``--out`` as
``NAME-restored.png``: a mask (one given mask, or damage detection) repaired classically (heal),
by a learned fill model (``--fill``) or inpainted with a diffusion model (``--model``, starting
from the learned fill when ``--fill`` is given too); faces (``--faces``, the boxes in
``NAME.faces.json`` beside the photo, or found by ``--find-faces DETECTOR``); enlarging
(``--upscale``); colourising (``--colorize``).
A file that cannot be read or restored is reported and skipped; the rest go on. Exit status: 0
when every file was restored, 1 when any was skipped (or nothing could start), 130 on Ctrl+C.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import numpy as np

from inference.cli.generate import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, fail, quiet_libraries, server_of
from inference.core.errors import KilnError
from inference.files.output_names import OutputNames, same_file_key
from inference.files.photo_inputs import collect_inputs

FACE_PASS_STRENGTH = 0.35  # --faces diffusion: low enough to keep the person


def read_face_boxes(photo: Path) -> list[tuple[int, int, int, int]]:
    """The face boxes in ``NAME.faces.json`` beside ``photo`` ([[x, y, w, h], …] or
    {"faces": [...]}), or [] when there is none. Raises KilnError for a malformed file."""
    import json

    sidecar = photo.with_name(photo.stem + ".faces.json")
    if not sidecar.is_file():
        return []
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        data = data.get("faces", []) if isinstance(data, dict) else data
        return [tuple(int(v) for v in box) for box in data if len(box) == 4]
    except (ValueError, TypeError, OSError, AttributeError) as exc:
        raise KilnError(f"{sidecar.name} is not a list of face boxes [[x, y, width, height], …] ({exc}).") from None


class _Restorer:
    """Restores one image at a time with the method the arguments chose."""

    def __init__(self, args, given_mask=None):
        self.args = args
        self.engine = None
        self.cancel = threading.Event()
        self.given_mask = given_mask
        self.server = server_of(args) if not getattr(args, "cluster", None) else None
        self.finder = None
        if getattr(args, "find_faces", None):
            from inference.restoration_models.face_finder import load_face_finder

            self.finder = load_face_finder(args.find_faces)
        if args.mask and given_mask is None:
            from inference.files.image_io import load_mask

            self.given_mask = load_mask(args.mask)

    def mask_for(self, image):
        from inference.restore.damage import detect_damage

        if self.given_mask is None:
            if self.args.sensitivity is None:
                return detect_damage(image)
            return detect_damage(image, self.args.sensitivity)
        if self.given_mask.shape != image.shape[:2]:
            h, w = self.given_mask.shape
            raise KilnError(f"the mask is {w}×{h} but this image is {image.shape[1]}×{image.shape[0]}.")
        return self.given_mask

    def restore(self, image, mask, job_id: int):
        """→ (restored H×W×3 uint8, parameters text or None). Raises KilnError."""
        if not self.args.model or self.args.colorize:  # with --colorize the model colourises
            if self.args.fill:
                from inference.restoration_models.jobs import FillRequest

                return self._model_step(FillRequest(job_id, self.args.fill, image, mask)), None
            from inference.restore.heal import heal

            return heal(image, mask), None
        return self._inpaint(image, mask, job_id, self.args.strength)

    def _inpaint(self, image, mask, job_id: int, strength: float):
        from inference.core.api import GenerationRequest, Mode

        return self._run(GenerationRequest(
            job_id=job_id, mode=Mode.INPAINT, prompt=self.args.prompt, model_ref=self.args.model,
            image=image, mask=mask, steps=self.args.steps, strength=strength,
            seed=self.args.seed, guidance=self.args.guidance,
            prefill="fill" if self.args.fill else "none", fill_model=self.args.fill or "",
        ))

    def recipe(self, image, boxes, job_id: int):
        """The steps the arguments ask for, in order, on one photo (``boxes``: its NAME.faces.json's)
        → (restored, parameters text or None, the repaired mask, whether the result keeps the
        photo's size and tones — so a 16-bit or gray source can be kept —, faces restored or None)."""
        args = self.args
        repairs = args.mask or args.detect
        mask = self.mask_for(image) if repairs else np.zeros(image.shape[:2], np.uint8)
        restored, parameters = self.restore(image, mask, job_id) if mask.any() else (image, None)
        faces, keeps_source = None, True
        if args.faces:
            restored, faces = self.faces(restored, boxes, job_id)
        if args.upscale:  # a new size: written as 8-bit
            restored, keeps_source = self.upscale(restored, job_id), False
        if args.colorize:  # last, on the repaired picture; written as 8-bit colour
            (restored, parameters), keeps_source = self.colorize(restored, job_id), False
        return restored, parameters, mask, keeps_source, faces

    def faces(self, image, boxes, job_id: int):
        """→ (``image`` with its faces restored, how many): ``boxes`` (from ``NAME.faces.json``),
        or without any those the ``--find-faces`` detector finds (unchanged when there are none)."""
        boxes = list(boxes)
        if not boxes and self.finder is not None:
            from inference.restoration_models.face_finder import face_boxes_to_propose

            boxes = face_boxes_to_propose(self.finder.find(image), image.shape[1], image.shape[0])
        if not boxes:
            return image, 0
        if self.args.faces == "diffusion":
            from inference.restoration_models.faces import check_face_boxes, face_pass_mask

            boxes = check_face_boxes(boxes, image.shape[1], image.shape[0])
            mask = face_pass_mask(boxes, image.shape[:2])
            return self._inpaint(image, mask, job_id, FACE_PASS_STRENGTH)[0], len(boxes)
        from inference.restoration_models.jobs import FaceRequest

        request = FaceRequest(job_id, self.args.faces, image, tuple(boxes), self.args.fidelity)
        return self._model_step(request), len(boxes)

    def upscale(self, image, job_id: int):
        from inference.restoration_models.jobs import UpscaleRequest

        return self._model_step(UpscaleRequest(job_id, self.args.upscale, image, self.args.scale))

    def _model_step(self, request):
        from inference.cli.model_steps import run_model_step

        return run_model_step(request, self.cancel, server=self.server)

    def colorize(self, image, job_id: int):
        """→ (``image`` in the model's colours on its own luminance, parameters text)."""
        from inference.core.api import GenerationRequest, Mode
        from inference.restore.tone_match import luminance

        return self._run(GenerationRequest(
            job_id=job_id, mode=Mode.IMG2IMG, prompt=self.args.prompt, model_ref=self.args.model, image=image,
            steps=self.args.steps, strength=self.args.colorize_strength, seed=self.args.seed,
            guidance=self.args.guidance, colorize=True, luminance=luminance(image),
        ))

    def _run(self, request):
        from inference.cli.model_steps import run_job_or_raise
        from inference.engine.engine import Engine
        from inference.files.metadata import format_parameters
        from inference.models.model_ref import model_display_name

        if self.engine is None and self.server is None:
            self.engine = Engine()
        # A job of the job runner; Ctrl+C meanwhile cancels it within a step (then ends the batch)
        final = run_job_or_raise(self.engine, request, self.cancel, server=self.server)
        return final.image, format_parameters(request, model_display_name(self.args.model))


def restore_command(args) -> int:
    """Restore every input; report skipped files; see the module docstring for exit codes."""
    from tqdm import tqdm

    from inference.restore.changes import changed_pixels_map
    from inference.files.image_io import load_picture_with_notes
    from inference.files.image_save import save_image

    # 1. Check what applies to the whole batch before any work
    repairs = args.mask or args.detect
    if getattr(args, "cluster", None) and (getattr(args, "server", None) or os.environ.get("KILN_SERVER")):
        return fail("--cluster and --server are two places to run: choose one (unset KILN_SERVER for --cluster).")
    if getattr(args, "find_faces", None) and not args.faces:
        return fail("--find-faces finds the faces for --faces: add --faces MODEL (or --faces diffusion).")
    if args.fill and not repairs:
        return fail("--fill fills the damage: say where with --mask MASK.png or --detect.")
    if not repairs and not (args.colorize or args.faces or args.upscale):
        return fail("say what to repair: --mask MASK.png (the same mask for every file) or --detect (find damage), "
                    "or --faces, --upscale or --colorize.")
    if args.fill and args.heal:
        return fail("--heal and --fill are two ways to repair: choose one.")
    if args.faces == "diffusion" and not args.model:
        return fail("--faces diffusion needs the diffusion model: --model MODEL (and a --prompt).")
    if not 0.0 <= args.fidelity <= 1.0:
        return fail(f"--fidelity must be between 0 and 1, got {args.fidelity}.")
    if args.upscale and args.scale not in (2, 3, 4):
        return fail(f"--scale must be 2, 3 or 4, got {args.scale}.")
    if args.colorize and not args.model:
        return fail("--colorize needs a model to take the colours from: --model MODEL (and a --prompt).")
    if args.heal and args.model and not args.colorize:
        return fail("--heal and --model are two ways to repair: choose one (with --colorize, --model colourises).")
    if args.colorize and not 0.05 <= args.colorize_strength <= 1.0:
        return fail(f"--colorize-strength must be between 0.05 and 1, got {args.colorize_strength}.")
    if args.sensitivity is not None and not 0.0 <= args.sensitivity <= 1.0:
        return fail(f"--sensitivity must be between 0 and 1, got {args.sensitivity}.")
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        restorer = _Restorer(args)
        if restorer.server is None:  # on a server, the models are its own: it checks them
            if args.model:
                from inference.models.model_ref import resolve_model_ref

                resolve_model_ref(args.model)
            _check_model_files(args)
    except KilnError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot create '{out_dir}': {exc.strerror or exc}.")
    inputs, problems = collect_inputs(args.inputs)
    skipped = list(problems)
    for line in problems:
        print(f"kiln: skipped {line}", file=sys.stderr)
    if not inputs and not problems:
        return fail("no images found in the given inputs.")
    if args.model or args.fill or args.faces or args.upscale:
        quiet_libraries()
    if getattr(args, "cluster", None):
        from inference.cli.restore_cluster import run_on_cluster

        extras = [name for name, wanted in (("mask", args.save_mask), ("changes", args.changes)) if wanted]
        try:
            return run_on_cluster(args, inputs, skipped, out_dir, OutputNames([*inputs, args.mask]), extras)
        except KilnError as exc:
            return fail(str(exc))

    # 2. One file at a time; a bad file is reported and skipped. No output takes the name of an
    # input (the photos, the given mask) or of another output: a photo whose names are taken
    # gets NAME-restored-2.png (and NAME-mask-2.png…), and says so
    names = OutputNames([*inputs, args.mask])
    input_keys = {same_file_key(p) for p in [*inputs, args.mask] if p}
    extras = [name for name, wanted in (("mask", args.save_mask), ("changes", args.changes)) if wanted]
    written = 0
    bar = tqdm(inputs, unit="photo", desc="restore", file=sys.stderr)
    try:
        for index, path in enumerate(bar, start=1):
            bar.set_postfix_str(path.name)
            usual = [out_dir / f"{path.stem}-{kind}.png" for kind in ["restored", *extras]]
            try:
                image, _notes, source = load_picture_with_notes(path)
                boxes = read_face_boxes(path) if args.faces else []
                restored, parameters, mask, keeps_source, faces = restorer.recipe(image, boxes, index)
                source = source if keeps_source else None
                if faces == 0:
                    why = "no faces found" if restorer.finder is not None else f"no {path.stem}.faces.json beside it"
                    tqdm.write(f"kiln: {path.name}: {why}, faces left as they are", file=sys.stderr)
                target, *extra_paths = names.claim_group(usual)
                if target != usual[0]:
                    tqdm.write(f"kiln: {path} → {target.name}: {_why_renamed(usual, input_keys)}", file=sys.stderr)
                extra_path = dict(zip(extras, extra_paths))
                save_image(target, restored, parameters, source=source)  # a 16-bit or gray scan stays so
                if args.save_mask:
                    save_image(extra_path["mask"], _gray_to_rgb(mask))
                if args.changes:
                    save_image(extra_path["changes"], _gray_to_rgb(changed_pixels_map(image, restored)))
                written += 1  # counted once all of this photo's files are written
            except KilnError as exc:
                skipped.append(f"{path}: {exc}")
                tqdm.write(f"kiln: skipped {path}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        restorer.cancel.set()
        bar.close()
        print("kiln: stopped; files already written are complete.", file=sys.stderr)
        return EXIT_CANCELLED
    bar.close()

    # 3. Summary
    print(f"kiln: restored {written} of {len(inputs) + len(problems)} photos into {out_dir}")
    if skipped:
        print(f"kiln: skipped {len(skipped)}:", file=sys.stderr)
        for line in skipped:
            print(f"  {line}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _check_model_files(args) -> None:
    """Open each restoration model once before the batch: a wrong or unsafe file stops it at once."""
    from inference.cli.model_steps import check_model_file

    for path, kind, flag in ((args.fill, "fill", "--fill"), (args.upscale, "upscale", "--upscale"),
                             (None if args.faces == "diffusion" else args.faces, "face", "--faces")):
        if path:
            check_model_file(path, kind, flag)


def _why_renamed(usual: list[Path], input_keys: set[str]) -> str:
    """Why a photo's usual output names (``usual``) were not free: one is an input, or another
    photo of this run (same name, another folder or extension) already has them."""
    for path in usual:
        if same_file_key(path) in input_keys:
            return f"'{path.name}' is an input, and Kiln never writes over an original."
    return f"'{usual[0].name}' is another photo's result in this run."


def _gray_to_rgb(mask):
    import numpy as np

    return np.repeat(mask[..., None], 3, axis=2)
