"""Kiln's entry point: parses the command line and wires the pieces together.

    python main.py [IMAGE] [--model REF]        open the editor
    python main.py generate --model REF ...     make one image without the GUI
    python main.py make-test-model OUT          build a tiny model for trying things out
"""

from __future__ import annotations

import argparse
import sys

from inference.api import DEFAULT_SCHEDULER

COMMANDS = ("generate", "make-test-model")


def _generate_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate one image (text-to-image, image-to-image or inpainting)")
    p.add_argument("--model", required=True, help="hub id, diffusers folder or .safetensors checkpoint")
    p.add_argument("--prompt", required=True, help="what the image should show")
    p.add_argument("--negative", default="", help="what it should not show")
    p.add_argument("--image", help="input image: image-to-image, or inpainting with --mask")
    p.add_argument("--mask", help="mask image, white = regenerate (needs --image)")
    p.add_argument("--width", type=int, default=512, help="text-to-image width in px, a multiple of 8 (default 512)")
    p.add_argument("--height", type=int, default=512, help="text-to-image height in px, a multiple of 8 (default 512)")
    p.add_argument("--steps", type=int, default=20, help="denoising steps (default 20)")
    p.add_argument("--guidance", type=float, default=7.5, help="prompt guidance scale (default 7.5)")
    p.add_argument("--strength", type=float, default=0.75, help="how much of the input image changes, 0–1 (default 0.75)")
    p.add_argument("--seed", type=int, help="seed for reproducible results (default: random, printed)")
    p.add_argument("--scheduler", default=DEFAULT_SCHEDULER, help="sampler: default, ddim, euler, euler_a, dpm++_2m_karras, … (default: the model's)")
    p.add_argument("--out", required=True, help="output .png (never one of the inputs)")
    p.add_argument("--save-steps", metavar="DIR", help="also save each denoising step's preview into DIR")


def _make_test_model_parser(sub) -> None:
    p = sub.add_parser("make-test-model", help="build a tiny random-weight SD1.5-architecture model (no download)")
    p.add_argument("out", help="output folder (or .safetensors file with --single-file)")
    p.add_argument("--inpainting", action="store_true", help="the 9-channel inpainting variant")
    p.add_argument("--single-file", action="store_true", help="one .safetensors in the original checkpoint layout")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description="Kiln: restore photos and turn sketches into images.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _generate_parser(sub)
    _make_test_model_parser(sub)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kiln", description="Open the Kiln editor. Commands: " + ", ".join(COMMANDS))
    parser.add_argument("image", nargs="?", help="a photo to open")
    parser.add_argument("--model", help="model to select: hub id, diffusers folder or .safetensors file")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        args = build_parser().parse_args(argv)
        from inference import cli

        if args.command == "generate":
            return cli.generate_command(args)
        return cli.make_test_model_command(args)
    if argv and argv[0] in ("-h", "--help"):
        build_gui_parser().print_help()
        print()
        build_parser().print_help()
        return 0
    args = build_gui_parser().parse_args(argv)
    from gui.app import run_app

    return run_app(image=args.image, model=args.model)


if __name__ == "__main__":
    sys.exit(main())
