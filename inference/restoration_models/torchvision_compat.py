"""Lets ``import torchvision`` succeed when its compiled operators do not match the installed torch.

spandrel imports torchvision (LaMa uses its pure-Python transforms). Where torchvision's compiled
library cannot load — PyPI's torchvision 0.28 is a CUDA build, and with the CPU build of torch its
``_C`` library fails to open — torchvision's own import stops at its first fake-kernel registration
with ``operator torchvision::nms does not exist``, and every library that imports it (transformers,
peft) fails with it. Kiln's models use none of those operators (detection boxes, RoI pooling).

``install()`` puts a finder in front of the import system. The first time torchvision is imported it
tries to open the compiled library exactly as torchvision does; only when that fails does it declare
the two operator schemas torchvision registers fakes for, so the pure-Python parts import. With a
matching torchvision (the usual case) it declares nothing. Calling an operator that needs the
compiled code still raises torchvision's own clear error.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from pathlib import Path

# The operators whose fake kernels torchvision registers at import time (torchvision/_meta_registrations.py)
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_state = {"declared": None, "library": None}


def declared_schemas() -> bool | None:
    """True when the schemas were declared (compiled operators missing), False when torchvision's
    compiled library loaded, None when torchvision has not been imported through the finder."""
    return _state["declared"]


def compiled_ops_load(package_dir: Path) -> bool:
    """Whether torchvision's compiled library in ``package_dir`` opens with this torch."""
    import torch

    libraries = sorted(package_dir.glob("_C*.so")) + sorted(package_dir.glob("_C*.pyd"))
    if not libraries:
        return False
    try:
        torch.ops.load_library(str(libraries[0]))
    except (OSError, RuntimeError):
        return False
    return True


def declare_missing_ops() -> None:
    """Declare torchvision's operator schemas (no kernels), once, unless they exist already."""
    import torch

    if _state["library"] is not None:
        return
    try:
        torch.ops.torchvision.nms  # noqa: B018 - exists when the compiled library is loaded
        return
    except (AttributeError, RuntimeError):
        pass
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        library.define(schema)
    _state["library"] = library  # kept alive: the schemas go away with the Library object


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != "torchvision":
            return None
        sys.meta_path.remove(self)  # once is enough; find the real package without us
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not spec.submodule_search_locations:
            return None
        package_dir = Path(next(iter(spec.submodule_search_locations)))
        loads = compiled_ops_load(package_dir)
        if not loads:
            declare_missing_ops()
        _state["declared"] = not loads
        return spec


def install() -> None:
    """Put the finder in front (cheap: nothing is imported until torchvision is). Idempotent."""
    if "torchvision" in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())
