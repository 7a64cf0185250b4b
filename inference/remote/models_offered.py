"""Which models a Kiln server runs: those it was started with (diffusion models, and restoration
models for upscale, faces and fill), and hub models in its own cache.

A client names a model by the reference the server was started with, by its short name (a folder
or file by its name, as ``model_display_name`` shows it; a path on the client whose last part is
such a name means the server's model of that name), or by a hub id the server has downloaded.
Anything else — above all a path on the server's disk it was not given — is refused with the list
of what it has, so a client can never make the server open a file of its choosing.
"""

from __future__ import annotations

import re
from pathlib import Path

from inference.core.errors import KilnError, ModelError

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelsOffered:
    def __init__(self, refs: list[str] | tuple[str, ...] = ()):
        from inference.models.model_ref import model_display_name, resolve_model_ref

        self.refs: list[str] = []
        for ref in refs:
            try:
                self.refs.append(resolve_model_ref(ref).value)  # refused at start, with the reason
            except KilnError:
                if not _restoration_model(ref):  # an upscaler, face or fill model (.pth) is offered too
                    raise
                self.refs.append(str(Path(ref).expanduser()))
        self.names = {model_display_name(ref): ref for ref in self.refs}

    def listing(self) -> list[str]:
        """What a client may ask for, as it would name them."""
        return sorted(self.names)

    def resolve(self, asked: str) -> str:
        """The server-side reference for the client's ``asked``, or ModelError naming what there is."""
        asked = (asked or "").strip()
        if asked in self.refs:
            return asked
        if asked in self.names:
            return self.names[asked]
        if Path(asked).name in self.names:  # the client's copy of a model the server has: the server's own
            return self.names[Path(asked).name]
        if _REPO_ID.match(asked) and not Path(asked).exists() and _downloaded(asked):
            return asked
        there = ", ".join(self.listing()) or "none (start it with --models, or download hub models on it)"
        raise ModelError(f"the server has no model '{asked}'; it has: {there}.")


def _restoration_model(ref: str) -> bool:
    from inference.restoration_models.inspection import inspect_files

    return Path(ref).expanduser().is_file() and inspect_files([str(Path(ref).expanduser())], False)[0].ok


def _downloaded(repo_id: str) -> bool:
    from inference.models.hub_cache import is_downloaded

    try:
        return is_downloaded(repo_id)
    except (KilnError, OSError, ValueError):
        return False
