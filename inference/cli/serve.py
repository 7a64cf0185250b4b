"""``main.py serve``: run Kiln's engine for other computers, as a Ray Serve application.

Checks everything a person can get wrong before Ray starts (a token when listening beyond this
computer, the token file, the models), starts Ray (joining the cluster in ``RAY_ADDRESS`` when
set, else a local one), deploys ``inference.remote.server`` and serves until Ctrl+C.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from pathlib import Path

from inference.cli.generate import EXIT_OK, fail, quiet_libraries
from inference.core.errors import KilnError

NEEDS_RAY = ("main.py serve needs Ray Serve, which is not installed: pip install -e \".[cluster]\" "
             "(or pip install \"ray[serve]\").")


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(args) -> str | None:
    """The token from --token, --token-file or KILN_TOKEN (in that order), or None. Raises KilnError."""
    if args.token_file:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeError) as exc:
            raise KilnError(f"cannot read the token file '{args.token_file}': {getattr(exc, 'strerror', None) or exc}.")
        if not token:
            raise KilnError(f"the token file '{args.token_file}' is empty.")
        return token
    return (args.token or os.environ.get("KILN_TOKEN") or "").strip() or None


def serve_command(args) -> int:
    # 1. What a person can get wrong, before Ray starts
    try:
        token = read_token(args)
    except KilnError as exc:
        return fail(str(exc))
    if token is None and not is_loopback(args.host):
        return fail(f"serving on {args.host} lets other computers in: give a token (--token-file FILE, --token, or "
                    "KILN_TOKEN). Without one, serve on 127.0.0.1 only.")
    if token is not None and len(token) < 16:
        return fail("the token is too short to keep others out: use at least 16 characters "
                    "(python -c \"import secrets; print(secrets.token_urlsafe(24))\").")
    if args.replicas < 1 or args.gpus_per_replica < 0:
        return fail("--replicas must be at least 1 and --gpus-per-replica at least 0.")
    try:
        from inference.remote.models_offered import ModelsOffered

        offered = ModelsOffered(args.models or ())
    except KilnError as exc:
        return fail(str(exc))
    try:
        import ray
        from ray import serve
    except ImportError:
        return fail(NEEDS_RAY)

    # 2. Ray, the application, and wait
    from importlib.metadata import PackageNotFoundError, version

    from inference.remote.server import build_app

    try:
        kiln_version = version("kiln")
    except PackageNotFoundError:
        kiln_version = "source"
    quiet_libraries()
    address = os.environ.get("RAY_ADDRESS") or None
    ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        serve.start(http_options={"host": args.host, "port": args.port})
        serve.run(build_app(token, offered.refs, kiln_version, args.replicas, args.gpus_per_replica),
                  name="kiln", route_prefix="/")
        shown = "localhost" if is_loopback(args.host) else args.host
        print(f"kiln: serving on http://{shown}:{args.port} with {args.replicas} replica(s); models: "
              f"{', '.join(offered.listing()) or 'those in this computer’s Hugging Face cache'}"
              f"{'; token required' if token else ''}. Ctrl+C stops.", flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("kiln: stopping the server…", file=sys.stderr)
        return EXIT_OK
    finally:
        try:
            serve.shutdown()
        finally:
            ray.shutdown()
