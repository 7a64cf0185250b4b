"""``main.py upscale IN... --model MODEL [--scale N] --out DIR``: enlarge many photos.

Each photo is enlarged by the super-resolution model, tile by tile, and written to ``--out`` as
``NAME-xN.png``. A photo that cannot be read or is too large for the factor is reported and skipped;
the rest go on. Exit status: 0 when every photo was enlarged, 1 when any was skipped (or nothing
could start), 130 on Ctrl+C (files already written are complete).
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from inference.cli.generate import EXIT_CANCELLED, EXIT_ERROR, EXIT_OK, fail, quiet_libraries, server_of
from inference.core.errors import KilnError


def upscale_command(args) -> int:
    from tqdm import tqdm

    from inference.cli.model_steps import check_model_file
    from inference.files.image_io import load_picture_with_notes
    from inference.files.image_save import save_image
    from inference.files.output_names import OutputNames
    from inference.files.photo_inputs import collect_inputs
    from inference.restoration_models.upscale import FACTORS

    if args.scale not in FACTORS:
        return fail(f"--scale must be 2, 3 or 4, got {args.scale}.")
    if args.detail and not 0.05 <= args.detail_strength <= 0.8:
        return fail(f"--detail-strength must be between 0.05 and 0.8, got {args.detail_strength}.")
    quiet_libraries()
    out_dir = Path(args.out)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        server = server_of(args)  # the models are the server's then: it checks them
        if server is None:
            check_model_file(args.model, "upscale", "--model")
        if args.detail and server is None:
            from inference.models.model_ref import resolve_model_ref

            resolve_model_ref(args.detail)
    except KilnError as exc:
        return fail(str(exc))
    except OSError as exc:
        return fail(f"cannot create '{out_dir}': {exc.strerror or exc}.")
    inputs, problems = collect_inputs(args.inputs)
    skipped = list(problems)
    for line in skipped:
        print(f"kiln: skipped {line}", file=sys.stderr)
    if not inputs and not skipped:
        return fail("no images found in the given inputs.")
    names = OutputNames(inputs)
    if getattr(args, "cluster", None):
        from inference.cli.restore_cluster import run_on_cluster

        try:
            return run_on_cluster(args, inputs, skipped, out_dir, names, [], command="upscale")
        except KilnError as exc:
            return fail(str(exc))
    cancel = threading.Event()
    written = 0
    bar = tqdm(inputs, unit="photo", desc="upscale", file=sys.stderr)
    try:
        for index, path in enumerate(bar, start=1):
            bar.set_postfix_str(path.name)
            try:
                image = load_picture_with_notes(path).rgb
                result, parameters = upscale_one(args, image, index, cancel, server)
                target = names.claim_group([out_dir / f"{path.stem}-x{args.scale}.png"])[0]
                save_image(target, result, parameters)
                written += 1
            except KilnError as exc:
                skipped.append(f"{path}: {exc}")
                tqdm.write(f"kiln: skipped {path}: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        bar.close()
        print("kiln: stopped; files already written are complete.", file=sys.stderr)
        return EXIT_CANCELLED
    bar.close()
    print(f"kiln: enlarged {written} of {len(inputs) + len(problems)} photos ×{args.scale} into {out_dir}")
    if skipped:
        print(f"kiln: skipped {len(skipped)}:", file=sys.stderr)
        for line in skipped:
            print(f"  {line}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def upscale_one(args, image, job_id: int, cancel, server=None):
    """One photo enlarged (and with ``--detail``, detail added) → (picture, parameters text or None)."""
    from inference.cli.model_steps import run_model_step
    from inference.restoration_models.jobs import UpscaleRequest

    request = UpscaleRequest(job_id=job_id, model_path=str(args.model), image=image, factor=args.scale)
    result = run_model_step(request, cancel, server=server)
    if args.detail:
        return _add_detail(args, result, job_id, cancel, server)
    return result, None


def _add_detail(args, image, job_id: int, cancel, server=None):
    """The enlarged ``image`` through the diffusion model at low strength, tile by tile."""
    from inference.cli.model_steps import run_job_or_raise
    from inference.core.api import GenerationRequest, Mode
    from inference.engine.engine import Engine
    from inference.files.metadata import format_parameters
    from inference.models.model_ref import model_display_name

    global _ENGINE
    if _ENGINE is None and server is None:
        _ENGINE = Engine()
    request = GenerationRequest(job_id=job_id, mode=Mode.IMG2IMG, prompt=args.prompt, model_ref=args.detail,
                                image=image, steps=args.steps, strength=args.detail_strength, seed=args.seed,
                                detail=True)
    final = run_job_or_raise(_ENGINE, request, cancel, server=server)
    return final.image, format_parameters(request, model_display_name(args.detail))


_ENGINE = None
