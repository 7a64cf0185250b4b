"""An import-linter contract type Kiln's layering needs: forbidding a *submodule* of an external
package (``PySide6.QtWidgets``), which the built-in ``forbidden`` type cannot name (it sees
external packages only as a whole). ``pyproject.toml`` declares it; ``lint-imports``, run from
the repository root, finds it as ``tests.architecture_contracts``."""

from __future__ import annotations

from importlinter import Contract, ContractCheck, fields, output


class ForbiddenSubmoduleContract(Contract):
    """No module in ``source_modules`` (or below them) imports any of ``forbidden_submodules``
    directly, e.g. ``PySide6.QtWidgets``. (Reaching one through another Kiln module is what the
    layers contracts forbid.)"""

    type_name = "forbidden submodule"
    source_modules = fields.ListField(subfield=fields.ModuleField())
    forbidden_submodules = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        found = []
        for source in self.source_modules:
            modules = {source.name} | graph.find_descendants(source.name)
            for module in sorted(modules):
                for forbidden in self.forbidden_submodules:
                    top = forbidden.split(".")[0]
                    if not graph.direct_import_exists(importer=module, imported=top):
                        continue
                    for detail in graph.get_import_details(importer=module, imported=top):
                        line = detail["line_contents"]
                        if f"{forbidden} " in line + " " or f"{forbidden}." in line:
                            found.append((module, detail["line_number"], line))
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, line_number, line in check.metadata["found"]:
            output.print_error(f"{module} imports what it may not (l.{line_number}): {line}", bold=False)
            output.new_line()
