"""The build hook: compile the translations (``gradscope/i18n/locales/*/LC_MESSAGES/gradscope.po``) to ``.mo`` files.

hatchling runs it for every wheel, ``pip install .`` and ``pip install -e .`` alike. A regular wheel gets
the ``.mo`` files compiled into a temporary folder and added to the wheel (they are never committed:
``.gitignore`` has them); an editable install reads the package from the source tree, so there the
``.mo`` files are written beside their ``.po`` files. The compiler is gradscope's own
(``gradscope/i18n/catalog.py``, standard library only, loaded by its path because gradscope is not
importable while it is being built): no GNU gettext needed.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE_LOCALES = "gradscope/i18n/locales"
DOMAIN = "gradscope"


def load_catalog_module(root: Path) -> Any:
    """``gradscope/i18n/catalog.py`` as a module of its own, without importing gradscope."""
    path = root / "gradscope" / "i18n" / "catalog.py"
    spec = importlib.util.spec_from_file_location("_gradscope_i18n_catalog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def compile_catalogs(root: Path, target: Path) -> list[Path]:
    """Compile every catalog under ``root``'s locales into ``target`` (same layout); the ``.mo`` paths written."""
    catalog = load_catalog_module(root)
    source = root / PACKAGE_LOCALES
    written = []
    for po in catalog.po_files(source, DOMAIN):
        mo = target / po.relative_to(source).with_suffix(".mo")
        catalog.compile_po_file(po, mo)
        written.append(mo)
    return written


class CustomBuildHook(BuildHookInterface):
    """Compiles the catalogs; hatchling finds it through ``[tool.hatch.build.targets.wheel.hooks.custom]``."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if version == "editable":
            compile_catalogs(root, root / PACKAGE_LOCALES)
            return
        self._temporary = Path(tempfile.mkdtemp(prefix="gradscope-locales-"))
        for mo in compile_catalogs(root, self._temporary):
            build_data["force_include"][str(mo)] = f"{PACKAGE_LOCALES}/{mo.relative_to(self._temporary).as_posix()}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        temporary = getattr(self, "_temporary", None)
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
